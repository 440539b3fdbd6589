"""Settings: dev defaults work, prod refuses every dev/placeholder secret, bad keys named."""

from __future__ import annotations

import pytest
from auth_broker.config import Settings
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError

REAL = {
    "environment": "prod",
    "admin_api_keys": SecretStr("k-" + "a" * 30),
    "service_credentials": SecretStr("catalog-sync:" + "s" * 30),
    "token_encryption_keys": SecretStr(Fernet.generate_key().decode()),
    "tiktok_app_secret": SecretStr("x" * 32),
}


def test_dev_defaults_load() -> None:
    s = Settings()
    assert s.admin_keys() == ["dev-admin-key"]
    assert s.service_credential_map() == {"dev-service-credential": "dev"}
    assert len(s.fernet_keys()) == 1


def test_prod_with_real_secrets_loads() -> None:
    s = Settings(**REAL)  # type: ignore[arg-type]
    assert s.service_credential_map() == {"s" * 30: "catalog-sync"}


@pytest.mark.parametrize(
    "field", ["admin_api_keys", "service_credentials", "token_encryption_keys", "tiktok_app_secret"]
)
def test_prod_refuses_dev_defaults(field: str) -> None:
    values = dict(REAL)
    del values[field]
    with pytest.raises(ValidationError, match=f"TTS_{field.upper()}"):
        Settings(**values)  # type: ignore[arg-type]


def test_prod_refuses_placeholder() -> None:
    values = dict(REAL, admin_api_keys=SecretStr("change-me"))
    with pytest.raises(ValidationError, match="TTS_ADMIN_API_KEYS"):
        Settings(**values)  # type: ignore[arg-type]


def test_bad_fernet_key_is_named_not_echoed() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(
            token_encryption_keys=SecretStr(Fernet.generate_key().decode() + ",not-a-key-value")
        )
    text = str(info.value)
    assert "key #2" in text
    assert "not-a-key-value" not in text


def test_service_credentials_need_names() -> None:
    with pytest.raises(ValidationError, match="name:secret"):
        Settings(service_credentials=SecretStr("just-a-secret"))


def test_key_list_order_is_kept_for_rotation() -> None:
    k1, k2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    s = Settings(token_encryption_keys=SecretStr(f"{k1}, {k2}"))
    assert s.fernet_keys() == [k1, k2]

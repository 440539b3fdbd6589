"""auth-broker settings (env prefix `TTS_`).

Secrets are `SecretStr`. The defaults are public dev values that match the
sandbox's dev app; `environment=prod` refuses every one of them at start-up.
"""

from __future__ import annotations

from typing import Self

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator, model_validator
from tts_common.settings import PLACEHOLDER, ServiceSettings

# A fixed, published Fernet key so a dev database survives restarts. Never valid in prod.
DEV_TOKEN_KEY = "ZGV2LW9ubHktdG9rZW4ta2V5LWRvLW5vdC11c2UtISE="
DEV_ADMIN_KEY = "dev-admin-key"
DEV_SERVICE_CREDENTIAL = "dev:dev-service-credential"
# The sandbox's dev app (services/tiktok-sandbox settings.py).
SANDBOX_APP_KEY = "6a7sbx0dev1"
SANDBOX_APP_SECRET = "sandbox-dev-app-secret-0123456789abcdef"
SANDBOX_SERVICE_ID = "7190000000000000001"
SANDBOX_URL = "http://127.0.0.1:8180"


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


class Settings(ServiceSettings):
    http_port: int = Field(default=8101, ge=1, le=65535)
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:55432/auth_broker"

    # Comma-separated admin API keys (`Authorization: Bearer <key>` or `X-API-Key`).
    admin_api_keys: SecretStr = SecretStr(DEV_ADMIN_KEY)
    # Comma-separated `name:secret` pairs that may lease tokens (internal API).
    service_credentials: SecretStr = SecretStr(DEV_SERVICE_CREDENTIAL)
    # Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
    token_encryption_keys: SecretStr = SecretStr(DEV_TOKEN_KEY)

    # The TikTok app (Partner Center); defaults are the sandbox's dev app.
    tiktok_app_key: str = SANDBOX_APP_KEY
    tiktok_app_secret: SecretStr = SecretStr(SANDBOX_APP_SECRET)
    tiktok_service_id: str = SANDBOX_SERVICE_ID
    # Hosts: the defaults point at the local sandbox; production sets the real hosts.
    tiktok_open_api_url: str = SANDBOX_URL
    tiktok_auth_url: str = SANDBOX_URL
    tiktok_us_authorize_url: str = SANDBOX_URL
    tiktok_global_authorize_url: str = SANDBOX_URL

    # When set, the broker subscribes every newly authorized shop's SELLER_DEAUTHORIZATION and
    # UPCOMING_AUTHORIZATION_EXPIRATION webhooks to this address (its /v1/webhooks/tiktok URL).
    # Leave unset when the address is configured in Partner Center instead.
    tiktok_webhook_address: str | None = Field(default=None, max_length=255)

    oauth_state_ttl_seconds: int = Field(default=900, ge=10, le=86400)
    # A lease always hands out a token valid for at least this long (else it refreshes).
    lease_min_validity_seconds: int = Field(default=300, ge=0)
    # The background refresher renews this long before expiry, plus up to `jitter`.
    refresh_margin_seconds: int = Field(default=6 * 3600, ge=0)
    refresh_jitter_seconds: int = Field(default=600, ge=0)
    refresher_interval_seconds: float = Field(default=60.0, gt=0)
    refresher_enabled: bool = True

    @field_validator("token_encryption_keys")
    @classmethod
    def _fernet_keys(cls, v: SecretStr) -> SecretStr:
        keys = _split(v.get_secret_value())
        if not keys:
            raise ValueError("at least one Fernet key is required")
        for i, key in enumerate(keys):
            try:
                Fernet(key)
            except (ValueError, TypeError):
                # Never echo the key itself.
                raise ValueError(
                    f"key #{i + 1} is not a valid Fernet key (32 url-safe base64 bytes)"
                ) from None
        return v

    @field_validator("service_credentials")
    @classmethod
    def _credentials(cls, v: SecretStr) -> SecretStr:
        for entry in _split(v.get_secret_value()):
            name, sep, secret = entry.partition(":")
            if not sep or not name or not secret:
                raise ValueError("each entry must be name:secret (comma-separated)")
        return v

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_prod(self) -> Self:
        if self.environment != "prod":
            return self
        dev_values = {
            PLACEHOLDER,
            DEV_ADMIN_KEY,
            DEV_TOKEN_KEY,
            SANDBOX_APP_SECRET,
            "dev-service-credential",
        }
        checks: dict[str, list[str]] = {
            "admin_api_keys": self.admin_keys(),
            "service_credentials": list(self.service_credential_map()),
            "token_encryption_keys": self.fernet_keys(),
            "tiktok_app_secret": [self.tiktok_app_secret.get_secret_value()],
        }
        for name, values in checks.items():
            if not values or any(not v or v in dev_values for v in values):
                raise ValueError(f"TTS_{name.upper()} must be set to a real secret in prod")
        return self

    def admin_keys(self) -> list[str]:
        return _split(self.admin_api_keys.get_secret_value())

    def service_credential_map(self) -> dict[str, str]:
        """secret -> service name."""
        out: dict[str, str] = {}
        for entry in _split(self.service_credentials.get_secret_value()):
            name, _, secret = entry.partition(":")
            out[secret] = name
        return out

    def fernet_keys(self) -> list[str]:
        return _split(self.token_encryption_keys.get_secret_value())

    def secret_values(self) -> list[str]:
        """Every secret value, for the log scrubber."""
        return [
            *self.admin_keys(),
            *self.service_credential_map(),
            *self.fernet_keys(),
            self.tiktok_app_secret.get_secret_value(),
        ]

"""How TikTok's and the auth-broker's failures are answered over HTTP, and the settings that
point catalog-sync at them (dev defaults refused in prod)."""

from __future__ import annotations

import pytest
from catalog_sync.config import Settings
from catalog_sync.tiktok import translate
from pydantic import SecretStr
from pydantic import ValidationError as SettingsError
from tiktok_shop import (
    AuthorizationExpiredError,
    ConnectionUnavailableError,
    CredentialsError,
    InvalidRequestError,
    NetworkError,
    RateLimitedError,
    ScopeError,
    ServerError,
    TikTokError,
    TokenInvalidError,
    TokenLeaseError,
    ValidationError,
)

CONN = "6f1f6a52-8a7e-4a43-9b1d-1b1e4d0f3c11"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ConnectionUnavailableError("connection x is unavailable: revoked"), 409,
         "connection_unavailable"),
        (TokenLeaseError("no such connection", http_status=404), 409, "connection_unknown"),
        (TokenLeaseError("lease failed (ConnectError)", retriable=True), 503,
         "auth_broker_unavailable"),
        (TokenLeaseError("HTTP 401", http_status=401), 502, "auth_broker_refused"),
        (AuthorizationExpiredError("authorization expired", code=105001), 409,
         "connection_refused_by_tiktok"),
        (TokenInvalidError("x-tts-access-token is invalid", code=36009004), 409,
         "connection_refused_by_tiktok"),
        (RateLimitedError("too many", code=36009002), 503, "tiktok_unavailable"),
        (ServerError("internal", code=36009003), 503, "tiktok_unavailable"),
        (NetworkError("reset", sent=True), 503, "tiktok_unavailable"),
        (ServerError("answer does not fit", retriable=False), 502, "tiktok_error"),
        (ScopeError("scope", code=105005), 502, "tiktok_scope_missing"),
        (CredentialsError("Invalid app_key", code=36009004), 502, "tiktok_credentials_refused"),
        (InvalidRequestError("param is invalid", code=36009004), 502, "tiktok_error"),
        (ValidationError("Category does not exist.", code=12052023), 404, "category_not_found"),
        (ValidationError("Category is not final category.", code=12052024), 400,
         "category_not_leaf"),
    ],
)  # fmt: skip
def test_each_failure_has_its_answer(error: TikTokError, status: int, code: str) -> None:
    answer = translate(error, CONN, what="Get Attributes", category_id="604468")
    assert (answer.status_code, answer.code) == (status, code)
    assert answer.status_code != 500 and answer.detail


def test_category_codes_only_name_a_category_when_there_is_one() -> None:
    answer = translate(ValidationError("Category does not exist.", code=12052023), CONN, what="x")
    assert answer.status_code == 502


def test_tiktok_text_is_kept_in_the_detail() -> None:
    error = ServerError("internal error", code=36009003, request_id="2024abc")
    detail = translate(error, CONN, what="Get Categories").detail
    assert "Get Categories" in detail and "36009003" in detail and "2024abc" in detail


def test_dev_credentials_are_refused_in_prod() -> None:
    real = {"service_credential": SecretStr("a-real-credential"), "tiktok_app_secret": "s3cret"}
    assert Settings(environment="prod", **real).tiktok_app_key  # type: ignore[arg-type]
    for name in ("service_credential", "tiktok_app_secret"):
        values = {k: v for k, v in real.items() if k != name}
        with pytest.raises(SettingsError) as refused:
            Settings(environment="prod", **values)  # type: ignore[arg-type]
        assert f"TTS_{name.upper()}" in str(refused.value)
    dev = Settings(environment="dev")
    assert dev.service_credential.get_secret_value() == "dev-service-credential"
    assert dev.auth_broker_url == "http://127.0.0.1:8101"
    assert dev.tiktok_open_api_url == "http://127.0.0.1:8180"
    assert dev.taxonomy_ttl_seconds == 24 * 3600

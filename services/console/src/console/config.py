"""The console's settings (`TTS_` prefix): where the services are and what it presents to them.

The console owns no business data and no database: `database_url` and `kafka_bootstrap`
(inherited from `ServiceSettings`) are unused.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from tts_common.settings import ServiceSettings

from console.passwords import parse_users


class Settings(ServiceSettings):
    http_port: int = Field(default=8105, ge=1, le=65535)
    auth_broker_url: str = "http://127.0.0.1:8101"
    catalog_sync_url: str = "http://127.0.0.1:8102"
    order_ingest_url: str = "http://127.0.0.1:8103"
    shipment_notifier_url: str = "http://127.0.0.1:8104"
    # The API key presented to catalog-sync, order-ingest and shipment-notifier
    # (tts_common.api_auth; `dev-api-key` is the published dev key).
    services_api_key: SecretStr = SecretStr("dev-api-key")
    # The auth-broker's admin key (its TTS_ADMIN_API_KEYS; `dev-admin-key` in dev).
    broker_admin_key: SecretStr = SecretStr("dev-admin-key")
    # Console users, comma-separated `name:scrypt$...` entries (`console hash-password NAME`).
    console_users: SecretStr = SecretStr("")
    # Signs the session cookie. Empty in dev/test: a random secret per process (sessions end
    # at a restart); prod refuses to start without one.
    session_secret: SecretStr = SecretStr("")
    session_max_age_seconds: int = Field(default=8 * 3600, ge=60, le=30 * 24 * 3600)
    # The cookie's Secure flag: `auto` sets it in prod (behind TLS), not in dev/test.
    cookie_secure: Literal["auto", "true", "false"] = "auto"
    # Each backend call gives up after this long and the page shows the service as down.
    backend_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # Uploads (product files, mapping CSVs) pass through to catalog-sync.
    max_upload_bytes: int = Field(default=4 * 1024**3, ge=1024)
    # Failed sign-ins a client address may make in a row (console.ratelimit); then one more
    # per TTS_SIGN_IN_FAILURE_WINDOW_SECONDS / this many seconds. Successes use none.
    sign_in_max_failures: int = Field(default=5, ge=1, le=1000)
    # The window in which an address's (and everybody's) failure allowance refills.
    sign_in_failure_window_seconds: float = Field(default=60.0, gt=0, le=86400)
    # Failed sign-ins of all addresses together per window (bounds a caller rotating addresses).
    sign_in_max_failures_all: int = Field(default=100, ge=1, le=100000)

    @field_validator(
        "auth_broker_url", "catalog_sync_url", "order_ingest_url", "shipment_notifier_url"
    )
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not (v.startswith("http://") or v.startswith("https://")):
            raise ValueError("must be an http(s) URL, e.g. http://127.0.0.1:8102")
        return v.rstrip("/")

    @field_validator("console_users")
    @classmethod
    def _users(cls, v: SecretStr) -> SecretStr:
        parse_users(v.get_secret_value())  # raises ValueError naming the bad entry
        return v

    @field_validator("session_secret")
    @classmethod
    def _session_secret(cls, v: SecretStr, info: ValidationInfo) -> SecretStr:
        if info.data.get("environment") == "prod" and len(v.get_secret_value()) < 32:
            raise ValueError("must be set to at least 32 random characters in prod")
        return v

    @model_validator(mode="after")
    def _prod_secrets(self) -> Settings:
        if self.environment == "prod":
            self.refuse_placeholder("services_api_key", self.services_api_key)
        return self

    @property
    def secure_cookie(self) -> bool:
        if self.cookie_secure == "auto":
            return self.environment == "prod"
        return self.cookie_secure == "true"

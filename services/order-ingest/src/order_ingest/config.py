"""order-ingest settings (env prefix `TTS_`).

Secrets are `SecretStr`. The TikTok and auth-broker defaults are the public dev values of the
local stack (the sandbox's dev app, the broker's dev service credential); `environment=prod`
refuses them at start-up, as the auth-broker does.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator
from tts_common.settings import PLACEHOLDER, ServiceSettings

from order_ingest.push.config import PushSettings
from order_ingest.retention import RetentionSettings

# The auth-broker's dev service credential (auth-broker's TTS_SERVICE_CREDENTIALS default).
DEV_SERVICE_CREDENTIAL = "dev-service-credential"
# The sandbox's dev app (services/tiktok-sandbox settings.py); never valid in prod.
SANDBOX_APP_KEY = "6a7sbx0dev1"
SANDBOX_APP_SECRET = "sandbox-dev-app-secret-0123456789abcdef"
SANDBOX_URL = "http://127.0.0.1:8180"


class Settings(ServiceSettings, PushSettings, RetentionSettings):  # TTS_PUSH_*, TTS_PII_*
    http_port: int = Field(default=8103, ge=1, le=65535)
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:55432/order_ingest"

    # The auth-broker leases each connection's TikTok access token (docs/auth-broker.md).
    auth_broker_url: str = "http://127.0.0.1:8101"
    service_credential: SecretStr = SecretStr(DEV_SERVICE_CREDENTIAL)
    # The TikTok app (Partner Center) and Open API host; defaults: the local sandbox's dev app.
    # The app secret also verifies TikTok's webhook signatures.
    tiktok_open_api_url: str = SANDBOX_URL
    tiktok_app_key: str = SANDBOX_APP_KEY
    tiktok_app_secret: SecretStr = SecretStr(SANDBOX_APP_SECRET)

    # Polling (docs/orders.md, "Polling and webhooks"): each incremental pass starts this far
    # before the last pass's highest update_time, so a change stamped late is still seen.
    poll_overlap_seconds: int = Field(default=300, ge=0)
    poll_page_size: int = Field(default=100, ge=1, le=100)  # "Get Order List 202309": ≤ 100
    # Imports polled at once (several shops and markets side by side).
    poll_concurrency: int = Field(default=4, ge=1, le=64)
    # How often idle workers look for due runs, webhooks and hold ends.
    worker_idle_seconds: float = Field(default=0.5, gt=0)
    # A running pass silent this long (its process died) is taken over from its last page.
    run_stale_seconds: float = Field(default=60.0, ge=1)
    # Webhooks fetched per "Get Order Detail 202309" call batch (TikTok allows ≤ 50 ids).
    webhook_batch: int = Field(default=50, ge=1, le=50)

    @model_validator(mode="after")
    def _refuse_dev_secrets_in_prod(self) -> Self:
        if self.environment != "prod":
            return self
        dev_values = {"", PLACEHOLDER, DEV_SERVICE_CREDENTIAL, SANDBOX_APP_SECRET}
        for name in ("service_credential", "tiktok_app_secret"):
            value: SecretStr = getattr(self, name)
            if value.get_secret_value() in dev_values:
                raise ValueError(f"TTS_{name.upper()} must be set to a real secret in prod")
        return self

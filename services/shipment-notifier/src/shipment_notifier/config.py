"""shipment-notifier settings (env prefix `TTS_`).

Secrets are `SecretStr`. The TikTok and auth-broker defaults are the public dev values of the
local stack (the sandbox's dev app, the broker's dev service credential); `environment=prod`
refuses them at start-up, as the auth-broker does.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator
from tts_common.settings import PLACEHOLDER, ServiceSettings

# The auth-broker's dev service credential (auth-broker's TTS_SERVICE_CREDENTIALS default).
DEV_SERVICE_CREDENTIAL = "dev-service-credential"
# The sandbox's dev app (services/tiktok-sandbox settings.py); never valid in prod.
SANDBOX_APP_KEY = "6a7sbx0dev1"
SANDBOX_APP_SECRET = "sandbox-dev-app-secret-0123456789abcdef"
SANDBOX_URL = "http://127.0.0.1:8180"


class Settings(ServiceSettings):
    http_port: int = Field(default=8104, ge=1, le=65535)
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:55432/shipment_notifier"
    # Bulk shipment uploads (POST /v1/shipments:upload, NDJSON or CSV) may be this large.
    max_upload_bytes: int = Field(default=64 * 1024**2, ge=1024)

    # The sender (docs/shipments.md, "Sending"): shipments in flight at once, how often an idle
    # sender looks for due shipments, after how long a claimed shipment whose process died is
    # taken over (and reconciled first), how long a failed attempt waits (doubling, capped).
    send_concurrency: int = Field(default=16, ge=1, le=200)
    send_poll_seconds: float = Field(default=0.05, gt=0)
    claim_stale_seconds: float = Field(default=30.0, ge=1)
    retry_base_seconds: float = Field(default=1.0, gt=0)
    retry_cap_seconds: float = Field(default=300.0, gt=0)
    max_attempts: int = Field(default=20, ge=1)
    # Ship calls ready within this window for one shop go out as one batch (batching.py).
    ship_batch_window_seconds: float = Field(default=0.02, ge=0)
    # A deferred shipment whose hold should have ended while TikTok still shows the order
    # ON_HOLD looks again this much later.
    hold_recheck_seconds: float = Field(default=60.0, gt=0)
    # TikTok's shipping providers per delivery option are cached this long (in memory).
    providers_ttl_seconds: float = Field(default=3600.0, ge=0)

    # The auth-broker leases each connection's TikTok access token (docs/auth-broker.md).
    auth_broker_url: str = "http://127.0.0.1:8101"
    service_credential: SecretStr = SecretStr(DEV_SERVICE_CREDENTIAL)
    # The TikTok app (Partner Center) and Open API host; defaults: the local sandbox's dev app.
    tiktok_open_api_url: str = SANDBOX_URL
    tiktok_app_key: str = SANDBOX_APP_KEY
    tiktok_app_secret: SecretStr = SecretStr(SANDBOX_APP_SECRET)

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

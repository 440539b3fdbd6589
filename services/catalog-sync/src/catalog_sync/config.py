"""catalog-sync settings (env prefix `TTS_`).

Secrets are `SecretStr`. The TikTok and auth-broker defaults are the public dev values of the
local stack (the sandbox's dev app, the broker's dev service credential); `environment=prod`
refuses them at start-up, as the auth-broker does.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator
from tts_common.settings import PLACEHOLDER, ServiceSettings

# The auth-broker's dev service credential (`dev:dev-service-credential`, auth-broker's
# TTS_SERVICE_CREDENTIALS default): the secret half is what a service presents.
DEV_SERVICE_CREDENTIAL = "dev-service-credential"
# The sandbox's dev app (services/tiktok-sandbox settings.py); never valid in prod.
SANDBOX_APP_KEY = "6a7sbx0dev1"
SANDBOX_APP_SECRET = "sandbox-dev-app-secret-0123456789abcdef"
SANDBOX_URL = "http://127.0.0.1:8180"


class Settings(ServiceSettings):
    http_port: int = Field(default=8102, ge=1, le=65535)
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:55432/catalog_sync"
    # Product uploads (PUT /v1/feeds/{id}/products, /v1/sources/…) may be this large (gzip or
    # not); every other request keeps TTS_MAX_BODY_BYTES.
    max_upload_bytes: int = Field(default=4 * 1024**3, ge=1024)
    # …and may take this long to arrive and to be applied (0: no request timeout): a
    # 1,000,000-row snapshot streams for about 20 s (bench/results/catalog_intake.json).
    upload_body_timeout_seconds: float = Field(default=3600.0, gt=0)
    upload_request_timeout_seconds: float = Field(default=0.0, ge=0)
    # Export runs (docs/feeds.md, "Runs"): products in flight per run, how often an idle
    # executor looks for queued runs, after how long a silent run is taken over (its process
    # died), how often the event-driven mode gathers changed parents.
    run_concurrency: int = Field(default=8, ge=1, le=200)
    run_poll_seconds: float = Field(default=0.2, gt=0)
    run_stale_seconds: float = Field(default=60.0, ge=2)
    event_batch_seconds: float = Field(default=0.2, gt=0)
    image_recheck_seconds: float = Field(default=7 * 86400, ge=0)
    # Download image URLs on loopback or private networks? Unset: yes, except with
    # TTS_ENVIRONMENT=prod (a local stack's image host lives there; a production one must not
    # reach them). Link-local and metadata addresses are refused either way
    # (catalog_sync.netguard, docs/operations.md).
    image_allow_private_hosts: bool | None = None

    @property
    def images_may_use_private_hosts(self) -> bool:
        if self.image_allow_private_hosts is not None:
            return self.image_allow_private_hosts
        return self.environment != "prod"

    # TikTok's review of a created or edited product (docs/feeds.md, "Audit results"): a
    # product still AUDITING with no news for this long is read with "Get Product 202309" (the
    # safety net for a lost webhook); at most `audit_poll_batch` products per pass.
    audit_poll_seconds: float = Field(default=600.0, gt=0)
    audit_poll_batch: int = Field(default=50, ge=1, le=1000)
    # This service's public `POST /v1/webhooks/tiktok` URL. When set, each run subscribes its
    # shop to PRODUCT_STATUS_CHANGE and PRODUCT_AUDIT_STATUS_CHANGE there ("Update Shop
    # Webhook 202309"); unset, the audit results come from polling only.
    tiktok_webhook_address: str = ""

    # The auth-broker leases each connection's TikTok access token (docs/auth-broker.md);
    # catalog-sync presents this service credential (`Authorization: Bearer ...`).
    auth_broker_url: str = "http://127.0.0.1:8101"
    service_credential: SecretStr = SecretStr(DEV_SERVICE_CREDENTIAL)
    # The TikTok app (Partner Center) and Open API host; defaults: the local sandbox's dev app.
    tiktok_open_api_url: str = SANDBOX_URL
    tiktok_app_key: str = SANDBOX_APP_KEY
    tiktok_app_secret: SecretStr = SecretStr(SANDBOX_APP_SECRET)
    # Calls/s the TikTok client paces each (shop, operation) at: TikTok publishes no number
    # ("Rate limits"), the client halves its pace on a 429 and climbs back. Set it to what the
    # app is granted (the sandbox: SANDBOX_QPS) so runs go at the shop's limit.
    tiktok_qps: float = Field(default=50.0, gt=0)

    # Cached taxonomies (categories, brands, category attributes and rules) older than this
    # are fetched again at their next read (docs/feeds.md, "Taxonomies over HTTP").
    taxonomy_ttl_seconds: int = Field(default=24 * 3600, ge=0)
    # At most this many "Recommend Category 202309" calls per suggestions request.
    suggest_max_recommend_calls: int = Field(default=50, ge=0, le=1000)

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

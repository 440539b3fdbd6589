"""Client configuration: hosts, app credentials, timeouts, pool limits, limiter and retry knobs.

The hosts are configurable so the project's sandbox and the real TikTok hosts are
interchangeable; the defaults are the real production hosts: open-api.tiktokglobalshop.com
("Sign your API request") and auth.tiktok-shops.com for tokens ("Authorization overview").
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

OPEN_API_HOST = "https://open-api.tiktokglobalshop.com"
AUTH_HOST = "https://auth.tiktok-shops.com"
US_AUTHORIZE_HOST = "https://services.us.tiktokshop.com"
GLOBAL_AUTHORIZE_HOST = "https://services.tiktokshop.com"


class TimeoutConfig(BaseModel):
    """httpx timeouts in seconds; `read` bounds how long we wait for TikTok to answer."""

    model_config = ConfigDict(frozen=True)

    connect: float = 5.0
    read: float = 30.0
    write: float = 30.0
    pool: float = 10.0


class PoolConfig(BaseModel):
    """Connection-pool limits of the one shared httpx.AsyncClient."""

    model_config = ConfigDict(frozen=True)

    max_connections: int = 100
    max_keepalive_connections: int = 20
    keepalive_expiry: float = 30.0


class RetryConfig(BaseModel):
    """Capped exponential backoff with full jitter (see retry.py)."""

    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(default=4, ge=1)
    base_delay: float = Field(default=0.2, ge=0)
    max_delay: float = Field(default=5.0, ge=0)


class RateLimitConfig(BaseModel):
    """Adaptive limiter per (shop, operation) (see ratelimit.py)."""

    model_config = ConfigDict(frozen=True)

    # TikTok publishes no number ("Rate limits": QPS is dynamic); 50 QPS per app per API is
    # the one public figure.
    qps: float = Field(default=50.0, gt=0)
    min_qps: float = Field(default=1.0, gt=0)
    # Additive recovery: QPS regained per second without a 429.
    recovery_qps_per_second: float = Field(default=5.0, gt=0)
    # Burst allowance: how many calls may go out back-to-back after an idle period.
    burst: float = Field(default=1.0, ge=1.0)


class ClientConfig(BaseModel):
    """Everything the TikTok Shop client needs; build it once at the composition root."""

    model_config = ConfigDict(frozen=True)

    app_key: str
    app_secret: SecretStr
    service_id: str | None = None
    open_api_base_url: str = OPEN_API_HOST
    auth_base_url: str = AUTH_HOST
    us_authorize_base_url: str = US_AUTHORIZE_HOST
    global_authorize_base_url: str = GLOBAL_AUTHORIZE_HOST
    timeouts: TimeoutConfig = TimeoutConfig()
    pool: PoolConfig = PoolConfig()
    retry: RetryConfig = RetryConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()
    # Call log: request/response headers are only recorded when this is on (always redacted).
    log_headers: bool = False
    user_agent: str = "tts-tiktok-shop/0.1"

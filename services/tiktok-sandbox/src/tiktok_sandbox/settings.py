"""Sandbox settings from `SANDBOX_*` environment variables, with dev defaults.

The defaults are deliberately public, dev-only values: the sandbox is never a
production system, so there is nothing secret about its own app credentials.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any

DEFAULT_APP_KEY = "6a7sbx0dev1"
DEFAULT_APP_SECRET = "sandbox-dev-app-secret-0123456789abcdef"
DEFAULT_SERVICE_ID = "7190000000000000001"
DEFAULT_REDIRECT_URL = "http://127.0.0.1:8101/v1/oauth/callback"


@dataclass(frozen=True)
class Settings:
    app_key: str = DEFAULT_APP_KEY
    app_secret: str = field(default=DEFAULT_APP_SECRET, repr=False)
    service_id: str = DEFAULT_SERVICE_ID
    redirect_url: str = DEFAULT_REDIRECT_URL
    # Token bucket refill rate per (app, shop, operation); the bucket holds one second of it.
    qps: float = 50.0
    # Seconds on the sandbox clock before a PENDING product becomes ACTIVATE/FAILED.
    audit_delay_seconds: float = 5.0
    # A product whose title contains this keyword fails its audit (lets tests reach FAILED).
    audit_fail_keyword: str = "SANDBOX_AUDIT_FAIL"
    # New-shop daily listing cap: creates per shop per UTC day of the sandbox clock
    # (TikTok: 100, then 12019068); 0 = off. Per shop: PUT /sandbox/v1/shops/{id}/listing_limit.
    new_shop_daily_listing_limit: int = 0
    access_token_ttl_seconds: int = 7 * 24 * 3600
    # The real refresh token lives until the authorization ends (often years away).
    refresh_token_ttl_seconds: int = 365 * 24 * 3600
    auth_code_ttl_seconds: int = 30 * 60
    # Webhook retry schedule after a failed delivery (real TikTok: 2 min, 30 min, 3 h, 12 h).
    webhook_retry_delays_seconds: tuple[float, ...] = (120.0, 1800.0, 10800.0, 43200.0)
    webhook_timeout_seconds: float = 5.0
    # Timestamp window of signed requests (documented: 5 min old, 30 s ahead).
    timestamp_max_age_seconds: int = 300
    timestamp_max_ahead_seconds: int = 30

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Read `SANDBOX_<FIELD>` variables (upper-cased field names), then apply overrides."""
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = source.get(f"SANDBOX_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _parse(f.name, raw, getattr(cls(), f.name))
        settings = cls(**values)
        return replace(settings, **overrides) if overrides else settings


def _parse(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            return tuple(float(x) for x in raw.split(",") if x.strip())
    except ValueError as exc:
        raise ValueError(f"SANDBOX_{name.upper()}: cannot parse {raw!r}") from exc
    return raw

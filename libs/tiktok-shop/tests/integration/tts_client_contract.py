"""Contract-test fixtures: the project's sandbox over real HTTP, and a client wired to it.

The client is configured exactly as for the real hosts, only the base URLs differ.
Tokens come from the sandbox's OAuth flow through the client's own `OAuthClient`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr
from tiktok_sandbox.testing import RunningSandbox, run_sandbox
from tiktok_shop import (
    AccessToken,
    ClientConfig,
    MemoryCallLog,
    ShopClient,
    StaticTokenProvider,
    TikTokShopClient,
)
from tiktok_shop.config import RateLimitConfig, RetryConfig, TimeoutConfig


def make_config(sb: RunningSandbox, **overrides: Any) -> ClientConfig:
    values: dict[str, Any] = {
        "app_key": sb.settings.app_key,
        "app_secret": SecretStr(sb.settings.app_secret),
        "service_id": sb.settings.service_id,
        "open_api_base_url": sb.base_url,
        "auth_base_url": sb.base_url,
        "us_authorize_base_url": sb.base_url,
        "global_authorize_base_url": sb.base_url,
        "retry": RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.05),
        "rate_limit": RateLimitConfig(qps=40.0),
        "timeouts": TimeoutConfig(read=5.0),
    }
    values.update(overrides)
    return ClientConfig(**values)


class OAuthTokens(StaticTokenProvider):
    """Test provider: tokens from the sandbox OAuth flow, refreshed with the refresh token."""

    def __init__(self) -> None:
        super().__init__({}, refresher=self._refresh)
        self.refresh_tokens: dict[str, str] = {}
        self.client: TikTokShopClient | None = None

    async def _refresh(self, key: str, expired: AccessToken) -> AccessToken:
        assert self.client is not None
        grant = await self.client.oauth.refresh_token(self.refresh_tokens[key])
        self.refresh_tokens[key] = grant.refresh_token
        return AccessToken(grant.access_token, grant.access_token_expire_in, expired.shop_ciphers)


@dataclass
class Connected:
    sandbox: RunningSandbox
    client: TikTokShopClient
    tokens: OAuthTokens
    log: MemoryCallLog
    shop: ShopClient
    shop_id: str
    region: str


async def connect(
    sb: RunningSandbox,
    region: str = "US",
    *,
    scopes: list[str] | None = None,
    key: str | None = None,
    **config_overrides: Any,
) -> Connected:
    """Authorize the region's seller through the client's OAuth and bind its shop.

    The seller grants every scope, or only `scopes`; the token key is `key`, by default
    `conn-<region>`.
    """
    tokens = OAuthTokens()
    log = MemoryCallLog()
    client = TikTokShopClient(make_config(sb, **config_overrides), tokens, call_log=log)
    tokens.client = client
    body: dict[str, Any] = {"region": region}
    if scopes is not None:
        body["scopes"] = scopes
    auth = sb.admin("POST", "/sandbox/v1/authorizations", body)
    assert auth["code"] == 0, auth
    grant = await client.oauth.get_token(auth["data"]["code"])
    if scopes is not None:
        assert sorted(grant.granted_scopes) == sorted(scopes)
    key = key or f"conn-{region}"
    tokens.refresh_tokens[key] = grant.refresh_token
    tokens.set(key, AccessToken(grant.access_token, grant.access_token_expire_in))
    shops = await client.shop(key).authorization.get_authorized_shops()
    ciphers = {s.id: s.cipher for s in shops.shops}
    tokens.set(key, AccessToken(grant.access_token, grant.access_token_expire_in, ciphers))
    shop_id = sb.shop_id(region)
    return Connected(sb, client, tokens, log, client.shop(key, shop_id), shop_id, region)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with run_sandbox(audit_delay_seconds=1.0) as sb:
        yield sb


@pytest.fixture
async def us(sandbox: RunningSandbox) -> AsyncIterator[Connected]:
    conn = await connect(sandbox, "US")
    try:
        yield conn
    finally:
        sandbox.admin("DELETE", "/sandbox/v1/faults")
        await conn.client.aclose()


@pytest.fixture
async def uk(sandbox: RunningSandbox) -> AsyncIterator[Connected]:
    conn = await connect(sandbox, "UK")
    try:
        yield conn
    finally:
        sandbox.admin("DELETE", "/sandbox/v1/faults")
        await conn.client.aclose()

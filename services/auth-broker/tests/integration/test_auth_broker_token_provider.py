"""The client library's lease-backed token provider against a real broker and the sandbox.

A `TikTokShopClient` whose tokens come from the broker (`tiktok_shop.lease`) calls the
sandbox; the provider's cache and coalescing cost the broker one lease; the broker's
refusals arrive as the library's errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from auth_broker.config import Settings
from auth_broker.testing import (
    MIGRATIONS,
    RunningBroker,
    approve_in_sandbox,
    free_port,
    run_broker,
    sandbox_settings,
)
from pydantic import SecretStr
from tiktok_sandbox.testing import RunningSandbox, run_sandbox
from tiktok_shop import ClientConfig, TikTokShopClient
from tiktok_shop.lease import BrokerLeaseTokenProvider, ConnectionUnavailableError, TokenLeaseError
from tts_common.migrate import migrate_async

pytestmark = pytest.mark.integration


@dataclass
class Env:
    sandbox: RunningSandbox
    broker: RunningBroker
    http: httpx.AsyncClient

    async def connect(self, market: str) -> str:
        r = await self.http.post(
            self.broker.base_url + "/v1/connections",
            json={"name": market, "market": market},
            headers=self.broker.admin,
        )
        created = r.json()
        target = await approve_in_sandbox(self.http, created["authorize_url"], market)
        assert (await self.http.get(target)).status_code == 200
        return str(created["id"])

    def client_config(self) -> ClientConfig:
        s = self.sandbox.settings
        return ClientConfig(
            app_key=s.app_key,
            app_secret=s.app_secret,  # type: ignore[arg-type]
            open_api_base_url=self.sandbox.base_url,
            auth_base_url=self.sandbox.base_url,
        )


@pytest.fixture
async def env(fresh_database: str, kafka_bootstrap: str) -> AsyncIterator[Env]:
    await migrate_async(fresh_database, MIGRATIONS, "auth-broker")
    port = free_port()
    with run_sandbox(redirect_url=f"http://127.0.0.1:{port}/v1/oauth/callback") as sb:
        settings = Settings(
            **sandbox_settings(
                sb, fresh_database, kafka_bootstrap, http_port=port, refresher_enabled=False
            )
        )
        with run_broker(settings) as broker:
            async with httpx.AsyncClient(timeout=30) as http:
                yield Env(sb, broker, http)


def _provider(env: Env, credential: str | None = None) -> BrokerLeaseTokenProvider:
    secret = credential or next(iter(env.broker.settings.service_credential_map()))
    return BrokerLeaseTokenProvider(env.broker.base_url, SecretStr(secret), env.http)


async def test_client_calls_tiktok_with_leased_tokens(env: Env) -> None:
    us, uk = await env.connect("US"), await env.connect("UK")
    tokens = _provider(env)
    async with TikTokShopClient(env.client_config(), tokens) as client:
        for conn_id, region in ((us, "US"), (uk, "GB")):
            shops = await client.shop(conn_id).authorization.get_authorized_shops()
            assert [s.region for s in shops.shops] == [region]
    # Cached and coalesced: 20 concurrent gets for one key cost no further lease.
    before = await _lease_count(env)
    got = await asyncio.gather(*(tokens.get(us) for _ in range(20)))
    assert len({t.access_token for t in got}) == 1
    assert await _lease_count(env) == before


async def test_broker_refusals_become_library_errors(env: Env) -> None:
    conn_id = await env.connect("UK")
    with pytest.raises(TokenLeaseError) as refused:
        await _provider(env, "not-a-credential").get(conn_id)
    assert refused.value.http_status == 401 and not refused.value.retriable
    await env.http.delete(
        f"{env.broker.base_url}/v1/connections/{conn_id}", headers=env.broker.admin
    )
    with pytest.raises(ConnectionUnavailableError) as info:
        await _provider(env).get(conn_id)
    assert "revoked" in str(info.value)


async def _lease_count(env: Env) -> float:
    text = (await env.http.get(env.broker.base_url + "/metrics")).text
    for line in text.splitlines():
        if line.startswith('auth_broker_leases_total{outcome="ok"}'):
            return float(line.split()[-1])
    return 0.0


async def test_token_tiktok_ended_early_is_refreshed_once_through_the_broker(env: Env) -> None:
    """TikTok says "expired" while the broker still trusts the token: one refresh, call repeated."""
    conn_id = await env.connect("US")
    tokens = _provider(env)
    async with TikTokShopClient(env.client_config(), tokens) as client:
        shop = client.shop(conn_id)
        await shop.authorization.get_authorized_shops()
        first = await tokens.get(conn_id)
        # Eight days on TikTok's clock only: the 7-day access token is over there, while the
        # broker (real clock) still holds it valid.
        r = await env.http.post(
            env.sandbox.base_url + "/sandbox/v1/clock", json={"advance_seconds": 8 * 86400}
        )
        assert r.status_code == 200
        refreshes_before = await _sandbox_refreshes(env)
        shops = await shop.authorization.get_authorized_shops()
        assert [s.region for s in shops.shops] == ["US"]
        second = await tokens.get(conn_id)
    assert second.access_token != first.access_token
    assert await _sandbox_refreshes(env) == refreshes_before + 1


async def _sandbox_refreshes(env: Env) -> int:
    stats = (await env.http.get(env.sandbox.base_url + "/sandbox/v1/stats")).json()
    return int(stats["data"]["token_refreshes"])

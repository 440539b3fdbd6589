"""An OAuth callback in flight while the connection is revoked (real PostgreSQL and sandbox).

The callback consumes its `state`, then talks to TikTok without holding a lock. If an
operator deletes the connection (or the seller deauthorizes it) in that window, the
revocation must win: the grant that comes back afterwards is dropped, not stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from auth_broker.clients.tiktok_client import LibraryTikTokAuth, config_from_settings
from auth_broker.config import Settings
from auth_broker.context import BrokerContext
from auth_broker.crypto import TokenCipher
from auth_broker.errors import AuthorizationFailed, RevokedDuringAuthorization
from auth_broker.service import ConnectionService
from auth_broker.testing import MIGRATIONS, sandbox_settings
from auth_broker.tiktok import AuthorizedShop, TikTokAuthPort, TokenGrant
from sqlalchemy import text
from tiktok_sandbox.testing import RunningSandbox, run_sandbox
from tts_common.db import create_engine, session_factory
from tts_common.migrate import migrate_async

pytestmark = pytest.mark.integration


class HeldExchange:
    """TikTok port whose code exchange waits until the test lets it answer."""

    def __init__(self, inner: TikTokAuthPort) -> None:
        self.inner = inner
        self.exchanging = asyncio.Event()
        self.release = asyncio.Event()

    def authorize_url(self, market: str, state: str) -> str:
        return self.inner.authorize_url(market, state)

    async def exchange_code(self, auth_code: str) -> TokenGrant:
        self.exchanging.set()
        await self.release.wait()
        return await self.inner.exchange_code(auth_code)

    async def refresh(self, refresh_token: str) -> TokenGrant:
        return await self.inner.refresh(refresh_token)

    async def authorized_shops(self, access_token: str) -> list[AuthorizedShop]:
        return await self.inner.authorized_shops(access_token)

    async def subscribe_webhook(
        self, access_token: str, shop: AuthorizedShop, event_type: str, address: str
    ) -> None:
        await self.inner.subscribe_webhook(access_token, shop, event_type, address)

    async def aclose(self) -> None:
        return None


@dataclass
class Env:
    sandbox: RunningSandbox
    ctx: BrokerContext
    held: HeldExchange


@pytest.fixture
async def env(fresh_database: str, kafka_bootstrap: str) -> AsyncIterator[Env]:
    await migrate_async(fresh_database, MIGRATIONS, "auth-broker")
    with run_sandbox() as sb:
        settings = Settings(**sandbox_settings(sb, fresh_database, kafka_bootstrap))
        port = LibraryTikTokAuth(config_from_settings(settings))
        engine = create_engine(settings.database_url)
        held = HeldExchange(port)
        try:
            ctx = BrokerContext(
                sessions=session_factory(engine),
                cipher=TokenCipher(settings.fernet_keys()),
                tiktok=held,
                settings=settings,
            )
            yield Env(sb, ctx, held)
        finally:
            await engine.dispose()
            await port.aclose()


async def _row(ctx: BrokerContext, conn_id: str) -> tuple[str, object, list[str]]:
    async with ctx.sessions() as s:
        status, access = (
            await s.execute(
                text("SELECT status, access_token_enc FROM connections WHERE id = :id"),
                {"id": conn_id},
            )
        ).one()
        events = (
            await s.execute(
                text("SELECT headers->>'ce_type' FROM outbox WHERE key = :id ORDER BY id"),
                {"id": conn_id},
            )
        ).scalars()
        return str(status), access, list(events)


@pytest.mark.parametrize("reauthorizing", [False, True])
async def test_delete_during_the_callback_wins(env: Env, reauthorizing: bool) -> None:
    service = ConnectionService(env.ctx)
    created = await service.create("shop", "US")
    link = created.authorize_url
    if reauthorizing:
        # An active connection getting a new authorization (e.g. after `expiring`).
        code = env.sandbox.admin("POST", "/sandbox/v1/authorizations", {"region": "US"})
        env.held.release.set()
        await service.complete_authorization(code["data"]["code"], httpx.URL(link).params["state"])
        env.held.release.clear()
        link = (await service.reauthorize(created.id)).authorize_url
    code = env.sandbox.admin("POST", "/sandbox/v1/authorizations", {"region": "US"})["data"]
    callback = asyncio.create_task(
        service.complete_authorization(code["code"], httpx.URL(link).params["state"])
    )
    await asyncio.wait_for(env.held.exchanging.wait(), 10)
    deleted = await service.delete(created.id)
    assert deleted.status == "revoked"
    env.held.release.set()
    with pytest.raises(RevokedDuringAuthorization):
        await callback

    status, access, events = await _row(env.ctx, created.id)
    assert status == "revoked" and access is None
    assert events[-1] == "connection.revoked", events


async def test_reauthorizing_a_revoked_connection_still_connects(env: Env) -> None:
    service = ConnectionService(env.ctx)
    created = await service.create("shop", "UK")
    await service.delete(created.id)
    link = (await service.reauthorize(created.id)).authorize_url
    code = env.sandbox.admin("POST", "/sandbox/v1/authorizations", {"region": "UK"})["data"]
    env.held.release.set()
    result = await service.complete_authorization(code["code"], httpx.URL(link).params["state"])
    assert result.connection.status == "active"
    status, access, events = await _row(env.ctx, created.id)
    assert status == "active" and access is not None
    assert events == ["connection.revoked", "connection.authorized"]


async def test_a_refused_code_after_a_delete_keeps_the_revocation_reason(env: Env) -> None:
    service = ConnectionService(env.ctx)
    created = await service.create("shop", "US")
    state = httpx.URL(created.authorize_url).params["state"]
    callback = asyncio.create_task(service.complete_authorization("US_not-a-real-code", state))
    await asyncio.wait_for(env.held.exchanging.wait(), 10)
    await service.delete(created.id)
    env.held.release.set()
    with pytest.raises(AuthorizationFailed):
        await callback
    conn = await service.get(created.id)
    assert conn.status == "revoked" and conn.status_reason == "deleted by an operator"

"""OAuth callback and refresh edge cases at the service layer (real PostgreSQL and sandbox).

- The callback consumes its `state`, then talks to TikTok without holding a lock. If an
  operator deletes the connection (or the seller deauthorizes it) in that window, the
  revocation must win: the grant that comes back afterwards is dropped, not stored.
- A webhook about an authorization older than the connection's current one (a delivery
  retried for hours while the seller re-authorized) does not touch the new authorization.
- A TikTok error message that echoes the code or refresh token it was sent never reaches
  the stored reason, the API or the callback page.
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
from auth_broker.errors import AuthorizationFailed, NotLeasable, RevokedDuringAuthorization
from auth_broker.leasing import TokenLeaser
from auth_broker.service import ConnectionService
from auth_broker.testing import MIGRATIONS, sandbox_settings
from auth_broker.tiktok import AuthorizedShop, TikTokAuthError, TikTokAuthPort, TokenGrant
from auth_broker.webhooks import WebhookHandler
from sqlalchemy import text
from tiktok_sandbox.testing import RunningSandbox, run_sandbox
from tiktok_shop.webhooks import webhook_signature
from tts_common.db import create_engine, session_factory
from tts_common.migrate import migrate_async
from tts_common.testing.uow import committed

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


class EchoingTikTok(HeldExchange):
    """TikTok refusing a code or refresh token with a message that quotes it back."""

    def __init__(self, inner: TikTokAuthPort, *, refuse_code: bool) -> None:
        super().__init__(inner)
        self.release.set()
        self.refuse_code = refuse_code

    async def exchange_code(self, auth_code: str) -> TokenGrant:
        if self.refuse_code:
            raise TikTokAuthError(f"auth_code {auth_code} is invalid", code=36004005)
        return await super().exchange_code(auth_code)

    async def refresh(self, refresh_token: str) -> TokenGrant:
        raise TikTokAuthError(f"refresh token {refresh_token} was revoked", code=36004005)


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
    service = committed(ConnectionService(env.ctx), env.ctx.sessions)
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
    service = committed(ConnectionService(env.ctx), env.ctx.sessions)
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
    service = committed(ConnectionService(env.ctx), env.ctx.sessions)
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


async def test_tiktok_messages_quoting_the_code_are_scrubbed(env: Env) -> None:
    env.ctx.tiktok = EchoingTikTok(env.held.inner, refuse_code=True)
    service = committed(ConnectionService(env.ctx), env.ctx.sessions)
    created = await service.create("shop", "US")
    code = env.sandbox.admin("POST", "/sandbox/v1/authorizations", {"region": "US"})["data"]
    state = httpx.URL(created.authorize_url).params["state"]
    with pytest.raises(AuthorizationFailed) as info:
        await service.complete_authorization(code["code"], state)
    assert "36004005" in info.value.detail and code["code"] not in info.value.detail
    reason = (await service.get(created.id)).status_reason or ""
    assert "is invalid" in reason and code["code"] not in reason


async def test_tiktok_messages_quoting_the_refresh_token_are_scrubbed(env: Env) -> None:
    env.held.release.set()
    service = committed(ConnectionService(env.ctx), env.ctx.sessions)
    created = await service.create("shop", "UK")
    code = env.sandbox.admin("POST", "/sandbox/v1/authorizations", {"region": "UK"})["data"]
    await service.complete_authorization(
        code["code"], httpx.URL(created.authorize_url).params["state"]
    )
    refresh_tokens = set(env.sandbox.state.auth.refresh)
    assert refresh_tokens
    env.ctx.tiktok = EchoingTikTok(env.held.inner, refuse_code=False)
    env.ctx.settings = env.ctx.settings.model_copy(
        update={"lease_min_validity_seconds": 365 * 86400}
    )
    with pytest.raises(NotLeasable) as info:
        await TokenLeaser(env.ctx).lease(created.id)
    shown = [info.value.detail, (await service.get(created.id)).status_reason or ""]
    assert all("was revoked" in text for text in shown)
    assert not [t for t in refresh_tokens for text in shown if t in text]


def _signed(ctx: BrokerContext, event_type: int, shop_id: str, sent: int) -> tuple[bytes, str]:
    body = (
        b'{"type":%d,"tts_notification_id":"%d","shop_id":"%s","timestamp":%d,'
        b'"data":{"message":"m","expiration_time":"%d"}}'
        % (event_type, sent * 10 + event_type, shop_id.encode(), sent, sent + 86400)
    )
    settings = ctx.settings
    key, secret = settings.tiktok_app_key, settings.tiktok_app_secret.get_secret_value()
    return body, webhook_signature(key, secret, body)


@pytest.mark.parametrize("event_type", [6, 7])
async def test_webhook_about_an_older_authorization_leaves_the_new_one(
    env: Env, event_type: int
) -> None:
    env.held.release.set()
    service = committed(ConnectionService(env.ctx), env.ctx.sessions)
    created = await service.create("shop", "US")
    code = env.sandbox.admin("POST", "/sandbox/v1/authorizations", {"region": "US"})["data"]
    result = await service.complete_authorization(
        code["code"], httpx.URL(created.authorize_url).params["state"]
    )
    authorized_at = result.connection.authorized_at
    assert authorized_at is not None
    shop_id = result.connection.shops[0].id
    hooks = committed(WebhookHandler(env.ctx), env.ctx.sessions)

    # Sent an hour before this authorization (TikTok retries for up to 12 h).
    old = int(authorized_at.timestamp()) - 3600
    assert await hooks.handle(*_signed(env.ctx, event_type, shop_id, old)) == "nothing to change"
    assert (await service.get(created.id)).status == "active"

    # The same event about the current authorization is applied.
    now = int(authorized_at.timestamp()) + 1
    assert await hooks.handle(*_signed(env.ctx, event_type, shop_id, now)) == "applied"
    assert (await service.get(created.id)).status == ("revoked" if event_type == 6 else "expiring")

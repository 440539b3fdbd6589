"""Refresh failure paths at the service layer (real PostgreSQL and sandbox, no HTTP server).

- A refused refresh re-reads the stored token: if a re-authorization replaced the tokens
  meanwhile, the lease gets the new token and the connection is NOT declared expired.
- A retriable failure (TikTok 5xx) never expires the connection: the lease returns the
  still-valid token, or 503 once it has run out, and works again when TikTok recovers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from auth_broker.clients.tiktok_client import LibraryTikTokAuth, config_from_settings
from auth_broker.config import Settings
from auth_broker.context import BrokerContext
from auth_broker.crypto import TokenCipher
from auth_broker.errors import BadState, NotLeasable
from auth_broker.keys import rotate_keys
from auth_broker.leasing import TokenLeaser, token_sha256
from auth_broker.service import ConnectionService
from auth_broker.states import StateProblem
from auth_broker.testing import MIGRATIONS, ShiftableClock, sandbox_settings
from auth_broker.tiktok import AuthorizedShop, TikTokAuthError, TikTokAuthPort, TokenGrant
from auth_broker.workers import flag_ending_authorizations, housekeeping, run_background
from cryptography.fernet import Fernet
from sqlalchemy import text
from tiktok_sandbox.testing import RunningSandbox, run_sandbox
from tts_common.db import create_engine, session_factory
from tts_common.errors import Unavailable
from tts_common.migrate import migrate_async
from tts_common.testing.uow import committed

pytestmark = pytest.mark.integration


@dataclass
class Env:
    sandbox: RunningSandbox
    settings: Settings
    clock: ShiftableClock
    port: LibraryTikTokAuth


@contextlib.asynccontextmanager
async def replica(env: Env, port: TikTokAuthPort | None = None) -> AsyncIterator[BrokerContext]:
    """One broker replica's service context: its own engine (pool) on the shared database."""
    engine = create_engine(env.settings.database_url)
    try:
        yield BrokerContext(
            sessions=session_factory(engine),
            cipher=TokenCipher(env.settings.fernet_keys()),
            tiktok=port or env.port,
            settings=env.settings,
            clock=env.clock,
        )
    finally:
        await engine.dispose()


@pytest.fixture
async def env(fresh_database: str, kafka_bootstrap: str) -> AsyncIterator[Env]:
    await migrate_async(fresh_database, MIGRATIONS, "auth-broker")
    with run_sandbox() as sb:
        settings = Settings(**sandbox_settings(sb, fresh_database, kafka_bootstrap))
        port = LibraryTikTokAuth(config_from_settings(settings))
        try:
            yield Env(sb, settings, ShiftableClock(), port)
        finally:
            await port.aclose()


async def connect(
    ctx: BrokerContext, sb: RunningSandbox, market: str = "US", conn_id: str | None = None
) -> str:
    service = committed(ConnectionService(ctx), ctx.sessions)
    if conn_id is None:
        link = (await service.create("shop", market)).authorize_url
        conn_id_out = None
    else:
        link = (await service.reauthorize(conn_id)).authorize_url
        conn_id_out = conn_id
    state = httpx.URL(link).params["state"]
    code = sb.admin("POST", "/sandbox/v1/authorizations", {"region": market})["data"]["code"]
    result = await service.complete_authorization(code, state)
    return conn_id_out or result.connection.id


async def _until_a_lock_is_awaited(database_url: str) -> None:
    """Return once some session of the database waits for a lock (e.g. our row lock)."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    try:
        async with asyncio.timeout(60), engine.connect() as conn:  # a bound, not a speed
            while True:
                if (await conn.execute(waiting)).scalar_one():
                    return
                await asyncio.sleep(0.02)
    finally:
        await engine.dispose()


class RefusedWhileReauthorized:
    """TikTok port whose refresh is refused while the seller re-authorizes (other replica)."""

    def __init__(self, inner: TikTokAuthPort, database_url: str) -> None:
        self.inner = inner
        self.database_url = database_url
        self.start_reauthorization: asyncio.Event = asyncio.Event()
        self.refresh_calls = 0

    def authorize_url(self, market: str, state: str) -> str:
        return self.inner.authorize_url(market, state)

    async def exchange_code(self, auth_code: str) -> TokenGrant:
        return await self.inner.exchange_code(auth_code)

    async def refresh(self, refresh_token: str) -> TokenGrant:
        self.refresh_calls += 1
        self.start_reauthorization.set()
        # Answer once the re-authorization has queued up behind our row lock.
        await _until_a_lock_is_awaited(self.database_url)
        raise TikTokAuthError("can not find related auth record", code=36004005)

    async def authorized_shops(self, access_token: str) -> list[AuthorizedShop]:
        return await self.inner.authorized_shops(access_token)

    async def subscribe_webhook(
        self, access_token: str, shop: AuthorizedShop, event_type: str, address: str
    ) -> None:
        await self.inner.subscribe_webhook(access_token, shop, event_type, address)

    async def aclose(self) -> None:
        return None


async def _status(ctx: BrokerContext, conn_id: str) -> tuple[str, int]:
    async with ctx.sessions() as s:
        row = (
            await s.execute(
                text("SELECT status, token_generation FROM connections WHERE id = :id"),
                {"id": conn_id},
            )
        ).one()
    return str(row[0]), int(row[1])


async def _status_db(env: Env, conn_id: str) -> tuple[str, int]:
    async with replica(env) as ctx:
        return await _status(ctx, conn_id)


async def test_refused_refresh_rereads_and_uses_a_concurrent_reauthorization(env: Env) -> None:
    refusing = RefusedWhileReauthorized(env.port, env.settings.database_url)
    async with replica(env) as other, replica(env, refusing) as ctx:
        conn_id = await connect(other, env.sandbox)
        _, generation = await _status(other, conn_id)
        # The seller has a fresh authorize link and TikTok has just redirected with a code.
        link = (
            await committed(ConnectionService(other), other.sessions).reauthorize(conn_id)
        ).authorize_url
        state = httpx.URL(link).params["state"]
        code = env.sandbox.admin("POST", "/sandbox/v1/authorizations", {"region": "US"})["data"][
            "code"
        ]

        async def callback_lands_during_the_refresh() -> None:
            await refusing.start_reauthorization.wait()
            await ConnectionService(other).complete_authorization(code, state)

        callback = asyncio.create_task(callback_lands_during_the_refresh())
        # Send the lease down the refresh path: no token is valid for a year.
        ctx.settings = env.settings.model_copy(update={"lease_min_validity_seconds": 365 * 86400})
        lease = await TokenLeaser(ctx).lease(conn_id)
        await callback
        stored = await TokenLeaser(other).lease(conn_id)

    assert refusing.refresh_calls == 1
    status, new_generation = await _status_db(env, conn_id)
    assert status == "active", (
        "a refused refresh must not expire a connection that was re-authorized"
    )
    assert new_generation == generation + 1  # the re-authorization only: nothing was erased
    assert lease.access_token == stored.access_token  # the lease handed out the new grant


async def test_retriable_refresh_failure_never_expires_the_connection(env: Env) -> None:
    refresh_op = "GET /api/v2/token/refresh"
    async with replica(env) as ctx:
        conn_id = await connect(ctx, env.sandbox, "UK")
        leaser = TokenLeaser(ctx)
        first = await leaser.lease(conn_id)

        # Inside the lease margin but still valid: TikTok fails once -> the current token.
        env.clock.offset = timedelta(days=7) - timedelta(seconds=120)
        env.sandbox.admin(
            "POST",
            "/sandbox/v1/faults",
            {"error_rate": 1.0, "operations": [refresh_op], "remaining": 1},
        )
        same = await leaser.lease(conn_id)
        assert same.access_token == first.access_token
        assert (await _status(ctx, conn_id))[0] == "active"

        # Past expiry and TikTok still failing -> 503 (retry later), still active.
        env.clock.offset = timedelta(days=7, seconds=10)
        env.sandbox.admin(
            "POST",
            "/sandbox/v1/faults",
            {"error_rate": 1.0, "operations": [refresh_op], "remaining": 1},
        )
        with pytest.raises(Unavailable):
            await leaser.lease(conn_id)
        assert (await _status(ctx, conn_id))[0] == "active"

        # TikTok recovers -> one real refresh, a new working token.
        fresh = await leaser.lease(conn_id)
        assert fresh.access_token != first.access_token
        assert env.sandbox.state.auth.refresh_count == 1


async def test_refused_refresh_without_any_rotation_expires(env: Env) -> None:
    async with replica(env) as ctx:
        conn_id = await connect(ctx, env.sandbox, "US")
        seller = env.sandbox.state.shops[env.sandbox.shop_id("US")]["seller_id"]
        env.sandbox.state.auth.revoke_seller(seller)
        env.clock.offset = timedelta(days=8)
        with pytest.raises(NotLeasable) as info:
            await TokenLeaser(ctx).lease(conn_id)
        assert info.value.status == "expired"
        assert (await _status(ctx, conn_id))[0] == "expired"


async def test_housekeeping_purges_old_states_and_receipts(env: Env) -> None:
    async with replica(env) as ctx:
        service = committed(ConnectionService(ctx), ctx.sessions)
        created = await service.create("shop", "US")
        state = httpx.URL(created.authorize_url).params["state"]
        async with ctx.sessions() as s:
            before = (await s.execute(text("SELECT count(*) FROM oauth_states"))).scalar_one()
        assert before == 1
        assert await housekeeping(ctx) == (0, 0)  # fresh rows stay
        env.clock.offset = timedelta(days=2)
        assert await housekeeping(ctx) == (1, 0)
        env.clock.offset = timedelta()
        with pytest.raises(BadState) as info:
            await service.complete_authorization("any-code", state)
        assert info.value.problem == StateProblem.UNKNOWN


async def test_reported_stale_token_is_refreshed_once(env: Env) -> None:
    async with replica(env) as a, replica(env) as b:
        conn_id = await connect(a, env.sandbox, "US")
        first = await TokenLeaser(a).lease(conn_id)
        stale = token_sha256(first.access_token)
        # Several callers on two replicas report the same rejected token at once.
        leases = await asyncio.gather(
            *(
                TokenLeaser((a, b)[i % 2]).lease(conn_id, stale_token_sha256=stale)
                for i in range(10)
            )
        )
        assert {lease.access_token for lease in leases} != {first.access_token}
        assert len({lease.access_token for lease in leases}) == 1
        assert env.sandbox.state.auth.refresh_count == 1
        # A report naming a token that is no longer stored changes nothing.
        again = await TokenLeaser(b).lease(conn_id, stale_token_sha256=stale)
        assert again.access_token == leases[0].access_token
        assert env.sandbox.state.auth.refresh_count == 1


async def test_ending_authorization_is_flagged_expiring_without_a_webhook(env: Env) -> None:
    async with replica(env) as ctx:
        conn_id = await connect(ctx, env.sandbox, "UK")
        assert await flag_ending_authorizations(ctx) == 0  # a year left
        env.clock.offset = timedelta(days=340)  # the sandbox authorization lasts 365 days
        assert await flag_ending_authorizations(ctx) == 1
        assert await flag_ending_authorizations(ctx) == 0  # once
        assert (await _status(ctx, conn_id))[0] == "expiring"
        async with ctx.sessions() as s:
            types = (
                (
                    await s.execute(
                        text("SELECT headers->>'ce_type' FROM outbox WHERE key = :id ORDER BY id"),
                        {"id": conn_id},
                    )
                )
                .scalars()
                .all()
            )
        assert types == ["connection.authorized", "connection.expiring"]
        # Still leasable: the authorization has not ended yet.
        assert (await TokenLeaser(ctx).lease(conn_id)).connection_id == conn_id


async def test_background_pass_flags_ending_authorizations(env: Env) -> None:
    """The running refresher (not just the function) marks an ending authorization."""
    async with replica(env) as ctx:
        conn_id = await connect(ctx, env.sandbox, "US")
        env.clock.offset = timedelta(days=340)  # the sandbox authorization lasts 365 days
        ctx.settings = env.settings.model_copy(update={"refresher_interval_seconds": 0.05})
        task = asyncio.create_task(run_background(ctx, TokenLeaser(ctx)))
        try:
            async with asyncio.timeout(10):
                while (await _status(ctx, conn_id))[0] != "expiring":
                    assert not task.done(), task
                    await asyncio.sleep(0.05)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_rotate_keys_then_the_old_key_is_dropped(env: Env) -> None:
    """After `rotate-keys`, a replica holding only the new key leases and refreshes; a row
    whose ciphertext is bound to another connection is reported and left as it was."""
    old_key = env.settings.fernet_keys()[0]
    new_key = Fernet.generate_key().decode()
    async with replica(env) as ctx:
        good = await connect(ctx, env.sandbox, "US")
        moved = await connect(ctx, env.sandbox, "UK")
        async with ctx.sessions() as s, s.begin():
            # Swap a row's access ciphertext for another connection's (binding violation).
            await s.execute(
                text(
                    "UPDATE connections SET access_token_enc = "
                    "(SELECT access_token_enc FROM connections WHERE id = :good) WHERE id = :moved"
                ),
                {"good": good, "moved": moved},
            )
            before = (
                await s.execute(
                    text("SELECT refresh_token_enc FROM connections WHERE id = :id"), {"id": moved}
                )
            ).scalar_one()
        report = await rotate_keys(ctx.sessions, TokenCipher([new_key, old_key]))
        assert report.rotated == 1 and report.failed == [moved]
        async with ctx.sessions() as s:
            after = (
                await s.execute(
                    text("SELECT refresh_token_enc FROM connections WHERE id = :id"), {"id": moved}
                )
            ).scalar_one()
        assert after == before  # the whole row was rolled back, nothing re-blessed

        only_new = BrokerContext(
            sessions=ctx.sessions,
            cipher=TokenCipher([new_key]),
            tiktok=env.port,
            settings=env.settings,
            clock=env.clock,
        )
        first = await TokenLeaser(only_new).lease(good)
        # Reporting it stale forces a refresh: the refresh token decrypts under the new key.
        second = await TokenLeaser(only_new).lease(good, token_sha256(first.access_token))
        assert second.access_token != first.access_token
        assert env.sandbox.state.auth.refresh_count == 1

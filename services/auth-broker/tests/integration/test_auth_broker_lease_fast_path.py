"""The lock-free lease path never hands out a token the row no longer allows (real PostgreSQL).

A lease of a still-valid token reads the row without a lock, shares that read with leases
arriving at the same moment, and remembers decrypted tokens per ciphertext (leasing.py). None
of that may outlive a change to the row:

- revoked (admin API) -> the next lease is a 409, over HTTP, from the broker that leased;
- refreshed or re-authorized by another replica -> the next lease carries the new token;
- re-encrypted (`rotate-keys`) -> the same token; a ciphertext copied from another connection
  -> refused (500), even though the leaser remembers this connection's token;
- a lease arriving while a read is running waits for the next read: a revocation committed
  before it arrived counts for it, while a lease already being read is unaffected;
- a burst of leases for an expired token on two replicas -> exactly one TikTok refresh;
- the autocommit read leaves pooled connections transactional (the refresh's row lock needs it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import httpx
import pytest
from auth_broker import repository
from auth_broker.clients.tiktok_client import LibraryTikTokAuth, config_from_settings
from auth_broker.config import Settings
from auth_broker.context import BrokerContext
from auth_broker.crypto import TokenCipher
from auth_broker.errors import NotLeasable
from auth_broker.keys import rotate_keys
from auth_broker.leasing import TokenLeaser, TokenUnreadable, token_sha256
from auth_broker.repository import LeaseView
from auth_broker.service import ConnectionService
from auth_broker.testing import (
    MIGRATIONS,
    RunningBroker,
    ShiftableClock,
    approve_in_sandbox,
    free_port,
    run_broker,
    sandbox_settings,
)
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tiktok_sandbox.testing import RunningSandbox, run_sandbox
from tts_common.db import create_engine, session_factory
from tts_common.errors import NotFound
from tts_common.migrate import migrate_async
from tts_common.testing.uow import committed

pytestmark = pytest.mark.integration


@dataclass
class Env:
    sandbox: RunningSandbox
    settings: Settings
    clock: ShiftableClock
    port: LibraryTikTokAuth


@pytest.fixture
async def env(fresh_database: str, kafka_bootstrap: str) -> AsyncIterator[Env]:
    await migrate_async(fresh_database, MIGRATIONS, "auth-broker")
    http_port = free_port()
    with run_sandbox(redirect_url=f"http://127.0.0.1:{http_port}/v1/oauth/callback") as sb:
        settings = Settings(
            **sandbox_settings(
                sb, fresh_database, kafka_bootstrap, http_port=http_port, refresher_enabled=False
            )
        )
        port = LibraryTikTokAuth(config_from_settings(settings))
        try:
            yield Env(sb, settings, ShiftableClock(), port)
        finally:
            await port.aclose()


@contextlib.asynccontextmanager
async def replica(env: Env, **engine_options: int) -> AsyncIterator[BrokerContext]:
    """One broker replica's service context: its own engine (pool) on the shared database."""
    engine = create_engine(env.settings.database_url, **engine_options)
    try:
        yield BrokerContext(
            sessions=session_factory(engine),
            cipher=TokenCipher(env.settings.fernet_keys()),
            tiktok=env.port,
            settings=env.settings,
            clock=env.clock,
        )
    finally:
        await engine.dispose()


async def connect(ctx: BrokerContext, sb: RunningSandbox, market: str = "US") -> str:
    service = committed(ConnectionService(ctx), ctx.sessions)
    link = (await service.create("shop", market)).authorize_url
    return await authorize(ctx, sb, link, market)


async def authorize(ctx: BrokerContext, sb: RunningSandbox, link: str, market: str) -> str:
    state = httpx.URL(link).params["state"]
    code = sb.admin("POST", "/sandbox/v1/authorizations", {"region": market})["data"]["code"]
    result = await ConnectionService(ctx).complete_authorization(code, state)
    return result.connection.id


async def _lease_http(
    http: httpx.AsyncClient, broker: RunningBroker, conn_id: str
) -> httpx.Response:
    return await http.post(
        f"{broker.base_url}/internal/v1/connections/{conn_id}/token", headers=broker.service
    )


async def test_revoked_over_the_admin_api_the_next_lease_is_a_409(env: Env) -> None:
    with run_broker(env.settings) as broker:
        async with httpx.AsyncClient(timeout=30) as http:
            created = (
                await http.post(
                    broker.base_url + "/v1/connections",
                    json={"name": "shop", "market": "US"},
                    headers=broker.admin,
                )
            ).json()
            callback = await approve_in_sandbox(http, created["authorize_url"], "US")
            assert (await http.get(callback)).status_code == 200
            conn_id = created["id"]
            leases = [await _lease_http(http, broker, conn_id) for _ in range(3)]
            assert [r.status_code for r in leases] == [200, 200, 200]
            assert len({r.json()["access_token"] for r in leases}) == 1

            revoked = await http.delete(
                f"{broker.base_url}/v1/connections/{conn_id}", headers=broker.admin
            )
            assert revoked.status_code == 200

            after = await _lease_http(http, broker, conn_id)
            assert after.status_code == 409
            assert after.json()["error"] == "connection_revoked"
            assert leases[0].json()["access_token"] not in after.text


async def test_refreshed_by_another_replica_the_next_lease_has_the_new_token(env: Env) -> None:
    with run_broker(env.settings) as broker:
        async with replica(env) as other, httpx.AsyncClient(timeout=30) as http:
            conn_id = await connect(other, env.sandbox)
            first = (await _lease_http(http, broker, conn_id)).json()
            # The other replica's caller saw TikTok reject the token: it refreshes.
            refreshed = await TokenLeaser(other).lease(conn_id, token_sha256(first["access_token"]))
            assert refreshed.access_token != first["access_token"]
            assert env.sandbox.state.auth.refresh_count == 1

            second = (await _lease_http(http, broker, conn_id)).json()
            assert second["access_token"] == refreshed.access_token
            assert second["expires_at"] == refreshed.expires_at


async def test_reauthorized_the_next_lease_has_the_new_grant(env: Env) -> None:
    async with replica(env) as ctx, replica(env) as other:
        conn_id = await connect(other, env.sandbox)
        leaser = TokenLeaser(ctx)
        first = await leaser.lease(conn_id)
        link = (
            await committed(ConnectionService(other), other.sessions).reauthorize(conn_id)
        ).authorize_url
        await authorize(other, env.sandbox, link, "US")
        second = await leaser.lease(conn_id)
        assert second.access_token != first.access_token
        assert second.access_token == (await TokenLeaser(other).lease(conn_id)).access_token


async def test_reencrypted_same_token_copied_ciphertext_refused(env: Env) -> None:
    old_key = env.settings.fernet_keys()[0]
    new_key = Fernet.generate_key().decode()
    async with replica(env) as ctx:
        good = await connect(ctx, env.sandbox, "US")
        moved = await connect(ctx, env.sandbox, "UK")
        # A replica that already knows both keys (they are configured before rotate-keys runs).
        both = BrokerContext(
            sessions=ctx.sessions,
            cipher=TokenCipher([new_key, old_key]),
            tiktok=env.port,
            settings=env.settings,
            clock=env.clock,
        )
        leaser = TokenLeaser(both)
        before = await leaser.lease(good)
        report = await rotate_keys(ctx.sessions, TokenCipher([new_key, old_key]))
        assert report.rotated == 2 and report.failed == []
        after = await leaser.lease(good)
        assert after.access_token == before.access_token

        await leaser.lease(moved)  # remembered: moved's own token
        async with ctx.sessions() as s, s.begin():
            await s.execute(
                text(
                    "UPDATE connections SET access_token_enc = "
                    "(SELECT access_token_enc FROM connections WHERE id = :good) WHERE id = :moved"
                ),
                {"good": good, "moved": moved},
            )
        with pytest.raises(TokenUnreadable):
            await leaser.lease(moved)


Read = Callable[[AsyncSession, Sequence[str]], Awaitable[dict[str, LeaseView]]]


class HeldRead:
    """Wraps `repository.lease_views`: the first read runs its statement, then is held."""

    def __init__(self, inner: Read) -> None:
        self.inner = inner
        self.read_done = asyncio.Event()
        self.release = asyncio.Event()
        self.reads: list[list[str]] = []

    async def __call__(self, session: AsyncSession, ids: Sequence[str]) -> dict[str, LeaseView]:
        views = await self.inner(session, ids)
        self.reads.append(list(ids))
        if len(self.reads) == 1:
            self.read_done.set()
            await self.release.wait()
        return views


async def test_a_lease_never_shares_a_read_that_started_before_it_arrived(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with replica(env) as ctx:
        conn_id = await connect(ctx, env.sandbox)
        held = HeldRead(repository.lease_views)
        monkeypatch.setattr(repository, "lease_views", held)
        leaser = TokenLeaser(ctx)
        # Two leases arrive together and share the first read, which then stalls.
        early = asyncio.create_task(leaser.lease(conn_id))
        early_too = asyncio.create_task(leaser.lease(conn_id))
        await held.read_done.wait()
        # The row is revoked after that read saw it active, then a third lease arrives.
        await committed(ConnectionService(ctx), ctx.sessions).delete(conn_id)
        late = asyncio.create_task(leaser.lease(conn_id))
        async with asyncio.timeout(10):
            # A condition, not a delay: the late lease has queued for the next read.
            while len(leaser._reads._waiting) == 0:  # noqa: ASYNC110
                await asyncio.sleep(0)
        # One lease of the shared read going away does not cancel the read for the other.
        early.cancel()
        held.release.set()

        assert (await early_too).connection_id == conn_id  # read before the revocation
        with pytest.raises(NotLeasable) as info:
            await late
        assert info.value.status == "revoked"
        assert held.reads == [[conn_id], [conn_id]]
        with pytest.raises(asyncio.CancelledError):
            await early


async def test_a_failed_read_fails_its_leases_and_the_next_read_works(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with replica(env) as ctx:
        conn_id = await connect(ctx, env.sandbox)
        inner = repository.lease_views
        calls = 0

        async def failing_once(session: AsyncSession, ids: Sequence[str]) -> dict[str, LeaseView]:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise ConnectionResetError("database went away")
            return await inner(session, ids)

        monkeypatch.setattr(repository, "lease_views", failing_once)
        leaser = TokenLeaser(ctx)
        outcomes = await asyncio.gather(
            *(leaser.lease(conn_id) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(o, ConnectionResetError) for o in outcomes), outcomes
        assert (await leaser.lease(conn_id)).connection_id == conn_id
        assert calls == 2


async def test_a_burst_for_an_expired_token_on_two_replicas_refreshes_once(env: Env) -> None:
    async with replica(env) as a, replica(env) as b:
        conn_id = await connect(a, env.sandbox)
        first = await TokenLeaser(a).lease(conn_id)
        leasers = (TokenLeaser(a), TokenLeaser(b))
        # The 7-day access token is over, on both clocks (TikTok then issues tokens that
        # are valid by the broker's clock, so only this expiry is due).
        env.clock.advance(7 * 86400 + 60)
        env.sandbox.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 7 * 86400 + 60})
        leases = await asyncio.gather(*(leasers[i % 2].lease(conn_id) for i in range(40)))
        tokens = {lease.access_token for lease in leases}
        assert len(tokens) == 1 and first.access_token not in tokens
        assert env.sandbox.state.auth.refresh_count == 1
        # The next burst finds the new token valid: no refresh at all.
        again = await asyncio.gather(*(leasers[i % 2].lease(conn_id) for i in range(10)))
        assert {lease.access_token for lease in again} == tokens
        assert env.sandbox.state.auth.refresh_count == 1


async def test_the_autocommit_read_leaves_pooled_connections_transactional(env: Env) -> None:
    # One pooled connection: the lease's read and the next transaction get the same one.
    async with replica(env, pool_size=1, max_overflow=0) as ctx:
        conn_id = await connect(ctx, env.sandbox)
        await TokenLeaser(ctx).lease(conn_id)
        async with ctx.sessions() as s:
            ids = [
                (await s.execute(text("SELECT pg_current_xact_id()::text"))).scalar_one()
                for _ in range(2)
            ]
        assert ids[0] == ids[1], "two statements of one session must share a transaction"


async def test_an_unknown_or_malformed_id_is_not_found(env: Env) -> None:
    async with replica(env) as ctx:
        conn_id = await connect(ctx, env.sandbox)
        leaser = TokenLeaser(ctx)
        for bad in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
            with pytest.raises(NotFound):
                await leaser.lease(bad)
        # Upper-case spelling of a real id names the same connection.
        assert (await leaser.lease(conn_id.upper())).connection_id == conn_id

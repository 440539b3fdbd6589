"""Token leases and refreshes: exactly one TikTok refresh per expiry across all replicas.

TikTok rotates refresh tokens: the one presented stops working as soon as a refresh
succeeds. Two replicas refreshing the same connection at once would each present the
same refresh token and one of them would lose the connection. So every refresh:

1. locks the connection row (`SELECT ... FOR UPDATE`), serialising replicas;
2. re-checks under the lock: if the token generation moved on or the access token is
   valid long enough, someone else already refreshed and their token is returned;
3. calls TikTok while holding the lock and commits the rotated refresh token before
   anyone is handed the new access token.

A refused refresh re-reads the stored row before declaring the connection expired:
the refresh token it presented may simply have been rotated by someone else.

Transactions: the leaser is one of the two places that own their transactions instead of
taking the entrypoint's session (docs/architecture.md, "The transaction rule"): the rotated
refresh token must be committed, under the row lock, before the new access token leaves
this module, whoever called it (a lease request or the background refresher).

Leases take the lock only when a refresh is due. A lease of a still-valid token holds no lock
and no transaction: one autocommit statement, started after the lease arrived, reads the
row's status, generation, expiry, ciphertext and shops (`repo.lease_views`; leases arriving
together share it, `_Reads`), so a revocation or a new generation counts from the very next
lease. Decrypting is memoised for the exact ciphertext and generation the row holds
(`_PlainTokens`): one Fernet decryption per token, not one per lease. Leases of one process
that find the same generation due share one locked refresh (`_refresh_shared`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import logging
import random
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tts_common.db import session_scope
from tts_common.errors import AppError, NotFound, Unavailable
from tts_common.logging import register_secret

from auth_broker import repository as repo
from auth_broker import transitions
from auth_broker.context import BrokerContext
from auth_broker.crypto import TokenDecryptionError, TokenKind
from auth_broker.errors import NotLeasable
from auth_broker.models import LEASABLE, Connection, Status
from auth_broker.notify import queue
from auth_broker.repository import LeaseShop, LeaseView
from auth_broker.schemas import LeasedShop, TokenLease
from auth_broker.service import store_grant
from auth_broker.tiktok import TikTokAuthError, describe

log = logging.getLogger(__name__)


class TokenUnreadable(AppError):
    status_code = 500
    code = "token_unreadable"


@dataclass(frozen=True)
class _Refused:
    """A refused refresh, and what the stored row looked like when we presented it."""

    generation: int
    presented: str
    error: TikTokAuthError


def token_sha256(token: str) -> str:
    """How a caller names a token it holds without sending the token back."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _leasable(conn: Connection | None, connection_id: str) -> Connection:
    """`conn` if it exists and may hand out tokens; otherwise the error the caller gets."""
    if conn is None:
        raise NotFound(f"connection {connection_id} does not exist")
    if conn.status not in LEASABLE:
        raise NotLeasable(conn.status, conn.status_reason)
    return conn


def _valid_beyond(conn: Connection | LeaseView, moment: datetime) -> bool:
    return (
        conn.access_token_enc is not None
        and conn.access_expires_at is not None
        and conn.access_expires_at > moment
    )


class _PlainTokens:
    """Decrypted access tokens, one per connection, for the exact row text they came from.

    A memo of `TokenCipher.decrypt` (a pure function of connection id, kind and ciphertext under
    this process's keys), not a token cache: every lease still reads the row, and only when the
    row holds the remembered generation AND ciphertext is the remembered plaintext used. A
    refresh or re-authorization (new generation and text), a re-encryption (`rotate-keys`), an
    erasure or a ciphertext copied from elsewhere all miss and go through `decrypt` again.
    Bounded: the least recently leased connection is forgotten first.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[int, str, str]] = OrderedDict()

    def get(self, connection_id: str, generation: int, ciphertext: str) -> str | None:
        entry = self._entries.get(connection_id)
        if entry is None or entry[0] != generation or entry[1] != ciphertext:
            return None
        self._entries.move_to_end(connection_id)
        return entry[2]

    def put(self, connection_id: str, generation: int, ciphertext: str, plaintext: str) -> None:
        self._entries[connection_id] = (generation, ciphertext, plaintext)
        self._entries.move_to_end(connection_id)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def forget(self, connection_id: str) -> None:
        self._entries.pop(connection_id, None)


class _Reads:
    """Leases arriving together share one `repo.lease_views` statement, never an older one.

    At most one statement runs at a time per leaser (per process). A lease that arrives while
    it runs waits for the NEXT statement, which reads the connections of every lease that
    arrived meanwhile at once. So each lease sees its row as it was after the lease arrived (a
    revocation or refresh committed before it counts for it), and under load the process makes
    one query, with one pool checkout, per wave of leases instead of one per lease: leases no
    longer queue for pooled connections and the database behind one another.
    """

    MAX_BATCH = 500

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._waiting: dict[str, asyncio.Future[LeaseView | None]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def get(self, connection_id: str) -> LeaseView | None:
        future = self._waiting.get(connection_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[connection_id] = future
            if self._reader is None:
                self._reader = asyncio.create_task(self._run(), name="lease-reads")
        # Shielded: a caller going away (client disconnect, request timeout) must not cancel
        # the read other leases wait for.
        return await asyncio.shield(future)

    async def _fetch(self, connection_ids: list[str]) -> dict[str, LeaseView]:
        async with self._sessions() as session:
            # Autocommit: the one statement is its own snapshot and no transaction stays open.
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            return await repo.lease_views(session, connection_ids)

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch = dict(itertools.islice(self._waiting.items(), self.MAX_BATCH))
                for connection_id in batch:
                    del self._waiting[connection_id]
                try:
                    views = await self._fetch(list(batch))
                except Exception as exc:
                    for future in batch.values():
                        if not future.done():
                            future.set_exception(exc)
                    continue
                except BaseException:
                    for future in batch.values():
                        future.cancel()
                    raise
                for connection_id, future in batch.items():
                    if not future.done():
                        future.set_result(views.get(connection_id))
        finally:
            self._reader = None
            # Only after a cancellation (shutdown) can leases be left waiting here.
            for future in self._waiting.values():
                future.cancel()
            self._waiting.clear()


class TokenLeaser:
    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx
        self._plain = _PlainTokens()
        self._reads = _Reads(ctx.sessions)
        self._refreshing: dict[tuple[str, int, bool], asyncio.Future[TokenLease | None]] = {}

    # -- reading ----------------------------------------------------------------------
    def _decrypt_text(self, connection_id: str, kind: TokenKind, enc: str) -> str:
        try:
            value = self.ctx.cipher.decrypt(connection_id, kind, enc)
        except TokenDecryptionError as exc:
            log.error(
                "stored token unreadable", extra={"connection_id": connection_id, "kind": kind}
            )
            raise TokenUnreadable(str(exc)) from None
        return value

    def _decrypt(self, conn: Connection, kind: TokenKind) -> str:
        enc = conn.access_token_enc if kind == "access" else conn.refresh_token_enc
        if enc is None:
            raise NotLeasable(conn.status, f"no {kind} token stored")
        value = self._decrypt_text(conn.id, kind, enc)
        register_secret(value)
        return value

    def _access_token(self, connection_id: str, generation: int, enc: str) -> str:
        value = self._plain.get(connection_id, generation, enc)
        if value is None:
            value = self._decrypt_text(connection_id, "access", enc)
            self._plain.put(connection_id, generation, enc, value)
        # Every lease: keeps a live token in the scrubber's runtime tier (least recently
        # registered goes first), and costs a dict lookup once it is there.
        register_secret(value)
        return value

    def _make_lease(
        self,
        connection_id: str,
        market: str,
        generation: int,
        enc: str,
        expires_at: datetime,
        shops: Iterable[LeaseShop],
    ) -> TokenLease:
        leased = [
            LeasedShop(id=s.shop_id, name=s.name, region=s.region, cipher=s.cipher) for s in shops
        ]
        return TokenLease(
            connection_id=connection_id,
            market=market,
            access_token=self._access_token(connection_id, generation, enc),
            expires_at=int(expires_at.timestamp()),
            shop_ciphers={s.id: s.cipher for s in leased},
            shops=leased,
        )

    def _lease_of(self, conn: Connection) -> TokenLease:
        """The lease of a row read under the lock (ORM object)."""
        if conn.access_token_enc is None:
            raise NotLeasable(conn.status, "no access token stored")
        assert conn.access_expires_at is not None
        return self._make_lease(
            conn.id,
            conn.market,
            conn.token_generation,
            conn.access_token_enc,
            conn.access_expires_at,
            (LeaseShop(s.shop_id, s.name, s.region, s.cipher) for s in conn.shops),
        )

    async def _read(self, connection_id: str) -> LeaseView:
        """The row as a statement started after this call sees it (`_Reads`); no lock."""
        view = await self._reads.get(connection_id)
        if view is None:
            self._plain.forget(connection_id)
            raise NotFound(f"connection {connection_id} does not exist")
        if view.status not in LEASABLE:
            self._plain.forget(connection_id)
            raise NotLeasable(view.status, view.status_reason)
        return view

    # -- lease ------------------------------------------------------------------------
    async def lease(self, connection_id: str, stale_token_sha256: str | None = None) -> TokenLease:
        """A token valid for at least `lease_min_validity_seconds`, refreshing if needed.

        `stale_token_sha256`: TikTok rejected the token with this SHA-256 as expired (clock
        skew, early invalidation). If it is still the stored one, it is refreshed now; many
        callers reporting the same token still cause one refresh (generation check).
        """
        outcome = "ok"
        try:
            return await self._lease(connection_id, stale_token_sha256)
        except NotLeasable:
            outcome = "conflict"
            raise
        except NotFound:
            outcome = "not_found"
            raise
        except Unavailable:
            outcome = "unavailable"
            raise
        except AppError:
            outcome = "error"
            raise
        finally:
            self.ctx.metrics.leases.labels(outcome).inc()

    async def _lease(self, connection_id: str, stale_token_sha256: str | None) -> TokenLease:
        try:
            # The id column is a UUID: anything else names no connection (and must not reach
            # a statement other leases share). Canonical text, as the database returns it.
            connection_id = str(uuid.UUID(connection_id))
        except ValueError:
            raise NotFound(f"connection {connection_id} does not exist") from None
        need_until = self.ctx.clock() + timedelta(
            seconds=self.ctx.settings.lease_min_validity_seconds
        )
        view = await self._read(connection_id)
        current = None
        if view.access_token_enc is not None and view.access_expires_at is not None:
            current = self._make_lease(
                connection_id,
                view.market,
                view.token_generation,
                view.access_token_enc,
                view.access_expires_at,
                view.shops,
            )
        reported_stale = (
            current is not None
            and stale_token_sha256 is not None
            and hmac.compare_digest(token_sha256(current.access_token), stale_token_sha256.lower())
        )
        if current is not None and not reported_stale and _valid_beyond(view, need_until):
            return current
        if reported_stale:
            # Whatever its expiry says, this token is dead: refresh unless someone did.
            need_until = datetime.max.replace(tzinfo=UTC)
        # A refresh is due: only now the row lock (`refresh` re-checks the generation under it).
        return await self._refresh_shared(
            connection_id, view.token_generation, need_until, stale=reported_stale
        )

    async def _refresh_shared(
        self, connection_id: str, generation: int, need_until: datetime, *, stale: bool
    ) -> TokenLease:
        """`refresh`, joined by every lease of this process that found the same generation due.

        Replicas are serialised by the row lock; within one process the leases of a burst
        share one locked refresh instead of queueing on the lock one by one, each holding a
        pooled connection other connections' leases need. A lease that joins a refresh
        already running still sees any revocation committed before it arrived: a revocation
        takes the same row lock, so it either committed before the refresh read the row or
        waits for the refresh to end. Stale-token reports (refresh even if unexpired) and
        plain expiries do not join each other.
        """
        key = (connection_id, generation, stale)
        task = self._refreshing.get(key)
        if task is None:
            task = asyncio.create_task(
                self.refresh(connection_id, seen_generation=generation, need_until=need_until)
            )
            self._refreshing[key] = task
            task.add_done_callback(lambda done: self._refresh_done(key, done))
        # Shielded: a lease going away must not cancel the refresh the others wait for.
        lease = await asyncio.shield(task)
        assert lease is not None
        return lease

    def _refresh_done(
        self, key: tuple[str, int, bool], task: asyncio.Future[TokenLease | None]
    ) -> None:
        if self._refreshing.get(key) is task:
            del self._refreshing[key]

    # -- refresh ----------------------------------------------------------------------
    async def refresh(
        self,
        connection_id: str,
        *,
        seen_generation: int,
        need_until: datetime,
        skip_locked: bool = False,
        retry_after_rotation: bool = True,
    ) -> TokenLease | None:
        """Refresh unless someone did since `seen_generation`; None when skipped (busy row)."""
        refused: _Refused | None = None
        async with self.ctx.sessions() as session:
            async with session.begin():
                conn = await repo.lock_connection(session, connection_id, skip_locked=skip_locked)
                if conn is None and skip_locked:
                    return None  # another replica holds the lock: it is refreshing
                conn = _leasable(conn, connection_id)
                if conn.token_generation != seen_generation or _valid_beyond(conn, need_until):
                    return self._lease_of(conn)  # refreshed by someone else while we waited
                presented = self._decrypt(conn, "refresh")
                now = self.ctx.clock()
                try:
                    grant = await self.ctx.tiktok.refresh(presented)
                except TikTokAuthError as err:
                    self.ctx.metrics.refreshes.labels(
                        "failed" if err.retriable else "refused"
                    ).inc()
                    if err.retriable:
                        # TikTok did not say the credential is bad: keep the connection.
                        log.warning(
                            "token refresh failed, will retry",
                            extra={"connection_id": connection_id, "error": str(err)},
                        )
                        if _valid_beyond(conn, now + timedelta(seconds=5)):
                            return self._lease_of(conn)
                        raise Unavailable(
                            "TikTok did not answer the token refresh; retry shortly"
                        ) from None
                    refused = _Refused(conn.token_generation, presented, err)
                else:
                    self.ctx.metrics.refreshes.labels("ok").inc()
                    # Persisted (committed by `session.begin()`) before the token leaves this method.
                    store_grant(self.ctx, conn, grant, now)
                    await session.flush()
                    lease = self._lease_of(conn)
                    log.info(
                        "token refreshed",
                        extra={"connection_id": connection_id, "generation": conn.token_generation},
                    )
                    return lease
        assert refused is not None
        return await self._after_refused(connection_id, refused, need_until, retry_after_rotation)

    async def _after_refused(
        self, connection_id: str, refused: _Refused, need_until: datetime, may_retry: bool
    ) -> TokenLease:
        """Re-read the stored token; only if nobody rotated it meanwhile is the connection expired."""
        reason = f"TikTok refused the token refresh: {describe(refused.error, refused.presented)}"
        retry_generation: int | None = None
        async with session_scope(self.ctx.sessions) as session:
            conn = _leasable(await repo.lock_connection(session, connection_id), connection_id)
            rotated = conn.token_generation != refused.generation or (
                conn.refresh_token_enc is not None
                and self._decrypt(conn, "refresh") != refused.presented
            )
            if rotated:
                if _valid_beyond(conn, self.ctx.clock()):
                    return self._lease_of(conn)
                retry_generation = conn.token_generation
            if retry_generation is None or not may_retry:
                await queue(session, transitions.expire(conn, reason))
        if retry_generation is not None and may_retry:
            lease = await self.refresh(
                connection_id,
                seen_generation=retry_generation,
                need_until=need_until,
                retry_after_rotation=False,
            )
            assert lease is not None
            return lease
        log.warning(
            "connection expired",
            extra={"connection_id": connection_id, "tiktok_code": refused.error.code},
        )
        raise NotLeasable(Status.EXPIRED, reason)

    # -- background -------------------------------------------------------------------
    async def refresh_due(self) -> int:
        """One refresher pass: renew tokens that end within the margin (+ jitter). Returns renewals."""
        settings = self.ctx.settings
        now = self.ctx.clock()
        margin = settings.refresh_margin_seconds + random.uniform(
            0, settings.refresh_jitter_seconds
        )
        async with session_scope(self.ctx.sessions) as session:
            due = await repo.due_for_refresh(session, now + timedelta(seconds=margin))
        renewed = 0
        for connection_id, generation, expires_at, refreshed_at in due:
            # Never renew a token in the first half of its life, whatever the margin says:
            # with short-lived tokens a large margin would otherwise refresh on every pass.
            threshold = timedelta(seconds=margin)
            if refreshed_at is not None and expires_at is not None:
                threshold = min(threshold, (expires_at - refreshed_at) / 2)
            need_until = now + threshold
            if expires_at is not None and expires_at > need_until:
                continue
            try:
                lease = await self.refresh(
                    connection_id,
                    seen_generation=generation,
                    need_until=need_until,
                    skip_locked=True,
                )
            except AppError as exc:
                log.warning(
                    "background refresh failed",
                    extra={"connection_id": connection_id, "error": exc.code, "detail": exc.detail},
                )
                continue
            if lease is not None:
                renewed += 1
        return renewed

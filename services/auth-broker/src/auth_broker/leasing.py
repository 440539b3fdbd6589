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
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


def _valid_beyond(conn: Connection, moment: datetime) -> bool:
    return (
        conn.access_token_enc is not None
        and conn.access_expires_at is not None
        and conn.access_expires_at > moment
    )


class TokenLeaser:
    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx

    # -- reading ----------------------------------------------------------------------
    def _decrypt(self, conn: Connection, kind: TokenKind) -> str:
        enc = conn.access_token_enc if kind == "access" else conn.refresh_token_enc
        if enc is None:
            raise NotLeasable(conn.status, f"no {kind} token stored")
        try:
            value = self.ctx.cipher.decrypt(conn.id, kind, enc)
        except TokenDecryptionError as exc:
            log.error("stored token unreadable", extra={"connection_id": conn.id, "kind": kind})
            raise TokenUnreadable(str(exc)) from None
        register_secret(value)
        return value

    def _lease_of(self, conn: Connection) -> TokenLease:
        assert conn.access_expires_at is not None
        return TokenLease(
            connection_id=conn.id,
            market=conn.market,
            access_token=self._decrypt(conn, "access"),
            expires_at=int(conn.access_expires_at.timestamp()),
            shop_ciphers={s.shop_id: s.cipher for s in conn.shops},
            shops=[
                LeasedShop(id=s.shop_id, name=s.name, region=s.region, cipher=s.cipher)
                for s in conn.shops
            ],
        )

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
        need_until = self.ctx.clock() + timedelta(
            seconds=self.ctx.settings.lease_min_validity_seconds
        )
        async with session_scope(self.ctx.sessions) as session:
            conn = _leasable(await repo.get_connection(session, connection_id), connection_id)
            current = self._lease_of(conn) if conn.access_token_enc is not None else None
            reported_stale = (
                current is not None
                and stale_token_sha256 is not None
                and hmac.compare_digest(
                    token_sha256(current.access_token), stale_token_sha256.lower()
                )
            )
            if current is not None and not reported_stale and _valid_beyond(conn, need_until):
                return current
            if reported_stale:
                # Whatever its expiry says, this token is dead: refresh unless someone did.
                need_until = datetime.max.replace(tzinfo=UTC)
            seen = conn.token_generation
        lease = await self.refresh(connection_id, seen_generation=seen, need_until=need_until)
        assert lease is not None
        return lease

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

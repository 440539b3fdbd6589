"""Connection lifecycle: create, authorize (OAuth callback), list, reauthorize, delete.

The transaction rule (docs/architecture.md): these methods take the entrypoint's session and
only `flush()`; the route's `SessionDep` commits. One exception, the OAuth callback
(`complete_authorization`), owns its transactions: it needs two (consume the state, then
store the grant) with the TikTok code exchange between them, so no row lock is held while
TikTok answers and a consumed state stays consumed even when the exchange fails.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.db import session_scope
from tts_common.errors import NotFound
from tts_common.logging import register_secret

from auth_broker import repository as repo
from auth_broker import transitions
from auth_broker.context import BrokerContext
from auth_broker.errors import AuthorizationFailed, BadState, RevokedDuringAuthorization
from auth_broker.models import Connection, Status
from auth_broker.notify import queue
from auth_broker.schemas import AuthorizeLink, ConnectionCreated, ConnectionOut
from auth_broker.states import StateProblem, check_state, hash_state, new_state
from auth_broker.tiktok import AuthorizedShop, TikTokAuthError, TokenGrant, describe

log = logging.getLogger(__name__)

# TikTok reports the UK as "GB"; a connection's shops must include one of its market.
MARKET_REGIONS = {"US": frozenset({"US"}), "UK": frozenset({"GB", "UK"})}
WEBHOOK_EVENTS = ("SELLER_DEAUTHORIZATION", "UPCOMING_AUTHORIZATION_EXPIRATION")


def from_unix(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def store_grant(ctx: BrokerContext, conn: Connection, grant: TokenGrant, now: datetime) -> None:
    """Encrypt and store a grant's tokens on `conn` (caller holds the row lock)."""
    register_secret(grant.access_token)
    register_secret(grant.refresh_token)
    conn.access_token_enc = ctx.cipher.encrypt(conn.id, "access", grant.access_token)
    conn.refresh_token_enc = ctx.cipher.encrypt(conn.id, "refresh", grant.refresh_token)
    conn.access_expires_at = from_unix(grant.access_token_expire_in)
    conn.refresh_expires_at = from_unix(grant.refresh_token_expire_in)
    conn.token_generation = (conn.token_generation or 0) + 1
    conn.last_refreshed_at = now


def _revoked_since(conn: Connection, was_revoked: bool) -> bool:
    """Was `conn` revoked after the callback consumed its state?"""
    return conn.status == Status.REVOKED and not was_revoked


@dataclass(frozen=True)
class CallbackResult:
    connection: ConnectionOut


class ConnectionService:
    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx

    async def _new_link(self, session: AsyncSession, conn: Connection) -> tuple[str, datetime]:
        state = new_state()
        expires = self.ctx.clock() + timedelta(seconds=self.ctx.settings.oauth_state_ttl_seconds)
        await repo.drop_unused_states(session, conn.id)
        await repo.add_state(session, hash_state(state), conn.id, expires)
        return self.ctx.tiktok.authorize_url(conn.market, state), expires

    async def create(self, session: AsyncSession, name: str, market: str) -> ConnectionCreated:
        conn = await repo.add_connection(session, str(uuid.uuid4()), name, market)
        url, expires = await self._new_link(session, conn)
        fresh = await repo.get_connection(session, conn.id)
        assert fresh is not None
        out = ConnectionOut.of(fresh)
        log.info("connection created", extra={"connection_id": out.id, "market": market})
        return ConnectionCreated(
            **out.model_dump(), authorize_url=url, authorize_url_expires_at=expires
        )

    async def reauthorize(self, session: AsyncSession, connection_id: str) -> AuthorizeLink:
        conn = await repo.lock_connection(session, connection_id)
        if conn is None:
            raise NotFound(f"connection {connection_id} does not exist")
        url, expires = await self._new_link(session, conn)
        return AuthorizeLink(
            connection_id=connection_id, authorize_url=url, authorize_url_expires_at=expires
        )

    async def list_all(self, session: AsyncSession) -> list[ConnectionOut]:
        return [ConnectionOut.of(c) for c in await repo.list_connections(session)]

    async def get(self, session: AsyncSession, connection_id: str) -> ConnectionOut:
        conn = await repo.get_connection(session, connection_id)
        if conn is None:
            raise NotFound(f"connection {connection_id} does not exist")
        return ConnectionOut.of(conn)

    async def delete(self, session: AsyncSession, connection_id: str) -> ConnectionOut:
        """Revoke: erase the tokens, invalidate open links, emit `connection.revoked` once."""
        conn = await repo.lock_connection(session, connection_id)
        if conn is None:
            raise NotFound(f"connection {connection_id} does not exist")
        await repo.drop_unused_states(session, conn.id)
        event = transitions.revoke(conn, transitions.OPERATOR_DELETED)
        await queue(session, event)
        await session.flush()
        fresh = await repo.get_connection(session, connection_id)
        assert fresh is not None
        if event is not None:  # a repeated DELETE changes nothing and logs nothing
            log.info("connection revoked", extra={"connection_id": connection_id})
        return ConnectionOut.of(fresh)

    async def complete_authorization(self, code: str | None, state: str | None) -> CallbackResult:
        """The OAuth callback: consume the state, exchange the code, fetch shops, store.

        Owns its transactions (the one exception to the rule in the module docstring):
        consume-the-state commits before TikTok is called, the grant is stored after.
        """
        if not code or not state:
            raise BadState(StateProblem.MISSING)
        now = self.ctx.clock()
        async with session_scope(self.ctx.sessions) as session:
            row = await repo.lock_state(session, hash_state(state))
            problem = check_state(row, now)
            if problem is not None:
                log.info("oauth callback refused", extra={"problem": problem.value})
                raise BadState(problem)
            assert row is not None
            # Registered only once the state is valid: a caller without a live state link
            # must not grow the scrubber's registry (the code is single use anyway).
            register_secret(code)
            # Consumed before TikTok is called: TikTok codes are single-use too, and a
            # concurrent replay of the same redirect must fail here, not at TikTok.
            row.used_at = now
            connection_id = row.connection_id
            conn = await repo.get_connection(session, connection_id)
            assert conn is not None  # states cascade with their connection
            market = conn.market
            # A revocation that lands while TikTok answers must win (see _store_authorization).
            was_revoked = conn.status == Status.REVOKED

        try:
            grant = await self.ctx.tiktok.exchange_code(code)
            register_secret(grant.access_token)
            register_secret(grant.refresh_token)
            shops = await self.ctx.tiktok.authorized_shops(grant.access_token)
        except TikTokAuthError as err:
            reason = f"TikTok refused the authorization: {describe(err, code)}"
            await self._record_failure(connection_id, reason, was_revoked)
            log.warning(
                "authorization failed",
                extra={"connection_id": connection_id, "tiktok_code": err.code},
            )
            raise AuthorizationFailed(reason) from None
        if not any(s.region.upper() in MARKET_REGIONS[market] for s in shops):
            # E.g. a UK connection approved with a US seller account: keep it pending.
            found = ", ".join(sorted({s.region for s in shops})) or "none"
            reason = (
                f"the seller who approved has no {market} shop (shop regions: {found}); "
                f"re-authorize with the {market} seller account"
            )
            await self._record_failure(connection_id, reason, was_revoked)
            log.warning(
                "authorization for the wrong market", extra={"connection_id": connection_id}
            )
            raise AuthorizationFailed(reason)
        out = await self._store_authorization(connection_id, grant, shops, was_revoked)
        await self._subscribe_webhooks(connection_id, grant.access_token, shops)
        return CallbackResult(out)

    async def _subscribe_webhooks(
        self, connection_id: str, access_token: str, shops: list[AuthorizedShop]
    ) -> None:
        """Best effort: a failed subscription must not undo a good authorization."""
        address = self.ctx.settings.tiktok_webhook_address
        if not address:
            return
        for shop in shops:
            for event_type in WEBHOOK_EVENTS:
                try:
                    await self.ctx.tiktok.subscribe_webhook(access_token, shop, event_type, address)
                except TikTokAuthError as err:
                    log.warning(
                        "webhook subscription failed",
                        extra={
                            "connection_id": connection_id,
                            "shop_id": shop.id,
                            "event_type": event_type,
                            "error": str(err),
                        },
                    )

    async def _record_failure(self, connection_id: str, reason: str, was_revoked: bool) -> None:
        async with session_scope(self.ctx.sessions) as session:
            conn = await repo.lock_connection(session, connection_id)
            if conn is not None and not _revoked_since(conn, was_revoked):
                transitions.authorization_failed(conn, reason)

    async def _store_authorization(
        self,
        connection_id: str,
        grant: TokenGrant,
        shops: list[AuthorizedShop],
        was_revoked: bool,
    ) -> ConnectionOut:
        now = self.ctx.clock()
        async with session_scope(self.ctx.sessions) as session:
            conn = await repo.lock_connection(session, connection_id)
            if conn is None:
                raise NotFound(f"connection {connection_id} was deleted during authorization")
            if _revoked_since(conn, was_revoked):
                # DELETE or SELLER_DEAUTHORIZATION after the state was consumed: storing
                # this grant would silently undo the revocation (and its event).
                log.warning(
                    "authorization dropped: revoked meanwhile",
                    extra={"connection_id": connection_id},
                )
                raise RevokedDuringAuthorization()
            store_grant(self.ctx, conn, grant, now)
            await repo.replace_shops(session, conn, shops)  # refreshes conn.shops
            event = transitions.authorize(
                conn,
                now=now,
                seller_name=grant.seller_name,
                seller_base_region=grant.seller_base_region,
                open_id=grant.open_id,
                granted_scopes=list(grant.granted_scopes),
            )
            await queue(session, event)
            await session.flush()
            out = ConnectionOut.of(conn)
        log.info(
            "connection authorized",
            extra={"connection_id": connection_id, "shops": len(shops), "market": out.market},
        )
        return out

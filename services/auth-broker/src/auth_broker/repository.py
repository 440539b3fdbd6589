"""Every query of auth-broker. Functions only `flush()`; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import any_, bindparam, delete, select
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from auth_broker.models import LEASABLE, Connection, OAuthState, Shop, Status, WebhookReceipt
from auth_broker.tiktok import AuthorizedShop


async def add_connection(
    session: AsyncSession, connection_id: str, name: str, market: str
) -> Connection:
    conn = Connection(
        id=connection_id,
        name=name,
        market=market,
        status=Status.PENDING,
        granted_scopes=[],
        token_generation=0,
    )
    session.add(conn)
    await session.flush()
    return conn


async def get_connection(session: AsyncSession, connection_id: str) -> Connection | None:
    return await session.scalar(
        select(Connection)
        .where(Connection.id == connection_id)
        .options(selectinload(Connection.shops))
        .execution_options(populate_existing=True)
    )


@dataclass(frozen=True)
class LeaseShop:
    shop_id: str
    name: str
    region: str
    cipher: str


@dataclass(frozen=True)
class LeaseView:
    """What a lease of a still-valid token needs of a connection, as one statement read it."""

    market: str
    status: str
    status_reason: str | None
    token_generation: int
    access_token_enc: str | None
    access_expires_at: datetime | None
    shops: tuple[LeaseShop, ...]


# Built once: the statement cache then compiles it once per process, not per lease.
_LEASE_VIEWS = (
    select(
        Connection.id,
        Connection.market,
        Connection.status,
        Connection.status_reason,
        Connection.token_generation,
        Connection.access_token_enc,
        Connection.access_expires_at,
        Shop.shop_id,
        Shop.name,
        Shop.region,
        Shop.cipher,
    )
    .outerjoin(Shop, Shop.connection_id == Connection.id)
    .where(Connection.id == any_(bindparam("ids", type_=ARRAY(UUID(as_uuid=False)))))
    .order_by(Connection.id, Shop.shop_id)
)


async def lease_views(session: AsyncSession, connection_ids: Sequence[str]) -> dict[str, LeaseView]:
    """Lease columns and shops of these connections in ONE statement (one snapshot), no lock.

    The lease's fast path: no ORM objects, one round trip for the row and its shops, and for
    every lease that arrived while the previous read ran (`leasing._Reads`). Connections
    that do not exist are absent from the result. Ids must be UUIDs (the column's type).
    """
    rows = (await session.execute(_LEASE_VIEWS, {"ids": list(connection_ids)})).all()
    grouped: dict[str, list[Any]] = {}
    for r in rows:
        grouped.setdefault(r.id, []).append(r)
    return {
        cid: LeaseView(
            market=rs[0].market,
            status=rs[0].status,
            status_reason=rs[0].status_reason,
            token_generation=rs[0].token_generation,
            access_token_enc=rs[0].access_token_enc,
            access_expires_at=rs[0].access_expires_at,
            shops=tuple(
                LeaseShop(r.shop_id, r.name, r.region, r.cipher)
                for r in rs
                if r.shop_id is not None
            ),
        )
        for cid, rs in grouped.items()
    }


async def lock_connection(
    session: AsyncSession, connection_id: str, *, skip_locked: bool = False
) -> Connection | None:
    """The row under `SELECT ... FOR UPDATE` (None if missing or, with skip_locked, busy)."""
    stmt = (
        select(Connection)
        .where(Connection.id == connection_id)
        .with_for_update(skip_locked=skip_locked)
        .options(selectinload(Connection.shops))
        .execution_options(populate_existing=True)
    )
    return await session.scalar(stmt)


async def list_connections(session: AsyncSession) -> Sequence[Connection]:
    result = await session.scalars(
        select(Connection)
        .options(selectinload(Connection.shops))
        .order_by(Connection.created_at, Connection.id)
    )
    return result.all()


async def replace_shops(
    session: AsyncSession, conn: Connection, shops: Sequence[AuthorizedShop]
) -> None:
    await session.execute(delete(Shop).where(Shop.connection_id == conn.id))
    for s in shops:
        session.add(
            Shop(
                connection_id=conn.id,
                shop_id=s.id,
                name=s.name,
                region=s.region,
                seller_type=s.seller_type,
                cipher=s.cipher,
                code=s.code,
            )
        )
    await session.flush()
    await session.refresh(conn, attribute_names=["shops"])


async def add_state(
    session: AsyncSession, state_hash: str, connection_id: str, expires_at: datetime
) -> None:
    session.add(
        OAuthState(state_hash=state_hash, connection_id=connection_id, expires_at=expires_at)
    )
    await session.flush()


async def lock_state(session: AsyncSession, state_hash: str) -> OAuthState | None:
    """Lock the state row so two callbacks racing with the same state see it used once."""
    return await session.scalar(
        select(OAuthState).where(OAuthState.state_hash == state_hash).with_for_update()
    )


async def drop_unused_states(session: AsyncSession, connection_id: str) -> None:
    """A new authorize link (or a deletion) makes the older, unused ones unknown."""
    await session.execute(
        delete(OAuthState).where(
            OAuthState.connection_id == connection_id, OAuthState.used_at.is_(None)
        )
    )


async def due_for_refresh(
    session: AsyncSession, before: datetime, limit: int = 100
) -> list[tuple[str, int, datetime | None, datetime | None]]:
    """(id, generation, access expiry, last refresh) of leasable connections ending before `before`."""
    rows = await session.execute(
        select(
            Connection.id,
            Connection.token_generation,
            Connection.access_expires_at,
            Connection.last_refreshed_at,
        )
        .where(
            Connection.status.in_([s.value for s in LEASABLE]),
            Connection.access_expires_at < before,
            Connection.refresh_token_enc.is_not(None),
        )
        .order_by(Connection.access_expires_at)
        .limit(limit)
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def connections_for_shop(session: AsyncSession, shop_id: str) -> Sequence[Connection]:
    """Connections covering `shop_id`, locked (webhooks change their status)."""
    result = await session.scalars(
        select(Connection)
        .join(Shop, Shop.connection_id == Connection.id)
        .where(Shop.shop_id == shop_id)
        .order_by(Connection.id)
        .with_for_update(of=Connection)
        .options(selectinload(Connection.shops))
        .execution_options(populate_existing=True)
    )
    return result.all()


async def record_webhook(
    session: AsyncSession, notification_id: str, event_type: int, shop_id: str | None
) -> bool:
    """True the first time a notification id is seen; False for TikTok's retries."""
    stmt = (
        pg_insert(WebhookReceipt)
        .values(notification_id=notification_id, event_type=event_type, shop_id=shop_id)
        .on_conflict_do_nothing(index_elements=["notification_id"])
        .returning(WebhookReceipt.notification_id)
    )
    return (await session.scalar(stmt)) is not None


async def connection_ids_with_tokens(session: AsyncSession) -> list[str]:
    result = await session.scalars(
        select(Connection.id)
        .where(
            (Connection.access_token_enc.is_not(None)) | (Connection.refresh_token_enc.is_not(None))
        )
        .order_by(Connection.id)
    )
    return list(result.all())


async def purge_old(
    session: AsyncSession, states_before: datetime, receipts_before: datetime
) -> tuple[int, int]:
    """Drop OAuth states expired before `states_before` and webhook receipts older than `receipts_before`."""
    states = await session.execute(delete(OAuthState).where(OAuthState.expires_at < states_before))
    receipts = await session.execute(
        delete(WebhookReceipt).where(WebhookReceipt.received_at < receipts_before)
    )
    return int(getattr(states, "rowcount", 0) or 0), int(getattr(receipts, "rowcount", 0) or 0)


async def authorizations_ending(
    session: AsyncSession, before: datetime, limit: int = 100
) -> list[str]:
    """Active connections whose refresh token (= the authorization) ends before `before`."""
    result = await session.scalars(
        select(Connection.id)
        .where(
            Connection.status == Status.ACTIVE.value,
            Connection.refresh_expires_at < before,
        )
        .order_by(Connection.refresh_expires_at)
        .limit(limit)
    )
    return list(result.all())

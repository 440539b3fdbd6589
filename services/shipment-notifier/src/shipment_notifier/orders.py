"""Orders as the notifier knows them: from the order events of order-ingest, or fetched
("Get Order Detail 202507") when a shipment names an order no event has shown yet.

The order object is TikTok's ("Get Order Detail 202309": `status`, `fulfillment_type`,
`delivery_option_id`, `packages[{id}]`, `line_items[{id}]`, `split_or_combine_tag`, times in
Unix seconds). Events of one order may arrive out of order: the newest `update_time` wins
and a cancellation sticks. A cancellation rejects the order's shipments that wait (queued or
deferred: no TikTok call); a hold that ended wakes the deferred ones at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.events import OrderCancelled, OrderReceived, OrderUpdated

from shipment_notifier import outcomes
from shipment_notifier.models import KnownOrder

CANCELLED = "CANCELLED"
# "ON_HOLD lasts one hour after payment"; an UNPAID order has not even started it.
HOLD_STATUSES = outcomes.HOLD_STATUSES
HOLD = timedelta(hours=1)
SELLER = "FULFILLMENT_BY_SELLER"


def _ts(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC) if value else None
    except (TypeError, ValueError):
        return None


def hold_ends(order: KnownOrder) -> datetime | None:
    """When the cancellation hold ends, if the order is still in it (else None).

    TikTok's status is the authority: once it shows the order past ON_HOLD the hold is over
    on TikTok's clock whatever ours says. While UNPAID or ON_HOLD it ends at the event's
    `cancellable_until`, else one hour after payment (or creation, not yet paid)."""
    if order.status not in HOLD_STATUSES:
        return None
    if order.cancellable_until is not None:
        return order.cancellable_until
    start = _ts(order.data.get("paid_time")) or _ts(order.data.get("create_time"))
    return (start or datetime.now(UTC)) + HOLD


def line_item_ids(order: KnownOrder) -> list[str]:
    items = order.data.get("line_items") or []
    return [str(i["id"]) for i in items if isinstance(i, Mapping) and i.get("id")]


def package_ids(order: KnownOrder) -> list[str]:
    packages = order.data.get("packages") or []
    return [str(p["id"]) for p in packages if isinstance(p, Mapping) and p.get("id")]


def shipped_tracking(order: KnownOrder) -> str | None:
    """The tracking number TikTok shows for the order (set once it was shipped)."""
    value = order.data.get("tracking_number")
    return str(value) if value else None


async def get(session: AsyncSession, order_id: str) -> KnownOrder | None:
    return await session.get(KnownOrder, order_id)


async def store(
    session: AsyncSession,
    *,
    connection_id: str,
    shop_id: str,
    order: Mapping[str, Any],
    update_time: datetime,
    cancellable_until: datetime | None,
    fulfillment_type: str,
    status: str,
) -> None:
    """Upsert; an older update never replaces a newer one, nothing replaces a cancellation."""
    values = {
        "order_id": str(order.get("id")),
        "connection_id": connection_id,
        "shop_id": shop_id,
        "status": status,
        "update_time": update_time,
        "cancellable_until": cancellable_until,
        "fulfillment_type": fulfillment_type,
        "data": dict(order),
        "updated_at": datetime.now(UTC),
    }
    stmt = insert(KnownOrder).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[KnownOrder.order_id],
        set_={k: stmt.excluded[k] for k in values if k != "order_id"},
        where=(KnownOrder.update_time <= stmt.excluded.update_time)
        & (KnownOrder.status != CANCELLED),
    )
    await session.execute(stmt)


def fields_of(order: Mapping[str, Any]) -> dict[str, Any]:
    """`store` arguments from a TikTok order object read from the API."""
    update_time = _ts(order.get("update_time")) or datetime.now(UTC)
    status = str(order.get("status") or "")
    start = _ts(order.get("paid_time")) or _ts(order.get("create_time"))
    until = start + HOLD if start and status in HOLD_STATUSES else None
    return {
        "order": order,
        "update_time": update_time,
        "cancellable_until": until,
        "fulfillment_type": str(order.get("fulfillment_type") or ""),
        "status": status,
    }


# --- order events (tiktok.order-received.v1) ---------------------------------------------


_WAITING = text(
    "SELECT id FROM shipments WHERE order_id = :order AND status IN ('queued', 'deferred')"
    " FOR UPDATE"
)
_WAKE = text(
    "UPDATE shipments SET due_at = now(), updated_at = now()"
    " WHERE order_id = :order AND status = 'deferred' AND due_at > now()"
)


async def _apply(
    session: AsyncSession, data: OrderReceived | OrderUpdated | OrderCancelled
) -> None:
    status = CANCELLED if isinstance(data, OrderCancelled) else data.status
    await store(
        session,
        connection_id=data.connection_id,
        shop_id=data.shop_id,
        order={**data.order, "id": data.order_id},
        update_time=data.update_time,
        cancellable_until=data.cancellable_until,
        fulfillment_type=data.fulfillment_type,
        status=status,
    )
    if status == CANCELLED:
        ids = [str(r[0]) for r in await session.execute(_WAITING, {"order": data.order_id})]
        for shipment_id in ids:
            await outcomes.reject(
                session,
                shipment_id,
                code="cancelled",
                reason=f"order {data.order_id} was cancelled"
                + (
                    f" ({data.cancel_reason})"
                    if isinstance(data, OrderCancelled) and data.cancel_reason
                    else ""
                ),
            )
    elif status not in HOLD_STATUSES:
        await session.execute(_WAKE, {"order": data.order_id})


async def on_order_received(session: AsyncSession, data: OrderReceived) -> None:
    await _apply(session, data)


async def on_order_updated(session: AsyncSession, data: OrderUpdated) -> None:
    await _apply(session, data)


async def on_order_cancelled(session: AsyncSession, data: OrderCancelled) -> None:
    await _apply(session, data)

"""Orders by id and version: the one place orders are written, and their events.

`store(session, orders, ...)` upserts a batch of TikTok order objects ("Get Order List
202309" / "Get Order Detail 202309" shapes) and queues, in the same transaction, the event
each change announces (`order.received` / `order.updated` / `order.cancelled` on
`tts_common.events.ORDER_RECEIVED`, key = order id). It only flushes; the entrypoint commits.

- The version is TikTok's `update_time`: an older or equal one never overwrites a newer one
  (webhooks arrive out of order, polls overlap). The one exception at an equal version is the
  hold ending by time alone (`ready_to_ship` flips), which is a change of our view.
- Every store takes one transaction lock (`pg_advisory_xact_lock`) first and holds it until
  the commit: each insert or version change takes the next `orders_seq` value under it, so
  the sequence order is the commit order and the pull API's cursor neither skips nor repeats
  a row; and deciding what changed (and which event it is) cannot race another writer.
- Event ids are derived from (order, version, type, hold state): a batch replayed after a
  crash before its commit yields the same ids, and consumers' inboxes absorb a relay resend.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.events import (
    ORDER_RECEIVED,
    OrderCancelled,
    OrderReceived,
    OrderUpdated,
    make_event,
)
from tts_common.outbox import add_events

from order_ingest.models import (
    HELD_STATUSES,
    HOLD_SECONDS,
    PERSONAL_FIELDS,
    SHIPPABLE_STATUSES,
    STATUSES,
)

SOURCE = "order-ingest"
# Fixed namespace of the event ids (uuid5): never change it, or replays get new ids.
EVENT_NAMESPACE = uuid.UUID("0b5d6f9e-1f55-4a51-8d0e-5e0c3c1b7a42")
# Any constant works; it names the lock that orders the `orders_seq` values.
SEQ_LOCK = 0x6F72646572735F71  # "orders_q"


@dataclass(frozen=True)
class Hold:
    cancellable_until: int | None
    ready_to_ship: bool


def hold_of(order: Mapping[str, Any], now: float) -> Hold:
    """The one-hour hold (docs/orders.md, "The hold").

    The hour runs from payment (TikTok's ON_HOLD lasts one hour after payment; an order paid
    when placed starts it at `create_time`). It is over when TikTok's status says so (no
    longer UNPAID or ON_HOLD) AND the hour has passed. "Now" is our clock, or TikTok's when
    the order's own `update_time` proves TikTok's clock is ahead of ours.
    """
    status = str(order.get("status", ""))
    created = int(order.get("create_time") or 0)
    paid = int(order.get("paid_time") or 0)
    start = max(created, paid)
    until = start + HOLD_SECONDS if start else None
    if status == "UNPAID":
        return Hold(until, False)
    reference = max(now, float(order.get("update_time") or 0))
    over = status not in HELD_STATUSES and (until is None or reference >= until)
    return Hold(until, over and status in SHIPPABLE_STATUSES)


@dataclass
class Stored:
    """What a `store` call did: ids of new and changed orders and the events queued."""

    received: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return len(self.received) + len(self.updated) + len(self.cancelled)


def split_personal(order: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(the order without the buyer's personal data, that data or None)."""
    doc = {k: v for k, v in order.items() if k not in PERSONAL_FIELDS}
    personal = {k: order[k] for k in PERSONAL_FIELDS if order.get(k) not in (None, "", {})}
    return doc, personal or None


def _ts(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds else None


def event_id(order_id: str, update_time: int, status: str, type_: str, ready: bool) -> uuid.UUID:
    key = f"{order_id}|{update_time}|{status}|{type_}|{int(ready)}"
    return uuid.uuid5(EVENT_NAMESPACE, key)


def _rank(status: str) -> int:
    return STATUSES.index(status) if status in STATUSES else -1


def is_newer(prior: Mapping[str, Any], status: str, version: int, ready: bool) -> bool:
    """Is (version, status, ready) a change over the stored row?

    TikTok's `update_time` has whole seconds, so two changes of one second share it: at an
    equal version, a status later in TikTok's flow (CANCELLED last) is the newer one, and the
    same status with the hold's end (`ready_to_ship` flipping) is our view changing.
    """
    stored = int(prior["update_time"])
    if version != stored:
        return version > stored
    if status != prior["status"]:
        return _rank(status) > _rank(str(prior["status"]))
    return ready != bool(prior["ready_to_ship"])


_EXISTING = text(
    "SELECT id, status, update_time, ready_to_ship FROM orders "
    "WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"
)

_UPSERT = text(
    """
    INSERT INTO orders (id, import_id, connection_id, shop_id, status, create_time,
        update_time, fulfillment_type, shipping_type, delivery_option_id, cancellable_until,
        ready_to_ship, doc, personal)
    VALUES (:id, :import_id, :connection_id, :shop_id, :status, :create_time, :update_time,
        :fulfillment_type, :shipping_type, :delivery_option_id, :cancellable_until,
        :ready_to_ship, CAST(:doc AS jsonb), CAST(:personal AS jsonb))
    ON CONFLICT (id) DO UPDATE SET
        status = EXCLUDED.status,
        update_time = EXCLUDED.update_time,
        fulfillment_type = EXCLUDED.fulfillment_type,
        shipping_type = EXCLUDED.shipping_type,
        delivery_option_id = EXCLUDED.delivery_option_id,
        cancellable_until = EXCLUDED.cancellable_until,
        ready_to_ship = EXCLUDED.ready_to_ship,
        doc = EXCLUDED.doc,
        personal = CASE WHEN orders.personal_purged_at IS NOT NULL THEN NULL
                        ELSE nullif(coalesce(orders.personal, '{}'::jsonb)
                                    || coalesce(EXCLUDED.personal, '{}'::jsonb), '{}'::jsonb)
                   END,
        seq = nextval('orders_seq'),
        updated_at = now()
    WHERE orders.update_time < EXCLUDED.update_time
       OR (orders.update_time = EXCLUDED.update_time
           AND (array_position(CAST(:ranks AS text[]), EXCLUDED.status)
                    > array_position(CAST(:ranks AS text[]), orders.status)
                OR (orders.status = EXCLUDED.status
                    AND orders.ready_to_ship IS DISTINCT FROM EXCLUDED.ready_to_ship)))
    """
)

_DELETE_ITEMS = text("DELETE FROM order_line_items WHERE order_id = ANY(:ids)")
_INSERT_ITEM = text(
    """
    INSERT INTO order_line_items (order_id, id, sku_id, product_id, seller_sku, package_id,
        package_status, display_status, sale_price, currency)
    VALUES (:order_id, :id, :sku_id, :product_id, :seller_sku, :package_id, :package_status,
        :display_status, :sale_price, :currency)
    ON CONFLICT (order_id, id) DO NOTHING
    """
)


def _newest(orders: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """One order per id: the highest update_time of the batch."""
    out: dict[str, Mapping[str, Any]] = {}
    for order in orders:
        oid = str(order["id"])
        seen = out.get(oid)
        if seen is None or int(order.get("update_time") or 0) > int(seen.get("update_time") or 0):
            out[oid] = order
    return out


async def existing_ids(session: AsyncSession, ids: Sequence[str]) -> set[str]:
    rows = await session.execute(text("SELECT id FROM orders WHERE id = ANY(:ids)"), {"ids": ids})
    return {r[0] for r in rows}


async def store(
    session: AsyncSession,
    orders: Iterable[Mapping[str, Any]],
    *,
    connection_id: str,
    shop_id: str,
    import_id: str | None,
    now: float,
) -> Stored:
    """Upsert `orders` (TikTok order objects) and queue their events; flush only."""
    result = Stored()
    batch = _newest(orders)
    if not batch:
        return result
    ids = sorted(batch)
    # The sequence lock, held to the commit: it orders the `seq` values by commit, and it
    # makes read-decide-write one step, so two writers of one new order (a webhook and a
    # pass) cannot both announce it as received.
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SEQ_LOCK})
    found = (await session.execute(_EXISTING, {"ids": ids})).mappings().all()
    before: dict[str, dict[str, Any]] = {str(r["id"]): dict(r) for r in found}
    rows: list[dict[str, Any]] = []
    events: list[tuple[str, str | None, Any]] = []
    changed_ids: list[str] = []
    for oid in ids:
        order = batch[oid]
        version = int(order.get("update_time") or 0)
        hold = hold_of(order, now)
        status = str(order.get("status", ""))
        prior = before.get(oid)
        if prior is not None:
            if not is_newer(prior, status, version, hold.ready_to_ship):
                result.unchanged += 1
                continue
        doc, personal = split_personal(order)
        rows.append(
            {
                "id": oid,
                "import_id": import_id,
                "connection_id": connection_id,
                "shop_id": shop_id,
                "status": status,
                "create_time": int(order.get("create_time") or 0),
                "update_time": version,
                "fulfillment_type": order.get("fulfillment_type"),
                "shipping_type": order.get("shipping_type"),
                "delivery_option_id": order.get("delivery_option_id"),
                "cancellable_until": hold.cancellable_until,
                "ready_to_ship": hold.ready_to_ship,
                "doc": orjson.dumps(doc).decode(),
                "personal": orjson.dumps(personal).decode() if personal is not None else None,
            }
        )
        changed_ids.append(oid)
        if prior is None:
            type_, model, extra = "order.received", OrderReceived, {}
            result.received.append(oid)
        elif status == "CANCELLED" and prior["status"] != "CANCELLED":
            type_, model = "order.cancelled", OrderCancelled
            extra = {"cancel_reason": order.get("cancel_reason")}
            result.cancelled.append(oid)
        else:
            type_, model = "order.updated", OrderUpdated
            extra = {"previous_status": prior["status"]}
            result.updated.append(oid)
        data = model(
            connection_id=connection_id,
            shop_id=shop_id,
            order_id=oid,
            status=status,
            update_time=_ts(version) or datetime.fromtimestamp(0, UTC),
            cancellable_until=_ts(hold.cancellable_until),
            fulfillment_type=str(order.get("fulfillment_type") or ""),
            order={**order, "ready_to_ship": hold.ready_to_ship},
            **extra,
        )
        event = make_event(type_, SOURCE, oid, data)
        event = event.model_copy(
            update={"id": str(event_id(oid, version, status, type_, hold.ready_to_ship))}
        )
        events.append((ORDER_RECEIVED, oid, event))
    if not rows:
        return result
    ranks = list(STATUSES)
    await session.execute(_UPSERT, [{**row, "ranks": ranks} for row in rows])
    await session.execute(_DELETE_ITEMS, {"ids": changed_ids})
    items = [_item(oid, li) for oid in changed_ids for li in batch[oid].get("line_items") or []]
    if items:
        await session.execute(_INSERT_ITEM, items)
    await add_events(session, events)
    await session.flush()
    return result


def _item(order_id: str, li: Mapping[str, Any]) -> dict[str, Any]:
    def s(name: str) -> str | None:
        value = li.get(name)
        return None if value is None else str(value)

    return {
        "order_id": order_id,
        "id": str(li["id"]),
        "sku_id": s("sku_id"),
        "product_id": s("product_id"),
        "seller_sku": s("seller_sku"),
        "package_id": s("package_id"),
        "package_status": s("package_status"),
        "display_status": s("display_status"),
        "sale_price": s("sale_price"),
        "currency": s("currency"),
    }

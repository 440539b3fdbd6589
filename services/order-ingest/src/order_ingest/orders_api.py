"""Reads behind `GET /v1/orders` and `GET /v1/orders/{id}` (the OMS pull hand-off).

The cursor is the update sequence (`orders.seq`): every insert or version change of an
order takes the next value, in commit order (order_ingest.store). A page is "the rows after
the cursor, in sequence order", so a client paging while orders change never misses one
(a change lands after its position) and never sees the same version twice; an order that
changes after the client passed it comes again, later, with its newer version. At the end
`next_cursor` is where to continue from next time.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.errors import BadRequest, NotFound

_PREFIX = "s1:"
_COLUMNS = (
    "id, CAST(import_id AS text) AS import_id, connection_id, shop_id, status, create_time,"
    " update_time, fulfillment_type, shipping_type, delivery_option_id, cancellable_until,"
    " ready_to_ship, doc, personal, personal_purged_at, seq, received_at, updated_at"
)


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith(_PREFIX):
            raise ValueError
        value = int(raw[len(_PREFIX) :])
        if value < 0:
            raise ValueError
        return value
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(
            "cursor is not one this API returned (use next_cursor as given)", code="bad_cursor"
        ) from None


def _iso(seconds: int | None) -> str | None:
    return datetime.fromtimestamp(seconds, UTC).isoformat() if seconds else None


def view(row: Any) -> dict[str, Any]:
    """An order as the API shows it: our fields plus TikTok's order object (with the
    buyer's personal data while it is kept)."""
    doc = row.doc if isinstance(row.doc, dict) else orjson.loads(row.doc)
    personal = row.personal if isinstance(row.personal, dict | None) else orjson.loads(row.personal)
    order = {**doc, **(personal or {})}
    return {
        "id": row.id,
        "import_id": row.import_id,
        "connection_id": row.connection_id,
        "shop_id": row.shop_id,
        "status": row.status,
        "version": row.update_time,
        "create_time": _iso(row.create_time),
        "update_time": _iso(row.update_time),
        "cancellable_until": _iso(row.cancellable_until),
        "ready_to_ship": row.ready_to_ship,
        "fulfillment_type": row.fulfillment_type,
        "shipping_type": row.shipping_type,
        "delivery_option_id": row.delivery_option_id,
        "line_item_ids": [str(li.get("id")) for li in doc.get("line_items") or []],
        "package_ids": [str(p.get("id")) for p in doc.get("packages") or []],
        "personal_data_purged": row.personal_purged_at is not None,
        "seq": row.seq,
        "order": order,
    }


async def page(
    session: AsyncSession,
    *,
    cursor: str | None,
    limit: int,
    statuses: list[str],
    updated_after: int | None,
) -> dict[str, Any]:
    after = decode_cursor(cursor)
    where = ["seq > :after"]
    params: dict[str, Any] = {"after": after, "limit": limit + 1}
    if statuses:
        where.append("status = ANY(:statuses)")
        params["statuses"] = statuses
    if updated_after is not None:
        where.append("update_time > :ua")
        params["ua"] = updated_after
    rows = (
        await session.execute(
            text(
                f"SELECT {_COLUMNS} FROM orders WHERE {' AND '.join(where)} "
                "ORDER BY seq LIMIT :limit"
            ),
            params,
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1].seq if rows else after
    return {
        "orders": [view(r) for r in rows],
        "next_cursor": encode_cursor(last),
        "has_more": more,
    }


async def get(session: AsyncSession, order_id: str) -> dict[str, Any]:
    row = (
        await session.execute(
            text(f"SELECT {_COLUMNS} FROM orders WHERE id = :id"), {"id": order_id}
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"no order {order_id}", code="order_not_found")
    return view(row)

"""What one push delivery sends: its stable key and its JSON body.

A delivery is one order event (``order.received``/``order.updated``/``order.cancelled``) for
one import with a push destination. Its key — sent as `Idempotency-Key` and used as the
delivery's id — is derived from (import, event id). order-ingest derives each event's id from
the change it announces (order, ``update_time``, status, type, hold state: `store.event_id`),
so the same change reaches an OMS under the same key however often it is sent — a retry, a
redelivered or re-published event, a worker killed mid-request, a replay — while two changes
within one second of ``update_time`` (TikTok's resolution), or the hold ending, get two.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

# Fixed namespace for the delivery keys (uuid5): never change it, or every key changes.
KEY_NAMESPACE = uuid.UUID("5b0f7c1e-2d6a-4f0e-9a51-7d3c8e6f1a20")


def delivery_key(import_id: str, event_id: str) -> str:
    """The delivery's id and `Idempotency-Key`: the same inputs always give the same key."""
    return str(uuid.uuid5(KEY_NAMESPACE, f"{import_id}|{event_id}"))


def build_body(
    *,
    key: str,
    import_id: str,
    event_type: str,
    event_id: str,
    event_time: datetime,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The JSON document posted to the OMS: the Kafka event's ``data`` plus who and what.

    ``data`` is the event's payload as published (``tts_common.events``: connection, shop,
    order id, status, ``update_time``, the hold, TikTok's order object), so an OMS reading
    the push and one reading Kafka see the same fields.
    """
    return {
        "id": key,
        "type": event_type,
        "event_id": event_id,
        "time": event_time.astimezone(UTC).isoformat(),
        "import_id": import_id,
        "data": data,
    }


def encode(body: dict[str, Any]) -> bytes:
    """The raw bytes sent and signed: compact JSON, keys sorted (the same bytes each try)."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def order_created_at(data: dict[str, Any]) -> datetime | None:
    """The order's creation time (TikTok's ``create_time``, unix seconds), when the event has it.

    Retention counts an order's age from it (docs/orders.md, "Retention").
    """
    order = data.get("order")
    raw = order.get("create_time") if isinstance(order, dict) else None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        return datetime.fromtimestamp(float(raw), UTC)
    except (ValueError, OverflowError, OSError):
        return None

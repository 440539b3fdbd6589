"""HTTP API of the OMS push deliveries: their state, per order too, and replays of dead ones.

Reads need `orders:read`, replays `orders:write` (docs/orders.md, "OMS push"). No response
carries an import's push secret: the deliveries table never holds it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from tts_common.api_auth import require_scope
from tts_common.deps import SessionDep
from tts_common.errors import BadRequest, Conflict, NotFound
from tts_common.openapi import error_responses

from order_ingest.push import store

READ = [Depends(require_scope("orders:read"))]
WRITE = [Depends(require_scope("orders:write"))]
router = APIRouter(tags=["deliveries"])

Status = Literal["pending", "delivered", "dead"]
EventType = Literal["order.received", "order.updated", "order.cancelled"]


class DeliveryOut(BaseModel):
    id: str = Field(description="The delivery's Idempotency-Key, the same on every attempt")
    import_id: str
    connection_id: str
    order_id: str
    update_time: datetime = Field(description="The order version (TikTok's update_time)")
    event_type: str
    event_id: str
    status: Status
    attempts: int
    next_attempt_at: datetime | None = Field(description="When pending: the next attempt")
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(description="The OMS's last HTTP status, if any")
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    updated_at: datetime
    pii_purged_at: datetime | None = Field(description="Personal data removed (retention)")


class DeliveryDetailOut(DeliveryOut):
    body: dict[str, Any] = Field(description="The JSON document posted to the OMS")


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class OrderDeliveriesOut(BaseModel):
    order_id: str
    items: list[DeliveryOut]


class ReplayFilter(BaseModel):
    """Which dead deliveries to queue again; every field narrows the set (none: all dead)."""

    model_config = ConfigDict(extra="forbid")

    import_id: uuid.UUID | None = None
    order_id: str | None = Field(default=None, min_length=1)
    event_type: EventType | None = None
    dead_since: datetime | None = Field(
        default=None, description="Only deliveries that died (last changed) at or after this"
    )


class ReplayOut(BaseModel):
    replayed: int


def _out(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row.pop("seq", None)
    for key in ("id", "import_id"):
        row[key] = str(row[key])
    return row


def _delivery_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFound(f"no delivery {value!r}") from None


@router.get(
    "/v1/deliveries",
    dependencies=READ,
    summary="Push deliveries in queue order, filtered by status, order or import",
    response_model=DeliveryPage,
    responses=error_responses(400, 403),
)
async def list_deliveries(
    session: SessionDep,
    status: Status | None = None,
    order_id: Annotated[str | None, Query(min_length=1)] = None,
    import_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    after = None
    if cursor is not None:
        after = store.decode_cursor(cursor)
        if after is None:
            raise BadRequest("cursor is not one this API returned", code="bad_cursor")
    rows, last = await store.list_deliveries(
        session,
        status=status,
        order_id=order_id,
        import_id=str(import_id) if import_id else None,
        after_seq=after,
        limit=limit,
    )
    return {
        "items": [_out(r) for r in rows],
        "next_cursor": store.encode_cursor(last) if last is not None else None,
    }


@router.get(
    "/v1/deliveries/{delivery_id}",
    dependencies=READ,
    summary="One delivery with the body it sends",
    response_model=DeliveryDetailOut,
    responses=error_responses(403, 404),
)
async def get_delivery(delivery_id: str, session: SessionDep) -> Any:
    found = await store.get(session, _delivery_id(delivery_id))
    if found is None:
        raise NotFound(f"no delivery {delivery_id!r}")
    return _out(found)


@router.post(
    "/v1/deliveries/{delivery_id}:replay",
    dependencies=WRITE,
    summary="Queue a dead delivery again (same Idempotency-Key, a fresh retry budget)",
    response_model=DeliveryOut,
    responses=error_responses(
        403, 404, 409, described={409: "the delivery is not dead (pending or delivered)"}
    ),
)
async def replay_delivery(delivery_id: str, session: SessionDep) -> Any:
    key = _delivery_id(delivery_id)
    was = await store.replay_one(session, key)
    if was is None:
        raise NotFound(f"no delivery {delivery_id!r}")
    if was != "dead":
        raise Conflict(f"delivery {key} is {was}; only dead deliveries are replayed")
    found = await store.get(session, key)
    assert found is not None
    found.pop("body", None)
    return _out(found)


@router.post(
    "/v1/deliveries:replay",
    dependencies=WRITE,
    summary="Queue every dead delivery matching the filter again",
    response_model=ReplayOut,
    responses=error_responses(403),
)
async def replay_deliveries(session: SessionDep, body: ReplayFilter | None = None) -> Any:
    spec = body or ReplayFilter()
    count = await store.replay_dead(
        session,
        order_id=spec.order_id,
        import_id=str(spec.import_id) if spec.import_id else None,
        event_type=spec.event_type,
        dead_since=spec.dead_since,
    )
    return {"replayed": count}


@router.get(
    "/v1/orders/{order_id}/deliveries",
    dependencies=READ,
    summary="The push deliveries of one order (every import, every version), oldest first",
    response_model=OrderDeliveriesOut,
    responses=error_responses(403),
)
async def order_deliveries(order_id: str, session: SessionDep) -> Any:
    rows, _ = await store.list_deliveries(session, order_id=order_id, limit=1000)
    return {"order_id": order_id, "items": [_out(r) for r in rows]}

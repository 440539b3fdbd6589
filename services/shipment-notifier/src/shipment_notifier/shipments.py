"""Reading shipments back: one by id, a filtered list (keyset pages), unmapped carriers, and
the export's feedback records."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.errors import BadRequest, NotFound

from shipment_notifier.models import Feedback, Shipment


class ShipmentOut(BaseModel):
    id: str
    order_id: str
    tracking_number: str
    carrier: str | None
    shipping_provider_id: str | None  # as given
    provider_id: str | None  # the TikTok provider it resolved to
    shipped_at: datetime
    line_item_ids: list[str] | None
    shipment_id: str | None  # the OMS's own reference
    source: str
    export_id: str | None
    status: str
    action: str | None
    package_id: str | None
    code: str | None
    reason: str | None
    request_id: str | None
    deferred_until: datetime | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    notified_at: datetime | None


class ShipmentPage(BaseModel):
    shipments: list[ShipmentOut]
    next_page_token: str | None


def to_out(s: Shipment) -> ShipmentOut:
    return ShipmentOut(
        id=s.id,
        order_id=s.order_id,
        tracking_number=s.tracking_number,
        carrier=s.carrier,
        shipping_provider_id=s.shipping_provider_id,
        provider_id=s.provider_id,
        shipped_at=s.shipped_at,
        line_item_ids=s.line_item_ids,
        shipment_id=s.external_id,
        source=s.source,
        export_id=s.export_id,
        status=s.status,
        action=s.action,
        package_id=s.package_id,
        code=s.code,
        reason=s.reason,
        request_id=s.request_id,
        deferred_until=s.deferred_until,
        attempts=s.attempts,
        created_at=s.created_at,
        updated_at=s.updated_at,
        notified_at=s.notified_at,
    )


async def get(session: AsyncSession, shipment_id: str) -> ShipmentOut:
    try:
        uuid.UUID(shipment_id)
    except ValueError:
        raise NotFound(f"no shipment {shipment_id}", code="shipment_not_found") from None
    found = await session.get(Shipment, shipment_id)
    if found is None:
        raise NotFound(f"no shipment {shipment_id}", code="shipment_not_found")
    return to_out(found)


def _token(s: Shipment) -> str:
    return base64.urlsafe_b64encode(f"{s.created_at.isoformat()}|{s.id}".encode()).decode()


def _untoken(token: str) -> tuple[datetime, str]:
    try:
        at, sid = base64.urlsafe_b64decode(token.encode()).decode().split("|", 1)
        return datetime.fromisoformat(at), str(uuid.UUID(sid))
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(
            "page_token is not one this API returned", code="invalid_page_token"
        ) from None


async def list_page(
    session: AsyncSession,
    *,
    status: str | None,
    order_id: str | None,
    export_id: str | None,
    code: str | None,
    tracking_number: str | None,
    created_from: datetime | None,
    created_to: datetime | None,
    limit: int,
    page_token: str | None,
) -> ShipmentPage:
    query = select(Shipment)
    if status:
        query = query.where(Shipment.status == status)
    if order_id:
        query = query.where(Shipment.order_id == order_id)
    if export_id:
        try:
            uuid.UUID(export_id)
        except ValueError:
            return ShipmentPage(shipments=[], next_page_token=None)
        query = query.where(Shipment.export_id == export_id)
    if code:
        query = query.where(Shipment.code == code)
    if tracking_number:
        query = query.where(Shipment.tracking_number == tracking_number)
    if created_from:
        query = query.where(Shipment.created_at >= created_from)
    if created_to:
        query = query.where(Shipment.created_at < created_to)
    if page_token:
        at, sid = _untoken(page_token)
        query = query.where(
            or_(Shipment.created_at > at, and_(Shipment.created_at == at, Shipment.id > sid))
        )
    rows = list(
        await session.scalars(query.order_by(Shipment.created_at, Shipment.id).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return ShipmentPage(
        shipments=[to_out(s) for s in rows], next_page_token=_token(rows[-1]) if more else None
    )


class UnmappedCarrier(BaseModel):
    carrier: str
    shipments: int
    last_reason: str | None


async def unmapped(session: AsyncSession, export_id: str) -> list[UnmappedCarrier]:
    """Carrier names of the export's shipments that resolved to no TikTok provider."""
    rows = await session.execute(
        select(Shipment.carrier, func.count(), func.max(Shipment.reason))
        .where(
            Shipment.export_id == export_id,
            Shipment.code == "unknown_carrier",
            Shipment.status == "rejected",
            Shipment.carrier.is_not(None),
        )
        .group_by(Shipment.carrier)
        .order_by(func.count().desc())
    )
    return [UnmappedCarrier(carrier=str(r[0]), shipments=r[1], last_reason=r[2]) for r in rows]


FEEDBACK_FIELDS = (
    "shipment_id",
    "order_id",
    "tracking_number",
    "outcome",
    "action",
    "code",
    "message",
    "request_id",
    "at",
)


async def feedback(session: AsyncSession, export_id: str) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(Feedback).where(Feedback.export_id == export_id).order_by(Feedback.id)
    )
    return [
        {
            "shipment_id": f.shipment_id,
            "order_id": f.order_id,
            "tracking_number": f.tracking_number,
            "outcome": f.outcome,
            "action": f.action,
            "code": f.code,
            "message": f.message,
            "request_id": f.request_id,
            "at": f.at.isoformat(),
        }
        for f in rows
    ]

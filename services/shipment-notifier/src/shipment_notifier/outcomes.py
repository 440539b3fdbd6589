"""Where a shipment ends up, and what that announces: every change of a shipment's outcome
writes the shipment row, its feedback record (when its export keeps feedback) and its event
(`shipment.notified` / `.rejected` / `.deferred` on tiktok.shipment-notified.v1, through the
outbox) in the caller's transaction — flush only, the entrypoint commits.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.events import (
    SHIPMENT_NOTIFIED,
    ShipmentDeferred,
    ShipmentNotified,
    ShipmentRejected,
    make_event,
)
from tts_common.outbox import add_event

from shipment_notifier.models import Feedback, Shipment

SOURCE = "shipment-notifier"
FINAL = frozenset({"notified", "rejected", "superseded"})

_FEEDBACK_ON = text("SELECT feedback_enabled FROM shipment_exports WHERE id = :id")


async def _feedback(
    session: AsyncSession,
    shipment: Shipment,
    outcome: str,
    *,
    code: str | None = None,
    message: str | None = None,
    request_id: str | None = None,
    enabled: bool | None = None,
) -> None:
    """`enabled`: the export's `feedback_enabled` when the caller has it (else it is read)."""
    if shipment.export_id is None:
        return
    if enabled is None:
        enabled = bool(await session.scalar(_FEEDBACK_ON, {"id": shipment.export_id}))
    if not enabled:
        return
    session.add(
        Feedback(
            shipment_id=shipment.id,
            export_id=shipment.export_id,
            order_id=shipment.order_id,
            tracking_number=shipment.tracking_number,
            outcome=outcome,
            action=shipment.action,
            code=code,
            message=message,
            request_id=request_id,
        )
    )


async def _load(session: AsyncSession, shipment: Shipment | str) -> Shipment:
    if isinstance(shipment, Shipment):
        return shipment
    found = await session.get(Shipment, shipment, with_for_update=True)
    assert found is not None, shipment
    return found


async def notify(
    session: AsyncSession,
    shipment: Shipment | str,
    *,
    action: str,
    provider_id: str,
    package_id: str | None,
    note: str | None = None,
    feedback: bool | None = None,
) -> None:
    s = await _load(session, shipment)
    now = datetime.now(UTC)
    s.status, s.action, s.provider_id, s.package_id = "notified", action, provider_id, package_id
    s.notified_at, s.reason, s.code, s.reconcile, s.claimed_at = now, note, None, False, None
    await _feedback(session, s, "notified", message=note, enabled=feedback)
    event = ShipmentNotified(
        order_id=s.order_id,
        tracking_number=s.tracking_number,
        shipping_provider_id=provider_id,
        package_id=package_id,
        action="update" if action == "update" else "ship",
        notified_at=now,
    )
    await add_event(
        session, SHIPMENT_NOTIFIED, s.order_id, make_event("shipment.notified", SOURCE, s.id, event)
    )
    await session.flush()


async def reject(
    session: AsyncSession,
    shipment: Shipment | str,
    *,
    code: str,
    reason: str,
    request_id: str | None = None,
    feedback: bool | None = None,
) -> None:
    s = await _load(session, shipment)
    if s.status in FINAL:
        return
    s.status, s.code, s.reason, s.request_id = "rejected", code, reason, request_id
    s.reconcile, s.claimed_at = False, None
    await _feedback(
        session, s, "rejected", code=code, message=reason, request_id=request_id, enabled=feedback
    )
    event = ShipmentRejected(
        order_id=s.order_id,
        tracking_number=s.tracking_number,
        reason=reason,
        code=code,
        request_id=request_id,
    )
    await add_event(
        session, SHIPMENT_NOTIFIED, s.order_id, make_event("shipment.rejected", SOURCE, s.id, event)
    )
    await session.flush()


_ORDER_STATUS = text("SELECT status FROM orders WHERE order_id = :order")
HOLD_STATUSES = frozenset({"UNPAID", "ON_HOLD"})


async def defer(
    session: AsyncSession,
    shipment: Shipment,
    *,
    until: datetime,
    reason: str,
    feedback: bool | None = None,
) -> None:
    """Wait for the end of the hold; announced once per shipment (a re-check is silent).

    An order event that ended the hold while this shipment was being checked found no
    deferred shipment to wake: the order's stored status, read under the shipment's row lock,
    makes it due at once instead (the event's wake-up waits for that lock otherwise)."""
    first = shipment.deferred_until is None
    status = await session.scalar(_ORDER_STATUS, {"order": shipment.order_id})
    due = until if status is None or status in HOLD_STATUSES else datetime.now(UTC)
    shipment.status, shipment.due_at, shipment.deferred_until = "deferred", due, until
    shipment.reason, shipment.code, shipment.claimed_at = reason, "cancellation_hold", None
    if first:
        await _feedback(
            session,
            shipment,
            "deferred",
            code="cancellation_hold",
            message=reason,
            enabled=feedback,
        )
        event = ShipmentDeferred(
            order_id=shipment.order_id, tracking_number=shipment.tracking_number, until=until
        )
        await add_event(
            session,
            SHIPMENT_NOTIFIED,
            shipment.order_id,
            make_event("shipment.deferred", SOURCE, shipment.id, event),
        )
    await session.flush()


async def supersede(session: AsyncSession, shipment: Shipment, *, by: str) -> None:
    """A newer tracking number for the order came before this one was sent: only it is."""
    shipment.status, shipment.code = "superseded", "superseded"
    shipment.reason = f"tracking number {by} replaced it before it was sent"
    await _feedback(session, shipment, "superseded", code="superseded", message=shipment.reason)
    await session.flush()

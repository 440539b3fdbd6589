"""The cancellation hold: a shipment for an order still ON_HOLD is deferred (stored,
announced, scheduled), then sent by itself once the hold ends; a cancellation during the
deferral rejects it without any TikTok call."""

from __future__ import annotations

import pytest
from tts_common.events import SHIPMENT_NOTIFIED
from tts_common.testing.watch import TopicWatcher

from conftest import StackFactory, eventually

pytestmark = pytest.mark.integration


async def test_deferred_in_the_hold_then_sent_when_the_sandbox_clock_passes_the_hour(
    tiktok_stack: StackFactory, kafka_bootstrap: str
) -> None:
    async with tiktok_stack() as stack, TopicWatcher(kafka_bootstrap, SHIPMENT_NOTIFIED) as watch:
        connection = await stack.connect("US")
        await stack.export(connection)
        order = stack.place_order()
        assert order["status"] == "ON_HOLD"
        oid = str(order["id"])
        await stack.announce(connection, order)
        await stack.ship(oid, "TRK-HOLD-1")

        deferred = await stack.until_status(oid, "deferred")
        assert deferred["code"] == "cancellation_hold" and deferred["deferred_until"] is not None
        events = await watch.until(lambda es: any(e.type == "shipment.deferred" for e in es))
        assert [e.data["tracking_number"] for e in events if e.type == "shipment.deferred"] == [
            "TRK-HOLD-1"
        ]
        assert stack.ship_calls() == 0  # nothing sent inside the hold

        stack.advance(3601)  # TikTok's hour passes: ON_HOLD → AWAITING_SHIPMENT
        after = stack.order(oid)
        assert after["status"] == "AWAITING_SHIPMENT"
        await stack.announce(connection, after, "order.updated")  # as order-ingest would

        notified = await stack.until_status(oid, "notified")
        assert notified["action"] == "ship" and notified["provider_id"] == "7117858858072016686"
        assert stack.order(oid)["status"] == "AWAITING_COLLECTION"
        assert stack.order(oid)["tracking_number"] == "TRK-HOLD-1"
        assert stack.ship_calls() == 1
        await watch.until(lambda es: any(e.type == "shipment.notified" for e in es))
        r = await stack.http.get(f"/v1/shipments/{notified['id']}")
        assert r.status_code == 200 and r.json()["status"] == "notified"


async def test_cancelled_during_the_deferral_is_rejected_without_a_tiktok_call(
    tiktok_stack: StackFactory, kafka_bootstrap: str
) -> None:
    async with tiktok_stack() as stack, TopicWatcher(kafka_bootstrap, SHIPMENT_NOTIFIED) as watch:
        connection = await stack.connect("US")
        await stack.export(connection)
        order = stack.place_order()
        oid = str(order["id"])
        await stack.announce(connection, order)
        await stack.ship(oid, "TRK-HOLD-2")
        await stack.until_status(oid, "deferred")

        stack.cancel(oid)
        await stack.announce(connection, stack.order(oid), "order.cancelled")
        rejected = await stack.until_status(oid, "rejected")
        assert rejected["code"] == "cancelled" and oid in rejected["reason"]
        events = await watch.until(lambda es: any(e.type == "shipment.rejected" for e in es))
        assert next(e for e in events if e.type == "shipment.rejected").data["code"] == "cancelled"
        assert stack.writes() == 0

        stack.advance(3601)  # the hour passing changes nothing: it stays rejected, unsent
        rows = await eventually(lambda: stack.shipment(order_id=oid), lambda rs: True)
        assert [r["status"] for r in rows] == ["rejected"]
        assert stack.writes() == 0

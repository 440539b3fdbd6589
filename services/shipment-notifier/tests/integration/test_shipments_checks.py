"""Checks before any TikTok call: a cancelled order, a TikTok-fulfilled order, partial line
items and an unknown carrier are rejected with a clear reason and no TikTok write (the
sandbox's call counters prove it); an order no event announced is read from TikTok."""

from __future__ import annotations

import pytest

from conftest import MUG_BLUE, MUG_RED, StackFactory

pytestmark = pytest.mark.integration

DETAIL = "GET /order/202507/orders"


async def test_rejected_with_a_reason_and_no_tiktok_write(tiktok_stack: StackFactory) -> None:
    async with tiktok_stack() as stack:
        connection = await stack.connect("US")
        export = await stack.export(connection)
        cancelled = stack.place_order()
        stack.cancel(str(cancelled["id"]))
        fbt = stack.place_order(fulfillment_type="FULFILLMENT_BY_TIKTOK")
        two = stack.place_order(line_items=[{"sku_id": MUG_RED}, {"sku_id": MUG_BLUE}])
        pigeon = stack.place_order()
        stack.advance(3601)  # past the hold: only the checks stand in the way
        orders = {
            "cancelled": stack.order(str(cancelled["id"])),
            "fbt": stack.order(str(fbt["id"])),
            "two": stack.order(str(two["id"])),
            "pigeon": stack.order(str(pigeon["id"])),
        }
        assert orders["cancelled"]["status"] == "CANCELLED"
        for name, order in orders.items():
            kind = "order.cancelled" if name == "cancelled" else "order.received"
            await stack.announce(connection, order, kind)
        writes_before = stack.writes()

        await stack.ship(str(cancelled["id"]), "TRK-C-1")
        await stack.ship(str(fbt["id"]), "TRK-F-1")
        first_item = orders["two"]["line_items"][0]["id"]
        await stack.ship(str(two["id"]), "TRK-P-1", line_item_ids=[first_item])
        await stack.ship(str(pigeon["id"]), "TRK-U-1", carrier="Pigeon Post")

        got = {
            name: await stack.until_status(str(orders[name]["id"]), "rejected")
            for name in ("cancelled", "fbt", "two", "pigeon")
        }
        assert got["cancelled"]["code"] == "cancelled"
        assert got["fbt"]["code"] == "tiktok_fulfilled"
        assert "FULFILLMENT_BY_TIKTOK" in got["fbt"]["reason"]
        assert got["two"]["code"] == "partial_line_items"
        assert orders["two"]["line_items"][1]["id"] in got["two"]["reason"]
        assert got["pigeon"]["code"] == "unknown_carrier"
        assert "Pigeon Post" in got["pigeon"]["reason"] and "USPS" in got["pigeon"]["reason"]
        assert stack.writes() == writes_before == 0

        unmapped = (
            await stack.http.get(f"/v1/shipment-exports/{export['id']}/carriers/unmapped")
        ).json()
        assert [(u["carrier"], u["shipments"]) for u in unmapped] == [("Pigeon Post", 1)]
        listed = (await stack.http.get("/v1/shipments", params={"status": "rejected"})).json()
        assert len(listed["shipments"]) == 4

        # Mapping the carrier (as an alias of UPS) and sending the shipment again gets it out.
        r = await stack.http.patch(
            f"/v1/shipment-exports/{export['id']}",
            json={"carriers": [{"provider": "UPS", "aliases": ["Pigeon Post"]}]},
        )
        assert r.status_code == 200, r.text
        await stack.ship(str(pigeon["id"]), "TRK-U-1", carrier="Pigeon Post")
        sent = await stack.until_status(str(pigeon["id"]), "notified")
        assert sent["provider_id"] == "7117859084333745966"  # UPS
        assert stack.ship_calls() == 1


async def test_an_order_no_event_announced_is_read_from_tiktok(tiktok_stack: StackFactory) -> None:
    async with tiktok_stack() as stack:
        connection = await stack.connect("US")
        await stack.export(connection)
        order = stack.place_order()
        stack.advance(3601)
        reads_before = stack.calls().get(DETAIL, 0)
        await stack.ship(str(order["id"]), "TRK-FETCH-1", carrier="usps priority mail")
        sent = await stack.until_status(str(order["id"]), "notified")
        assert sent["provider_id"] == "7117858858072016686"
        assert stack.calls()[DETAIL] >= reads_before + 1
        assert stack.order(str(order["id"]))["status"] == "AWAITING_COLLECTION"

        # An order TikTok does not have in the export's shop is rejected as unknown.
        await stack.ship("576460000000000001", "TRK-NONE-1")
        unknown = await stack.until_status("576460000000000001", "rejected")
        assert unknown["code"] == "order_unknown"

"""A client paging `GET /v1/orders` while 1,000 orders change: at the end of its pass it has
every order's latest version, and it never saw one version of an order twice."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from orders_testing import MUG_RED, StackFactory, sandbox_orders, wait_for
from tiktok_sandbox.seed import US_SHOP_ID

pytestmark = pytest.mark.integration

ORDERS = 1000
CANCELLED = 300


async def test_paging_while_orders_change_misses_none_and_repeats_none(
    order_stack: StackFactory,
) -> None:
    async with order_stack() as stack:
        sb = stack.sandbox
        shop = sb.state.shop(US_SHOP_ID)
        ids = [
            sb.state.orders.place(shop, {"line_items": [{"sku_id": MUG_RED}]}).doc["id"]
            for _ in range(ORDERS)
        ]
        imp = await stack.create_import(poll_interval_seconds=86400)
        await stack.run(imp["id"], "backfill")
        stack.subscribe_webhooks()

        def change() -> None:
            """Every hold ends (1,000 status changes), then 300 orders are cancelled."""
            sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 3600})
            for order_id in ids[:CANCELLED]:
                sb.state.orders.cancel(order_id, {"cancellation_initiator": "SELLER"})

        changer = threading.Thread(target=change, name="order-changes")

        async def settled() -> bool:
            """The changes are done and order-ingest holds every latest version."""
            if changer.is_alive():
                return False
            # Status too: two changes in one second share an update_time.
            latest = {o["id"]: (o["update_time"], o["status"]) for o in sandbox_orders(sb)}
            return await stack.stored_states() == latest

        seen: dict[str, list[tuple[int, int, str]]] = {}
        cursor: str | None = None
        final_drain = False
        pages = 0
        changer.start()
        while True:
            r = await stack.http.get("/v1/orders", params={"limit": 25, "cursor": cursor or ""})
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            pages += 1
            for order in body["orders"]:
                seen.setdefault(order["id"], []).append(
                    (order["seq"], order["version"], order["status"])
                )
            cursor = body["next_cursor"]
            if body["has_more"]:
                continue
            if final_drain:
                break
            # At the end: once everything is settled, one more drain reads the last changes.
            final_drain = await settled()
            if not final_drain:
                await asyncio.sleep(0.05)  # a client at the end polls again a moment later
        changer.join()

        latest = {o["id"]: (o["update_time"], o["status"]) for o in sandbox_orders(sb)}
        assert set(seen) == set(latest) == set(ids)
        for order_id, versions in seen.items():
            assert (versions[-1][1], versions[-1][2]) == latest[order_id], order_id
            seqs = [v[0] for v in versions]
            assert seqs == sorted(set(seqs)), (order_id, versions)  # no row twice
            assert len({(v[1], v[2]) for v in versions}) == len(versions), (order_id, versions)
        statuses = [v[-1][2] for v in seen.values()]
        assert statuses.count("CANCELLED") == CANCELLED
        assert statuses.count("AWAITING_SHIPMENT") == ORDERS - CANCELLED
        # The paging really overlapped the changes: orders were met in several versions.
        assert sum(1 for v in seen.values() if len(v) > 1) > 0
        assert pages > ORDERS // 25


async def test_the_pull_api_filters_by_status_and_update_time(order_stack: StackFactory) -> None:
    async with order_stack() as stack:
        orders = [stack.place() for _ in range(4)]
        stack.sandbox.admin("POST", f"/sandbox/v1/orders/{orders[0]['id']}/cancel", {})
        imp = await stack.create_import(poll_interval_seconds=86400)
        await stack.run(imp["id"], "backfill")

        async def listed(**params: Any) -> list[str]:
            r = await stack.http.get("/v1/orders", params=params)
            assert r.status_code == 200, r.text
            return [o["id"] for o in r.json()["orders"]]

        await wait_for(lambda: stack.order(orders[0]["id"]), what="the import")
        assert await listed(status="CANCELLED") == [orders[0]["id"]]
        assert set(await listed(status="ON_HOLD,CANCELLED")) == {o["id"] for o in orders}
        assert await listed(updated_after="2100-01-01T00:00:00Z") == []
        bad = await stack.http.get("/v1/orders", params={"cursor": "garbage"})
        assert bad.status_code == 400 and bad.json()["error"] == "bad_cursor"
        assert (await stack.http.get("/v1/orders", params={"status": "SENT"})).status_code == 400
        assert (await stack.http.get("/v1/orders/nope")).status_code == 404

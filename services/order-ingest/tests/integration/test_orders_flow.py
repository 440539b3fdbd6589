"""Orders end to end on the real stack: a pass imports orders, webhooks bring changes, a
cancellation after import is announced, the hold ends when the sandbox clock passes the hour."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from typing import Any

import orjson
import pytest
from orders_testing import StackFactory, wait_for
from tiktok_sandbox.seed import UK_SHOP_ID, US_SHOP_ID

pytestmark = pytest.mark.integration


async def test_a_pass_imports_orders_once_with_their_events(order_stack: StackFactory) -> None:
    async with order_stack() as stack:
        placed = [stack.place() for _ in range(3)]
        imp = await stack.create_import(description="US shop", active=False)  # manual passes only
        run = await stack.run(imp["id"], "backfill")
        assert run["orders_seen"] == 3 and run["orders_changed"] == 3
        ids = {o["id"] for o in placed}

        page = (await stack.http.get("/v1/orders", params={"limit": 10})).json()
        assert {o["id"] for o in page["orders"]} == ids
        assert page["has_more"] is False
        one = await stack.order(placed[0]["id"])
        assert one is not None
        assert one["status"] == "ON_HOLD" and one["ready_to_ship"] is False
        assert one["line_item_ids"] == [li["id"] for li in placed[0]["line_items"]]
        assert one["cancellable_until"] is not None

        await wait_for(
            lambda: (
                {e.subject for e in stack.events.distinct(imp["connection_id"]).values()} >= ids
            ),
            what="order.received for every order",
        )
        # A second pass sees the same versions: nothing stored, nothing announced.
        again = await stack.run(imp["id"], "backfill")
        assert again["orders_seen"] == 3 and again["orders_changed"] == 0
        types = Counter(e.type for e in stack.events.distinct(imp["connection_id"]).values())
        assert types == {"order.received": 3}
        event = next(iter(stack.events.distinct(imp["connection_id"]).values()))
        assert event.data["fulfillment_type"] == "FULFILLMENT_BY_SELLER"
        assert event.data["order"]["delivery_option_id"]
        assert event.data["order"]["packages"]


async def test_webhooks_bring_new_orders_and_a_cancellation(order_stack: StackFactory) -> None:
    async with order_stack() as stack:
        imp = await stack.create_import()
        await stack.run(imp["id"], "backfill")  # learns the shop; nothing to import yet
        stack.subscribe_webhooks()
        order = stack.place()
        stored = await wait_for(lambda: stack.order(order["id"]), what="the webhook's order")
        assert stored["status"] == "ON_HOLD"

        stack.sandbox.admin("POST", f"/sandbox/v1/orders/{order['id']}/cancel", {})

        async def cancelled() -> bool:
            got = await stack.order(order["id"])
            return got is not None and got["status"] == "CANCELLED"

        await wait_for(cancelled, what="the cancellation")
        await wait_for(
            lambda: (
                [e.type for e in stack.events.of(order["id"])]
                == ["order.received", "order.cancelled"]
            ),
            what="order.received then order.cancelled",
        )


async def test_the_webhook_refuses_a_bad_signature_and_acknowledges_a_retry_once(
    order_stack: StackFactory,
) -> None:
    async with order_stack() as stack:
        body = orjson.dumps(
            {
                "type": 1,
                "tts_notification_id": "7380066284010030890",
                "shop_id": "7495540735365777507",
                "timestamp": 1718305585,
                "data": {"order_id": "576653688135258178", "order_status": "UNPAID"},
            }
        )
        app = stack.sandbox.settings
        good = hmac.new(
            app.app_secret.encode(), app.app_key.encode() + body, hashlib.sha256
        ).hexdigest()
        url = "/v1/webhooks/tiktok"
        bad = await stack.http.post(url, content=body, headers={"Authorization": "0" * 64})
        assert bad.status_code == 401, bad.text
        assert (await stack.http.post(url, content=body)).status_code == 401  # no header
        first = await stack.http.post(url, content=body, headers={"Authorization": good})
        second = await stack.http.post(url, content=body, headers={"Authorization": good})
        assert first.json() == {"result": "accepted"}
        assert second.json() == {"result": "duplicate"}


async def test_hold_flags_change_when_the_sandbox_clock_passes_the_hour(
    order_stack: StackFactory,
) -> None:
    async with order_stack() as stack:
        imp = await stack.create_import()
        await stack.run(imp["id"], "backfill")
        stack.subscribe_webhooks()
        order = stack.place()
        held = await wait_for(lambda: stack.order(order["id"]), what="the held order")
        assert held["ready_to_ship"] is False
        assert held["status"] == "ON_HOLD"
        until = held["cancellable_until"]

        stack.sandbox.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 3600})

        async def released() -> dict | None:
            got = await stack.order(order["id"])
            return got if got is not None and got["ready_to_ship"] else None

        done = await wait_for(released, what="the end of the hold")
        assert done["status"] == "AWAITING_SHIPMENT"
        assert done["cancellable_until"] == until
        await wait_for(
            lambda: (
                [e.type for e in stack.events.of(order["id"])]
                == ["order.received", "order.updated"]
            ),
            what="order.updated when the hold ends",
        )
        updated = stack.events.of(order["id"])[-1]
        assert updated.data["order"]["ready_to_ship"] is True
        assert updated.data["previous_status"] == "ON_HOLD"


async def test_an_imported_order_is_kept_current_after_it_left_the_creation_window(
    order_stack: StackFactory,
) -> None:
    async with order_stack() as stack:
        kept, other = stack.place(), stack.place()
        imp = await stack.create_import(created_within_days=1, active=False)
        await stack.run(imp["id"], "backfill")
        conn = await stack.db()
        try:
            await conn.execute("DELETE FROM orders WHERE id = $1", other["id"])
        finally:
            await conn.close()
        # Both now look two days old to TikTok; both are cancelled (a newer version).
        with stack.sandbox.state.lock:
            for order in (kept, other):
                doc = stack.sandbox.state.orders.orders[order["id"]].doc
                doc["create_time"] -= 2 * 86400
        for order in (kept, other):
            stack.sandbox.admin("POST", f"/sandbox/v1/orders/{order['id']}/cancel", {})
        await stack.run(imp["id"], "incremental")
        got = await stack.order(kept["id"])
        assert got is not None and got["status"] == "CANCELLED"
        assert await stack.order(other["id"]) is None  # new to us and outside the window


async def test_two_markets_import_side_by_side(order_stack: StackFactory) -> None:
    async with order_stack() as stack:
        us = [stack.place() for _ in range(5)]
        uk = [
            stack.place(shop_id=UK_SHOP_ID, line_items=[{"sku_id": "1729592969712207099"}])
            for _ in range(5)
        ]
        us_imp = await stack.create_import(market="US", active=False)
        uk_imp = await stack.create_import(market="UK", active=False)
        for imp in (us_imp, uk_imp):
            r = await stack.http.post(f"/v1/order-imports/{imp['id']}/runs", json={})
            assert r.status_code == 202
        for imp in (us_imp, uk_imp):
            await wait_for(
                lambda imp=imp: _all_done(stack, imp["id"]), what=f"the pass of {imp['id']}"
            )
        for orders, imp, shop in ((us, us_imp, US_SHOP_ID), (uk, uk_imp, UK_SHOP_ID)):
            for order in orders:
                got = await stack.order(order["id"])
                assert got is not None
                assert (got["import_id"], got["shop_id"]) == (imp["id"], shop)
        imports = {i["id"]: i for i in (await stack.http.get("/v1/order-imports")).json()}
        assert imports[uk_imp["id"]]["shop_id"] == UK_SHOP_ID


async def _all_done(stack: Any, import_id: str) -> bool:
    runs = (await stack.http.get(f"/v1/order-imports/{import_id}/runs")).json()
    return bool(runs) and all(r["status"] == "done" for r in runs)


async def test_the_hold_worker_ends_a_hold_by_time_after_checking_the_status(
    order_stack: StackFactory,
) -> None:
    """A shippable order less than an hour old (a market without ON_HOLD) is held until its
    hour has passed; the worker then reads it again from TikTok and announces the end.

    The hour's passing is made, not waited for: the order is stored with most of its hour
    left, then its stored end (our clock) and its payment time at TikTok are moved back."""
    async with order_stack() as stack:
        order = stack.place()
        state = stack.sandbox.state
        with state.lock:
            doc = state.orders.orders[order["id"]].doc
            state.orders._on_hold.discard(order["id"])
            created = state.clock.now_int() - 600  # 50 minutes of the hour left
            doc.update(
                status="AWAITING_SHIPMENT",
                is_on_hold_order=False,
                create_time=created,
                paid_time=created,
            )
        imp = await stack.create_import(active=False)
        await stack.run(imp["id"], "backfill")
        held = await stack.order(order["id"])
        assert held is not None and held["ready_to_ship"] is False
        assert held["status"] == "AWAITING_SHIPMENT"

        with state.lock:
            past = state.clock.now_int() - 3601
            doc.update(create_time=past, paid_time=past)
        conn = await stack.db()
        try:
            await conn.execute(
                "UPDATE orders SET cancellable_until = $1 WHERE id = $2",
                past + 3600,
                order["id"],
            )
        finally:
            await conn.close()

        async def released() -> bool:
            got = await stack.order(order["id"])
            return got is not None and got["ready_to_ship"] is True

        await wait_for(released, what="the hold's end by time")
        await wait_for(
            lambda: (
                [e.type for e in stack.events.of(order["id"])]
                == ["order.received", "order.updated"]
            ),
            what="order.updated at the end of the hold",
        )
        calls = stack.sandbox.admin("GET", "/sandbox/v1/stats")["data"]["calls"]
        assert any("/order/" in op and "search" not in op for op in calls), calls

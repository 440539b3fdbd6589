"""With 30% of the webhooks lost, the next poll still brings every order, at its latest
version: webhooks give the latency, the poller is the safety net."""

from __future__ import annotations

import random
from typing import Any

import pytest
from orders_testing import StackFactory, sandbox_orders, wait_for

pytestmark = pytest.mark.integration

ORDERS = 150


async def test_every_order_arrives_with_one_poll_when_30_percent_of_webhooks_are_lost(
    order_stack: StackFactory,
) -> None:
    async with order_stack() as stack:
        first = stack.place()
        # Polled once a day: no scheduled pass but the first runs during the test, which
        # starts its one poll itself.
        imp = await stack.create_import(poll_interval_seconds=86400)
        await stack.run(imp["id"], "backfill")  # the watermark: the first order's version

        async def idle() -> bool:
            runs = (await stack.http.get(f"/v1/order-imports/{imp['id']}/runs")).json()
            return bool(runs) and all(r["status"] in ("done", "failed") for r in runs)

        await wait_for(idle, what="the first scheduled pass finished too")
        stack.subscribe_webhooks()

        # The fault: the sandbox's dispatcher loses 30% of the order notifications.
        dispatcher = stack.sandbox.state.webhooks
        emit = dispatcher.emit
        rng = random.Random(30)
        sent: list[dict[str, Any]] = []
        lost: list[dict[str, Any]] = []

        def lossy(shop_id: str, event_type: str, data: dict[str, Any]) -> None:
            if event_type == "ORDER_STATUS_CHANGE" and rng.random() < 0.3:
                lost.append(data)
                return
            sent.append(data)
            emit(shop_id, event_type, data)

        dispatcher.emit = lossy  # type: ignore[method-assign]
        placed = [stack.place() for _ in range(ORDERS)]
        for order in placed[::3]:  # a third cancelled after being placed: a second version
            stack.sandbox.admin("POST", f"/sandbox/v1/orders/{order['id']}/cancel", {})

        # Every notification that was sent has been delivered and processed.
        await wait_for(
            lambda: dispatcher.snapshot()["delivered"] >= len(sent),
            what="the sandbox's deliveries",
        )

        async def processed() -> bool:
            conn = await stack.db()
            try:
                pending = await conn.fetchval(
                    "SELECT count(*) FROM tiktok_webhooks WHERE processed_at IS NULL"
                )
                total = await conn.fetchval("SELECT count(*) FROM tiktok_webhooks")
            finally:
                await conn.close()
            return pending == 0 and total == len(sent)

        await wait_for(processed, what="every delivered webhook processed")

        def behind(stored: dict[str, tuple[int, str]]) -> set[str]:
            return {
                o["id"]
                for o in sandbox_orders(stack.sandbox)
                if stored.get(o["id"]) != (o["update_time"], o["status"])
            }

        async def stored() -> dict[str, tuple[int, str]]:
            conn = await stack.db()
            try:
                rows = await conn.fetch("SELECT id, update_time, status FROM orders")
            finally:
                await conn.close()
            return {r["id"]: (r["update_time"], r["status"]) for r in rows}

        missing = behind(await stored())
        assert lost and missing, "the fault lost nothing: the test proves nothing"
        assert missing <= {d["order_id"] for d in lost}

        # One incremental poll, from the watermark: every order now at its latest version.
        run = await stack.run(imp["id"], "incremental")
        assert run["update_time_ge"] <= first["update_time"]
        assert behind(await stored()) == set()
        assert len(await stored()) == ORDERS + 1

"""10,000 sandbox orders across every status and age: the status filter and both day
filters import exactly the orders the sandbox's own data says they should."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from orders_testing import DAY, Stack, StackFactory, sandbox_orders, seed_orders

pytestmark = pytest.mark.integration

COUNT = 10_000


def expected(
    orders: list[dict[str, Any]],
    statuses: list[str],
    created_days: int | None,
    updated_days: int | None,
) -> set[str]:
    now = time.time()
    return {
        o["id"]
        for o in orders
        if (not statuses or o["status"] in statuses)
        and (created_days is None or o["create_time"] >= now - created_days * DAY)
        and (updated_days is None or o["update_time"] >= now - updated_days * DAY)
    }


async def _imported(stack: Stack, **filters: Any) -> set[str]:
    """Backfill one import with these filters; the ids it stored (then forget them all)."""
    imp = await stack.create_import(active=False, **filters)  # no scheduled pass beside
    await stack.run(imp["id"], "backfill")
    conn = await stack.db()
    try:
        rows = await conn.fetch("SELECT id FROM orders WHERE import_id = $1", uuid.UUID(imp["id"]))
        total = await conn.fetchval("SELECT count(*) FROM orders")
        assert total == len(rows)  # nothing stored outside the import
        await conn.execute("DELETE FROM orders")
    finally:
        await conn.close()
    r = await stack.http.delete(f"/v1/order-imports/{imp['id']}")
    assert r.status_code == 204
    return {r["id"] for r in rows}


@pytest.mark.slow
@pytest.mark.timeout(900)  # five passes over 10,000 orders; minutes on a loaded machine
async def test_filters_select_exactly_the_right_orders(order_stack: StackFactory) -> None:
    async with order_stack(sandbox={"qps": 5000.0}) as stack:
        seed_orders(stack.sandbox, COUNT)
        orders = sandbox_orders(stack.sandbox)
        assert len(orders) == COUNT
        assert {o["status"] for o in orders} == {
            "UNPAID",
            "ON_HOLD",
            "AWAITING_SHIPMENT",
            "PARTIALLY_SHIPPING",
            "AWAITING_COLLECTION",
            "IN_TRANSIT",
            "DELIVERED",
            "COMPLETED",
            "CANCELLED",
        }
        cases: list[tuple[list[str], int | None, int | None]] = [
            (["AWAITING_SHIPMENT", "CANCELLED"], None, None),
            ([], 10, None),
            ([], None, 3),
            (["UNPAID", "ON_HOLD", "DELIVERED"], 20, 5),
            ([], 0, None),  # created today only (the last 0 days: nothing older than now)
        ]
        for statuses, created, updated in cases:
            want = expected(orders, statuses, created, updated)
            assert 0 < len(want) < COUNT or created == 0, (statuses, created, updated)
            got = await _imported(
                stack,
                statuses=statuses,
                created_within_days=created,
                updated_within_days=updated,
            )
            assert got == want, (statuses, created, updated, len(got), len(want))

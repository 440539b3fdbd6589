"""Orders of a connection no active shipment export names (on a long-lived Kafka: the order
events of shops connected to another stack) are rejected as `no_export` without a TikTok call:
the notifier cannot lease a token for such a connection, so a "Get Order Detail 202507" would
only fail and be retried, holding up the shipments of the shops it does serve."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from tts_common.testing.infra import libpq_dsn

from conftest import Stack, StackFactory, eventually

pytestmark = pytest.mark.integration

DETAIL = "GET /order/202507/orders"


async def test_an_order_of_an_unknown_connection_is_rejected_without_a_tiktok_call(
    tiktok_stack: StackFactory,
) -> None:
    async with tiktok_stack() as stack:
        connection = await stack.connect("US")
        await stack.export(connection)
        ours = stack.place_order()
        theirs = stack.place_order()
        assert theirs["status"] == "ON_HOLD"  # an order in its hold is read again before sending
        await stack.announce(connection, ours)
        foreign = str(uuid.uuid4())
        await stack.announce(foreign, theirs)
        # Shipments and orders are two topics: wait until the order event is stored, so the
        # shipment below meets a known order (an unknown one is looked up in our shops).
        await eventually(lambda: known_connection(stack, str(theirs["id"])), lambda c: c == foreign)
        reads_before = stack.calls().get(DETAIL, 0)

        await stack.ship(str(theirs["id"]), "TRK-FOREIGN-1")
        rejected = await stack.until_status(str(theirs["id"]), "rejected")
        assert rejected["code"] == "no_export"
        assert stack.calls().get(DETAIL, 0) == reads_before

        # The shop it serves is still read and deferred as before.
        await stack.ship(str(ours["id"]), "TRK-OURS-1")
        deferred = await stack.until_status(str(ours["id"]), "deferred")
        assert deferred["deferred_until"] is not None
        assert stack.calls().get(DETAIL, 0) >= reads_before + 1


async def known_connection(stack: Stack, order_id: str) -> str | None:
    """The connection the notifier's order table holds for the order, if it knows it."""
    conn = await asyncpg.connect(libpq_dsn(stack.database_url))
    try:
        found = await conn.fetchval(
            "SELECT connection_id FROM orders WHERE order_id = $1", order_id
        )
        return str(found) if found is not None else None
    finally:
        await conn.close()

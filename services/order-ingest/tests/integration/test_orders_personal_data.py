"""Buyers' addresses and e-mails reach the OMS (API, events) and never a log line."""

from __future__ import annotations

import io

import orjson
import pytest
from orders_testing import StackFactory, wait_for

pytestmark = pytest.mark.integration

EMAIL = "hidden.buyer.7781@example.com"
STREET = "77 Secret Orchard Lane"


async def test_personal_data_is_served_and_never_logged(
    order_stack: StackFactory, captured_logs: io.StringIO
) -> None:
    async with order_stack() as stack:
        imp = await stack.create_import()
        await stack.run(imp["id"], "backfill")
        stack.subscribe_webhooks()
        buyer = {
            "email": EMAIL,
            "message": "leave it at the door",
            "address": {
                "first_name": "Hidden",
                "last_name": "Buyer",
                "phone_number": "(+1)555*****42",
                "address_line1": STREET,
                "postal_code": "94065",
                "districts": ["United States", "California", "San Mateo", "Redwood City"],
            },
        }
        order = stack.place(buyer=buyer)
        stack.sandbox.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 3600})

        async def released() -> dict | None:
            got = await stack.order(order["id"])
            address = (got or {}).get("order", {}).get("recipient_address")
            return got if address else None

        got = await wait_for(released, what="the address, once TikTok releases it")
        assert got["order"]["recipient_address"]["address_line1"] == STREET
        assert got["order"]["buyer_email"] == EMAIL
        await wait_for(
            lambda: any(
                e.data["order"].get("recipient_address") for e in stack.events.of(order["id"])
            ),
            what="an event carrying the address",
        )
        await stack.run(imp["id"], "incremental")

    ours = [
        line
        for line in captured_logs.getvalue().splitlines()
        if not orjson.loads(line).get("logger", "").startswith(("tiktok_sandbox", "auth_broker"))
    ]
    assert any("order_ingest" in line or "tiktok_shop" in line for line in ours)
    leaked = [line for line in ours if EMAIL in line or STREET in line]
    assert leaked == []

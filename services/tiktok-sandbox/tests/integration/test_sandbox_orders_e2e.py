"""End to end over real HTTP: a product created through the API is ordered, held, shipped
with a carrier found through the logistics API, collected and delivered — the path the
connector's services walk (no stand-in for the product store here)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from tiktok_sandbox.testing import RunningSandbox, run_sandbox, sample_sofa


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    with run_sandbox(audit_delay_seconds=1.0) as sandbox:
        yield sandbox


def test_created_product_can_be_ordered_and_shipped(sb: RunningSandbox) -> None:
    us = sb.client("US")
    created = us.call("POST", "/product/202309/products", json=sample_sofa(us, "E2E-SOFA"))
    assert created["code"] == 0, created
    skus = {s["seller_sku"]: s["id"] for s in created["data"]["skus"]}
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 2})  # let the audit finish

    placed = sb.admin(
        "POST",
        "/sandbox/v1/orders",
        {
            "region": "US",
            "line_items": [
                {"seller_sku": "E2E-SOFA-GRY", "quantity": 2},
                {"sku_id": skus["E2E-SOFA-BLU"]},
            ],
        },
    )
    assert placed["code"] == 0, placed
    order = placed["data"]["order"]
    items = order["line_items"]
    assert [li["sku_id"] for li in items] == [skus["E2E-SOFA-GRY"]] * 2 + [skus["E2E-SOFA-BLU"]]
    assert {li["product_id"] for li in items} == {created["data"]["product_id"]}
    assert [li["original_price"] for li in items] == ["499.00", "499.00", "519.00"]
    assert Decimal(order["payment"]["original_total_product_price"]) == Decimal("1517.00")

    # The hold: shipping is refused, then allowed an hour later on the sandbox clock.
    oid = order["id"]
    option = order["delivery_option_id"]
    providers = us.call("GET", f"/logistics/202309/delivery_options/{option}/shipping_providers")[
        "data"
    ]["shipping_providers"]
    fedex = next(p["id"] for p in providers if p["name"] == "FedEx")
    mark = {"tracking_number": "794698621234", "shipping_provider_id": fedex}
    path = f"/fulfillment/202309/orders/{oid}/packages"
    assert us.call("POST", path, json=mark)["code"] == 21011004
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 3600})
    shipped = us.call("POST", path, json=mark)
    assert shipped["code"] == 0 and len(shipped["data"]["order_line_item_ids"]) == 3

    sb.admin("POST", f"/sandbox/v1/orders/{oid}/collect")
    sb.admin("POST", f"/sandbox/v1/orders/{oid}/deliver")
    found = us.call(
        "POST",
        "/order/202309/orders/search",
        params={"page_size": 10, "sort_field": "update_time"},
        json={"order_status": "DELIVERED"},
    )["data"]
    (got,) = [o for o in found["orders"] if o["id"] == oid]
    assert got["shipping_provider"] == "FedEx" and got["tracking_number"] == "794698621234"
    assert got["recipient_address"]["region_code"] == "US"


def test_only_live_products_can_be_ordered(sb: RunningSandbox) -> None:
    us = sb.client("US")
    created = us.call("POST", "/product/202309/products", json=sample_sofa(us, "E2E-PENDING"))
    assert created["code"] == 0, created
    body = {"region": "US", "line_items": [{"seller_sku": "E2E-PENDING-GRY"}]}
    pending = sb.http.post("/sandbox/v1/orders", json=body)
    assert pending.status_code == 409 and "PENDING" in pending.json()["message"]
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 2})
    assert sb.admin("POST", "/sandbox/v1/orders", body)["code"] == 0

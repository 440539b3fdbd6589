"""Contract: order search/detail and every fulfilment operation (docs/sandbox-orders.md), on
orders placed through the sandbox admin API for products created through the client."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from tiktok_shop import OutcomeUnknownError
from tiktok_shop.errors import TikTokError
from tiktok_shop.models.fulfillment import (
    BatchShipItem,
    MarkShippedRequest,
    SearchPackagesRequest,
    SelfShipment,
    ShipPackageRequest,
)
from tiktok_shop.models.orders import SearchOrdersRequest
from tts_client_contract import Connected
from tts_product_factory import product_input

HOLD = 3600


async def new_sku_ids(conn: Connected, n: int = 2) -> list[str]:
    skus = [f"ORD-{uuid.uuid4().hex[:10]}" for _ in range(n)]
    created = await conn.shop.products.create_product(await product_input(conn, skus))
    # Only audited (ACTIVATE) products sell: let the sandbox audit finish.
    conn.sandbox.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 60})
    product = await conn.shop.products.get_product(created.product_id or "")
    assert product.status == "ACTIVATE"
    return [s.id for s in created.skus]


def place(
    conn: Connected, sku_ids: list[str], *, release: bool = True, **body: Any
) -> dict[str, Any]:
    """Place a paid order; by default move the clock past its one-hour hold."""
    payload = {"region": conn.region, "line_items": [{"sku_id": s} for s in sku_ids], **body}
    resp = conn.sandbox.admin("POST", "/sandbox/v1/orders", payload)
    assert resp["code"] == 0, resp
    if release:
        conn.sandbox.admin("POST", "/sandbox/v1/clock", {"advance_seconds": HOLD})
    data: dict[str, Any] = resp["data"]
    return data


async def provider_for(conn: Connected, order_id: str, name: str = "USPS") -> str:
    order = (await conn.shop.orders.get_order_detail([order_id])).orders[0]
    providers = await conn.shop.logistics.get_shipping_providers(order.delivery_option_id or "")
    return next(p.id for p in providers.shipping_providers if p.name == name)


def tracking() -> str:
    return "9400" + uuid.uuid4().hex[:16].upper()


@pytest.fixture
async def sku_ids(us: Connected) -> list[str]:
    return await new_sku_ids(us)


async def test_detail_withholds_address_during_hold_and_repeats_line_items(
    us: Connected, sku_ids: list[str]
) -> None:
    placed = place(us, [sku_ids[0], sku_ids[0], sku_ids[1]], release=False)
    oid = placed["order"]["id"]
    order = (await us.shop.orders.get_order_detail([oid])).orders[0]
    assert order.status == "ON_HOLD" and order.recipient_address is None
    assert [li.sku_id for li in order.line_items].count(sku_ids[0]) == 2
    assert order.payment is not None and order.payment.currency == "USD"
    us.sandbox.admin("POST", "/sandbox/v1/clock", {"advance_seconds": HOLD})
    order = (await us.shop.orders.get_order_detail([oid])).orders[0]
    assert order.status == "AWAITING_SHIPMENT" and order.recipient_address is not None


async def test_detail_of_several_orders_signs_the_comma_joined_ids(
    us: Connected, sku_ids: list[str]
) -> None:
    # `ids=a,b` is signed as joined and sent percent-encoded ("Sign your API request"): the sandbox
    # verifies the sign over the decoded query, so a wrong join would be a 106001 here.
    first = place(us, [sku_ids[0]], release=False)["order"]["id"]
    second = place(us, [sku_ids[1]], release=False)["order"]["id"]
    details = await us.shop.orders.get_order_detail([first, second])
    assert set(details.by_id()) == {first, second}
    [record] = [r for r in us.log.records if r.operation == "getOrderDetail"][-1:]
    assert record.code == 0 and record.query is not None
    assert record.query["ids"] == f"{first},{second}"


async def test_detail_limits(us: Connected) -> None:
    with pytest.raises(ValueError):
        await us.shop.orders.get_order_detail([str(i) for i in range(51)])


async def test_search_filters_and_cursor_paging(uk: Connected) -> None:
    sku_ids = await new_sku_ids(uk, 1)
    made = {place(uk, sku_ids, release=False)["order"]["id"] for _ in range(5)}
    uk.sandbox.admin("POST", "/sandbox/v1/clock", {"advance_seconds": HOLD})
    seen = [
        o.id
        async for o in uk.shop.orders.iter_orders(
            SearchOrdersRequest(order_status="AWAITING_SHIPMENT"),
            page_size=2,
            sort_field="create_time",
            sort_order="ASC",
        )
    ]
    assert made <= set(seen) and len(seen) == len(set(seen))
    first = await uk.shop.orders.search_orders(
        SearchOrdersRequest(order_status="AWAITING_SHIPMENT"), page_size=2
    )
    assert first.total_count is not None and first.total_count >= 5 and first.next_page_token
    none = await uk.shop.orders.search_orders(
        SearchOrdersRequest(order_status="CANCELLED", shipping_type="TIKTOK")
    )
    assert all(o.status == "CANCELLED" for o in none.orders)


async def test_ship_package_detail_tracking_and_fix_tracking(
    us: Connected, sku_ids: list[str]
) -> None:
    placed = place(us, sku_ids)
    oid, pkg = placed["order"]["id"], placed["package_ids"][0]
    usps = await provider_for(us, oid)
    number = tracking()
    await us.shop.fulfillment.ship_package(
        pkg,
        ShipPackageRequest(
            handover_method="DROP_OFF",
            self_shipment=SelfShipment(tracking_number=number, shipping_provider_id=usps),
        ),
    )
    order = (await us.shop.orders.get_order_detail([oid])).orders[0]
    assert order.status == "AWAITING_COLLECTION" and order.tracking_number == number
    detail = await us.shop.fulfillment.get_package_detail(pkg)
    assert detail.tracking_number == number and detail.package_status
    [pkg_order] = detail.orders
    assert pkg_order.id == oid and sum(s.quantity or 0 for s in pkg_order.skus) == len(sku_ids)
    us.sandbox.admin("POST", f"/sandbox/v1/orders/{oid}/collect")
    events = (await us.shop.fulfillment.get_order_tracking(oid)).tracking
    assert events and all(e.description and e.update_time_millis for e in events)
    assert (await us.shop.orders.get_order_detail([oid])).orders[0].status == "IN_TRANSIT"
    fixed = tracking()
    await us.shop.fulfillment.update_shipping_info(oid, fixed, usps)
    assert (await us.shop.fulfillment.get_package_detail(pkg)).tracking_number == fixed
    found = [
        p.id async for p in us.shop.fulfillment.iter_packages(SearchPackagesRequest(), page_size=5)
    ]
    assert pkg in found


async def test_update_shipping_info_after_72_hours_is_refused(
    us: Connected, sku_ids: list[str]
) -> None:
    placed = place(us, sku_ids)
    oid, pkg = placed["order"]["id"], placed["package_ids"][0]
    usps = await provider_for(us, oid)
    await us.shop.fulfillment.ship_package(
        pkg,
        ShipPackageRequest(
            self_shipment=SelfShipment(tracking_number=tracking(), shipping_provider_id=usps)
        ),
    )
    us.sandbox.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 73 * 3600})
    with pytest.raises(TikTokError) as info:
        await us.shop.fulfillment.update_shipping_info(oid, tracking(), usps)
    assert info.value.code not in (None, 0)


async def test_shipping_during_the_hold_is_refused(us: Connected, sku_ids: list[str]) -> None:
    placed = place(us, sku_ids, release=False)
    usps = await provider_for(us, placed["order"]["id"])
    with pytest.raises(TikTokError) as info:
        await us.shop.fulfillment.ship_package(
            placed["package_ids"][0],
            ShipPackageRequest(
                self_shipment=SelfShipment(tracking_number=tracking(), shipping_provider_id=usps)
            ),
        )
    # HTTP 200 with a non-zero business code and a clear message: TikTok documents no code for
    # this ("Not allow seller fulfill order under ON_HOLD status"); docs/sandbox-orders.md.
    assert info.value.http_status == 200 and "ON_HOLD" in info.value.message


async def test_mark_package_as_shipped_split(us: Connected, sku_ids: list[str]) -> None:
    placed = place(us, [sku_ids[0], sku_ids[1]])
    oid = placed["order"]["id"]
    items = [li["id"] for li in placed["order"]["line_items"]]
    usps = await provider_for(us, oid)
    first = await us.shop.fulfillment.mark_package_as_shipped(
        oid,
        MarkShippedRequest(
            tracking_number=tracking(), shipping_provider_id=usps, order_line_item_ids=items[:1]
        ),
    )
    assert first.order_id == oid and first.order_line_item_ids == items[:1] and first.package_id
    order = (await us.shop.orders.get_order_detail([oid])).orders[0]
    assert order.status == "PARTIALLY_SHIPPING"
    rest = await us.shop.fulfillment.mark_package_as_shipped(
        oid, MarkShippedRequest(tracking_number=tracking(), shipping_provider_id=usps)
    )
    assert rest.order_line_item_ids == items[1:]


async def test_batch_ship_reports_per_package_errors(us: Connected, sku_ids: list[str]) -> None:
    good = place(us, sku_ids)
    held = place(us, sku_ids, release=False)
    usps = await provider_for(us, good["order"]["id"])
    shipment = SelfShipment(tracking_number=tracking(), shipping_provider_id=usps)
    result = await us.shop.fulfillment.batch_ship_packages(
        [
            BatchShipItem(id=good["package_ids"][0], self_shipment=shipment),
            BatchShipItem(id=held["package_ids"][0], self_shipment=shipment),
        ]
    )
    assert [e.item_id for e in result.item_errors] == [held["package_ids"][0]]


@pytest.mark.parametrize("kind", ["ship", "mark"])
async def test_dropped_answer_on_shipping_is_outcome_unknown(
    us: Connected, sku_ids: list[str], kind: str
) -> None:
    placed = place(us, sku_ids)
    oid, pkg = placed["order"]["id"], placed["package_ids"][0]
    usps = await provider_for(us, oid)
    op = (
        "POST /fulfillment/202309/packages/{package_id}/ship"
        if kind == "ship"
        else "POST /fulfillment/202309/orders/{order_id}/packages"
    )
    us.sandbox.admin("POST", "/sandbox/v1/faults", {"drop_response_rate": 1.0, "operations": [op]})
    before = us.sandbox.admin("GET", "/sandbox/v1/stats")["data"]["calls"].get(op, 0)
    with pytest.raises(OutcomeUnknownError):
        if kind == "ship":
            await us.shop.fulfillment.ship_package(
                pkg,
                ShipPackageRequest(
                    self_shipment=SelfShipment(
                        tracking_number=tracking(), shipping_provider_id=usps
                    )
                ),
            )
        else:
            await us.shop.fulfillment.mark_package_as_shipped(
                oid, MarkShippedRequest(tracking_number=tracking(), shipping_provider_id=usps)
            )
    after = us.sandbox.admin("GET", "/sandbox/v1/stats")["data"]["calls"].get(op, 0)
    assert after - before == 1
    us.sandbox.admin("DELETE", "/sandbox/v1/faults")
    # It did happen: the caller's reconcile step sees the order shipped.
    order = (await us.shop.orders.get_order_detail([oid])).orders[0]
    assert order.status == "AWAITING_COLLECTION"

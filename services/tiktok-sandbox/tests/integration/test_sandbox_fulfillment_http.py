"""Logistics and fulfilment over real HTTP (docs/sandbox-orders.md): each operation, each error."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from tiktok_sandbox.testing import RunningSandbox, SignedClient, install_mug_catalog, run_sandbox

USPS = "7117858858072016686"
UPS = "7117859084333745966"
ROYAL_MAIL = "7129736293359175429"
US_WAREHOUSE = "7068517275539719942"
US_STANDARD = "7129735950311798533"
US_EXPRESS = "7129736078862141189"


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    with run_sandbox() as sandbox:
        # The product store is another area's: a fixed catalogue stands in for it here.
        install_mug_catalog(sandbox)
        yield sandbox


def place(
    sb: RunningSandbox, skus: tuple[str, ...] = ("1729592969712207012",), **body: Any
) -> dict[str, Any]:
    """Place an order; by default past its hold, i.e. AWAITING_SHIPMENT."""
    release = body.pop("release", True)
    body.setdefault("region", "US")
    body["line_items"] = [{"sku_id": s} for s in skus]
    resp = sb.admin("POST", "/sandbox/v1/orders", body)
    assert resp["code"] == 0, resp
    if release and body.get("paid", True):
        sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 3600})
    return resp["data"]


def order_of(client: SignedClient, order_id: str) -> dict[str, Any]:
    (order,) = client.call("GET", "/order/202309/orders", params={"ids": order_id})["data"][
        "orders"
    ]
    return order


def ship(
    client: SignedClient,
    package_id: str,
    provider: str = USPS,
    tracking: str = "9400111899223100001",
) -> dict[str, Any]:
    body = {
        "handover_method": "DROP_OFF",
        "self_shipment": {"tracking_number": tracking, "shipping_provider_id": provider},
    }
    return client.call("POST", f"/fulfillment/202309/packages/{package_id}/ship", json=body)


# ---- logistics ------------------------------------------------------------------------------


def test_logistics_chain_warehouse_to_providers(us: SignedClient, sb: RunningSandbox) -> None:
    warehouses = us.call("GET", "/logistics/202309/warehouses")["data"]["warehouses"]
    default = next(w for w in warehouses if w["is_default"])
    assert default["id"] == US_WAREHOUSE and default["type"] == "SALES_WAREHOUSE"
    options = us.call("GET", f"/logistics/202309/warehouses/{US_WAREHOUSE}/delivery_options")
    assert {o["id"] for o in options["data"]["delivery_options"]} == {US_STANDARD, US_EXPRESS}
    providers = us.call(
        "GET", f"/logistics/202309/delivery_options/{US_STANDARD}/shipping_providers"
    )
    names = {p["name"]: p["id"] for p in providers["data"]["shipping_providers"]}
    assert {"USPS", "UPS", "FedEx"} <= set(names) and names["USPS"] == USPS
    uk_names = {
        p["name"]
        for o in sb.client("UK").call("GET", "/logistics/202309/warehouses")["data"]["warehouses"][
            :1
        ]
        for opt in sb.client("UK").call(
            "GET", f"/logistics/202309/warehouses/{o['id']}/delivery_options"
        )["data"]["delivery_options"][:1]
        for p in sb.client("UK").call(
            "GET", f"/logistics/202309/delivery_options/{opt['id']}/shipping_providers"
        )["data"]["shipping_providers"]
    }
    assert {"Royal Mail", "DPD", "Evri"} <= uk_names


def test_logistics_unknown_ids(us: SignedClient) -> None:
    assert us.call("GET", "/logistics/202309/warehouses/1/delivery_options")["code"] == 21001001
    assert (
        us.call("GET", "/logistics/202309/delivery_options/1/shipping_providers")["code"]
        == 21001002
    )
    # The UK warehouse is not the US shop's.
    uk_wh = us.call("GET", "/logistics/202309/warehouses/7068517275539720101/delivery_options")
    assert uk_wh["code"] == 21001001


# ---- Ship Package ----------------------------------------------------------------------------


def test_ship_package_moves_order_to_awaiting_collection(
    sb: RunningSandbox, us: SignedClient
) -> None:
    placed = place(sb)
    resp = ship(us, placed["package_ids"][0])
    assert resp == {"code": 0, "message": "Success", "request_id": resp["request_id"], "data": {}}
    order = order_of(us, placed["order"]["id"])
    assert order["status"] == "AWAITING_COLLECTION"
    assert (
        order["tracking_number"] == "9400111899223100001" and order["shipping_provider_id"] == USPS
    )
    assert order["line_items"][0]["package_status"] == "PROCESSING"
    again = ship(us, placed["package_ids"][0])
    assert again["code"] == 21011007 and again["data"] is None


@pytest.mark.parametrize(
    ("setup", "code", "words"),
    [
        ({"paid": False}, 21011003, "UNPAID"),
        ({"release": False}, 21011004, "ON_HOLD"),
        ({"fulfillment_type": "FULFILLMENT_BY_TIKTOK"}, 21011006, "FULFILLMENT_BY_TIKTOK"),
    ],
)
def test_ship_package_refused_for_wrong_orders(
    sb: RunningSandbox, us: SignedClient, setup: dict[str, Any], code: int, words: str
) -> None:
    placed = place(sb, **setup)
    resp = us.request(
        "POST",
        f"/fulfillment/202309/packages/{placed['package_ids'][0]}/ship",
        json={
            "self_shipment": {
                "tracking_number": "9400111899223100002",
                "shipping_provider_id": USPS,
            }
        },
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["code"] == code and words in body["message"] and body["data"] is None
    assert order_of(us, placed["order"]["id"])["status"] not in (
        "AWAITING_COLLECTION",
        "IN_TRANSIT",
    )


def test_ship_package_refused_for_cancelled_order(sb: RunningSandbox, us: SignedClient) -> None:
    placed = place(sb, release=False)
    sb.admin(
        "POST",
        f"/sandbox/v1/orders/{placed['order']['id']}/cancel",
        {"cancel_reason": "changed mind"},
    )
    resp = ship(us, placed["package_ids"][0])
    assert resp["code"] == 21011005 and "cancelled" in resp["message"]


def test_ship_package_param_and_provider_errors(sb: RunningSandbox, us: SignedClient) -> None:
    pkg = place(sb)["package_ids"][0]
    path = f"/fulfillment/202309/packages/{pkg}/ship"
    assert us.call("POST", path, json={})["message"] == "param body.self_shipment is missing"
    no_tracking = us.call("POST", path, json={"self_shipment": {"shipping_provider_id": USPS}})
    assert no_tracking["message"] == "param body.self_shipment.tracking_number is missing"
    unknown = ship(us, pkg, provider="42")
    assert unknown["code"] == 21011008 and "shipping_providers" in unknown["message"]
    wrong_market = ship(us, pkg, provider=ROYAL_MAIL)
    assert wrong_market["code"] == 21011008
    bad_handover = us.call(
        "POST",
        path,
        json={
            "handover_method": "THROW",
            "self_shipment": {"tracking_number": "1Z9", "shipping_provider_id": USPS},
        },
    )
    assert bad_handover["message"] == "param body.handover_method is invalid"
    bad_tracking = ship(us, pkg, tracking="no spaces allowed")
    assert bad_tracking["code"] == 21011013
    assert ship(us, "1")["code"] == 21011002
    assert ship(us, pkg)["code"] == 0  # nothing above changed the package


def test_express_option_limits_providers(sb: RunningSandbox, us: SignedClient) -> None:
    placed = place(sb, delivery_option_id=US_EXPRESS)
    assert ship(us, placed["package_ids"][0], provider=USPS)["code"] == 21011008
    assert ship(us, placed["package_ids"][0], provider=UPS)["code"] == 0


def test_batch_ship_reports_per_package_errors(sb: RunningSandbox, us: SignedClient) -> None:
    good = place(sb)["package_ids"][0]
    held = place(sb, release=False)["package_ids"][0]
    shipment = {"tracking_number": "1Z999AA10123456784", "shipping_provider_id": UPS}
    resp = us.call(
        "POST",
        "/fulfillment/202309/packages/ship",
        json={
            "packages": [
                {"id": good, "self_shipment": shipment},
                {"id": held, "self_shipment": shipment},
                {"id": "404"},
            ]
        },
    )
    assert resp["code"] == 0
    errors = {e["detail"]["package_id"]: e["code"] for e in resp["data"]["errors"]}
    assert errors == {held: 21011004, "404": 21011002}
    detail = us.call("GET", f"/fulfillment/202309/packages/{good}")["data"]
    assert detail["package_status"] == "PROCESSING" and detail["shipping_provider_name"] == "UPS"
    assert us.call("POST", "/fulfillment/202309/packages/ship", json={})["code"] == 36009004


# ---- Mark Package As Shipped -----------------------------------------------------------------


def test_mark_as_shipped_split_then_rest(sb: RunningSandbox, us: SignedClient) -> None:
    placed = place(sb, skus=("1729592969712207012", "1729592969712207013", "1729592969712207013"))
    oid = placed["order"]["id"]
    items = [li["id"] for li in placed["order"]["line_items"]]
    path = f"/fulfillment/202309/orders/{oid}/packages"
    first = us.call(
        "POST",
        path,
        json={
            "tracking_number": "9400111899223100010",
            "shipping_provider_id": USPS,
            "order_line_item_ids": items[:1],
        },
    )
    assert first["code"] == 0
    assert first["data"]["order_id"] == oid and first["data"]["order_line_item_ids"] == items[:1]
    assert first["data"]["package_id"] != placed["package_ids"][0]  # split into a new package
    order = order_of(us, oid)
    assert order["status"] == "PARTIALLY_SHIPPING" and order["split_or_combine_tag"] == "SPLIT"
    assert len(order["packages"]) == 2
    again = us.call(
        "POST",
        path,
        json={
            "tracking_number": "9400111899223100011",
            "shipping_provider_id": USPS,
            "order_line_item_ids": items[:1],
        },
    )
    assert again["code"] == 21011012  # already shipped line item
    rest = us.call(
        "POST", path, json={"tracking_number": "9400111899223100012", "shipping_provider_id": USPS}
    )
    assert rest["code"] == 0 and rest["data"]["order_line_item_ids"] == items[1:]
    order = order_of(us, oid)
    assert order["status"] == "AWAITING_COLLECTION"
    assert {li["package_status"] for li in order["line_items"]} == {"PROCESSING"}
    search = us.call(
        "POST",
        "/fulfillment/202309/packages/search",
        params={"page_size": 100},
        json={"package_status": "PROCESSING"},
    )
    found = {p["id"] for p in search["data"]["packages"]}
    assert {first["data"]["package_id"], rest["data"]["package_id"]} <= found


def test_mark_as_shipped_errors(sb: RunningSandbox, us: SignedClient) -> None:
    ok_order = place(sb)["order"]["id"]  # placed first: its clock jump would end any hold
    held = place(sb, release=False)["order"]["id"]
    path = "/fulfillment/202309/orders/{}/packages"
    body = {"tracking_number": "9400111899223100020", "shipping_provider_id": USPS}
    assert us.call("POST", path.format(held), json=body)["code"] == 21011004
    assert us.call("POST", path.format("999"), json=body)["code"] == 21011001
    assert (
        us.call("POST", path.format(ok_order), json={"shipping_provider_id": USPS})["message"]
        == "param body.tracking_number is missing"
    )
    assert (
        us.call("POST", path.format(ok_order), json={**body, "order_line_item_ids": ["1"]})["code"]
        == 21011012
    )
    fbt = place(sb, fulfillment_type="FULFILLMENT_BY_TIKTOK")["order"]["id"]
    assert us.call("POST", path.format(fbt), json=body)["code"] == 21011006


# ---- update shipping info --------------------------------------------------------------------


def test_update_shipping_info_within_72_hours_only(sb: RunningSandbox, us: SignedClient) -> None:
    placed = place(sb)
    oid, pkg = placed["order"]["id"], placed["package_ids"][0]
    fix = {"tracking_number": "1Z999AA10123456799", "shipping_provider_id": UPS}
    not_shipped = us.call(
        "POST", f"/fulfillment/202309/orders/{oid}/shipping_info/update", json=fix
    )
    assert not_shipped["code"] == 21011009
    assert ship(us, pkg)["code"] == 0
    by_order = us.call("POST", f"/fulfillment/202309/orders/{oid}/shipping_info/update", json=fix)
    assert by_order["code"] == 0
    order = order_of(us, oid)
    assert (
        order["tracking_number"] == fix["tracking_number"] and order["shipping_provider"] == "UPS"
    )
    fix2 = {"tracking_number": "9400111899223100099", "shipping_provider_id": USPS}
    by_package = us.call(
        "POST", f"/fulfillment/202309/packages/{pkg}/shipping_info/update", json=fix2
    )
    assert by_package["code"] == 0
    assert (
        us.call("GET", f"/fulfillment/202309/packages/{pkg}")["data"]["tracking_number"]
        == fix2["tracking_number"]
    )
    bad_provider = us.call(
        "POST",
        f"/fulfillment/202309/packages/{pkg}/shipping_info/update",
        json={**fix2, "shipping_provider_id": "1"},
    )
    assert bad_provider["code"] == 21011008
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 72 * 3600 + 1})
    late = us.call("POST", f"/fulfillment/202309/packages/{pkg}/shipping_info/update", json=fix)
    assert late["code"] == 21011010 and "72 hours" in late["message"]
    tracking = us.call("GET", f"/fulfillment/202309/orders/{oid}/tracking")["data"]["tracking"]
    assert tracking[0]["description"] == "Shipping information updated by the seller"
    assert all(isinstance(e["update_time_millis"], int) for e in tracking)


def test_update_shipping_info_refused_for_tiktok_shipped(
    sb: RunningSandbox, us: SignedClient
) -> None:
    placed = place(sb, fulfillment_type="FULFILLMENT_BY_TIKTOK")
    sb.admin("POST", f"/sandbox/v1/orders/{placed['order']['id']}/collect")
    fix = {"tracking_number": "9400111899223100030", "shipping_provider_id": USPS}
    resp = us.call(
        "POST",
        f"/fulfillment/202309/packages/{placed['package_ids'][0]}/shipping_info/update",
        json=fix,
    )
    assert resp["code"] == 21011011


# ---- reads and the carrier side --------------------------------------------------------------


def test_package_detail_tracking_and_carrier_progress(sb: RunningSandbox, us: SignedClient) -> None:
    placed = place(sb, skus=("1729592969712207013", "1729592969712207013"))
    oid, pkg = placed["order"]["id"], placed["package_ids"][0]
    assert us.call("GET", f"/fulfillment/202309/orders/{oid}/tracking")["data"]["tracking"] == []
    ship(us, pkg)
    detail = us.call("GET", f"/fulfillment/202309/packages/{pkg}")["data"]
    assert detail["orders"][0]["id"] == oid
    assert detail["orders"][0]["skus"] == [
        {"id": "1729592969712207013", "name": "MUG-BLUE", "image_url": "", "quantity": 2}
    ]
    early = sb.http.post(f"/sandbox/v1/orders/{oid}/deliver", json={})
    assert early.status_code == 409
    for action, status in (
        ("collect", "IN_TRANSIT"),
        ("deliver", "DELIVERED"),
        ("complete", "COMPLETED"),
    ):
        assert (
            sb.admin("POST", f"/sandbox/v1/orders/{oid}/{action}")["data"]["order"]["status"]
            == status
        )
    assert (
        us.call("GET", f"/fulfillment/202309/packages/{pkg}")["data"]["package_status"]
        == "COMPLETED"
    )
    events = us.call("GET", f"/fulfillment/202309/orders/{oid}/tracking")["data"]["tracking"]
    assert [e["description"] for e in events][:2] == [
        "Package delivered",
        "Package picked up by the carrier",
    ]
    assert us.call("GET", "/fulfillment/202309/packages/1")["code"] == 21011002
    assert us.call("GET", "/fulfillment/202309/orders/1/tracking")["code"] == 21011001


def test_partially_shipped_order_cannot_be_collected(sb: RunningSandbox, us: SignedClient) -> None:
    placed = place(sb, skus=("1729592969712207012", "1729592969712207013"))
    oid = placed["order"]["id"]
    item = placed["order"]["line_items"][0]["id"]
    us.call(
        "POST",
        f"/fulfillment/202309/orders/{oid}/packages",
        json={
            "tracking_number": "9400111899223100040",
            "shipping_provider_id": USPS,
            "order_line_item_ids": [item],
        },
    )
    resp = sb.http.post(f"/sandbox/v1/orders/{oid}/collect", json={})
    assert resp.status_code == 409 and "PARTIALLY_SHIPPING" in resp.json()["message"]


def test_package_search_paging(sb: RunningSandbox, us: SignedClient) -> None:
    for _ in range(3):
        place(sb, release=False)
    seen: list[str] = []
    token = ""
    while True:
        params: dict[str, Any] = {"page_size": 2}
        if token:
            params["page_token"] = token
        data = us.call("POST", "/fulfillment/202309/packages/search", params=params, json={})[
            "data"
        ]
        seen += [p["id"] for p in data["packages"]]
        token = data["next_page_token"]
        if not token:
            break
    assert len(seen) == len(set(seen)) == data["total_count"] >= 3
    bad = us.call(
        "POST",
        "/fulfillment/202309/packages/search",
        params={"page_size": 2},
        json={"package_status": "LOST"},
    )
    assert bad["code"] == 36009004


def test_fulfilment_is_shop_scoped(sb: RunningSandbox, us: SignedClient) -> None:
    uk_order = place(sb, skus=("1729592969712207099",), region="UK")
    uk_pkg = uk_order["package_ids"][0]
    assert us.call("GET", f"/fulfillment/202309/packages/{uk_pkg}")["code"] == 21011002
    uk = sb.client("UK")
    assert ship(uk, uk_pkg, provider=USPS)["code"] == 21011008
    assert ship(uk, uk_pkg, provider=ROYAL_MAIL, tracking="RM123456785GB")["code"] == 0


def test_concurrent_ships_of_one_package_succeed_exactly_once(
    sb: RunningSandbox, us: SignedClient
) -> None:
    placed = place(sb)
    pkg = placed["package_ids"][0]
    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(
            pool.map(lambda i: ship(us, pkg, tracking=f"9400111899223{i:06d}")["code"], range(16))
        )
    assert sorted(codes) == [0] + [21011007] * 15
    order = order_of(us, placed["order"]["id"])
    assert order["status"] == "AWAITING_COLLECTION"
    assert len({li["tracking_number"] for li in order["line_items"]}) == 1


def test_seller_order_on_tiktok_shipping_ships_with_a_tiktok_label(
    sb: RunningSandbox, us: SignedClient
) -> None:
    placed = place(sb, shipping_type="TIKTOK")
    oid, pkg = placed["order"]["id"], placed["package_ids"][0]
    resp = us.call(
        "POST", f"/fulfillment/202309/packages/{pkg}/ship", json={"handover_method": "PICKUP"}
    )
    assert resp["code"] == 0
    detail = us.call("GET", f"/fulfillment/202309/packages/{pkg}")["data"]
    assert detail["shipping_provider_name"] == "TT Virtual express"
    assert detail["tracking_number"].startswith("TT") and detail["handover_method"] == "PICKUP"
    assert order_of(us, oid)["status"] == "AWAITING_COLLECTION"
    # Mark As Shipped is for self-shipment only; a TikTok label cannot be "fixed" by the seller.
    fix = {"tracking_number": "9400111899223100060", "shipping_provider_id": USPS}
    mark = us.call("POST", f"/fulfillment/202309/orders/{oid}/packages", json=fix)
    assert mark["code"] == 21011007  # nothing left to ship
    update = us.call("POST", f"/fulfillment/202309/orders/{oid}/shipping_info/update", json=fix)
    assert update["code"] == 21011011
    unshipped = place(sb, shipping_type="TIKTOK")["order"]["id"]
    mark = us.call("POST", f"/fulfillment/202309/orders/{unshipped}/packages", json=fix)
    assert mark["code"] == 21011011 and "Ship Package" in mark["message"]

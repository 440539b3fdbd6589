"""Orders over real HTTP: admin placement and flow, signed search and detail
("Get Order List 202309", "Get Order Detail 202309")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tiktok_sandbox.seed import US_SHOP_ID
from tiktok_sandbox.testing import RunningSandbox, SignedClient, install_mug_catalog, run_sandbox


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    with run_sandbox() as sandbox:
        # The product store is another engineer's area: a fixed catalogue stands in for it here.
        install_mug_catalog(sandbox, image_url="https://p16-oec-va.ibyteimg.com/mug.jpeg")
        yield sandbox


def place(sb: RunningSandbox, **body: Any) -> dict[str, Any]:
    body.setdefault("region", "US")
    body.setdefault("line_items", [{"sku_id": "1729592969712207012", "quantity": 1}])
    resp = sb.admin("POST", "/sandbox/v1/orders", body)
    assert resp["code"] == 0, resp
    order: dict[str, Any] = resp["data"]["order"]
    return order


def detail(client: SignedClient, *ids: str, version: str = "202507") -> dict[str, Any]:
    return client.call("GET", f"/order/{version}/orders", params={"ids": ",".join(ids)})


def search(
    client: SignedClient, body: dict[str, Any] | None = None, **params: Any
) -> dict[str, Any]:
    params.setdefault("page_size", 50)
    return client.call("POST", "/order/202309/orders/search", params=params, json=body or {})


def test_placed_order_detail_at_both_versions(sb: RunningSandbox, us: SignedClient) -> None:
    order = place(sb, line_items=[{"seller_sku": "MUG-BLUE", "quantity": 2}])
    for version in ("202309", "202507"):
        resp = detail(us, order["id"], version=version)
        assert resp["code"] == 0 and resp["message"] == "Success" and resp["request_id"]
        (got,) = resp["data"]["orders"]
        assert got["id"] == order["id"] and isinstance(got["id"], str)
        assert got["status"] == "ON_HOLD" and got["is_on_hold_order"] is True
        assert "recipient_address" not in got  # withheld during the hold
        assert [li["seller_sku"] for li in got["line_items"]] == ["MUG-BLUE", "MUG-BLUE"]
        assert got["line_items"][0]["package_id"] == got["packages"][0]["id"]
        assert got["payment"]["sub_total"] == "39.00"
        assert got["shipping_type"] == "SELLER" and got["warehouse_id"] == "7068517275539719942"


def test_address_appears_after_the_hold(sb: RunningSandbox, us: SignedClient) -> None:
    order = place(sb)
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 3600})
    (got,) = detail(us, order["id"])["data"]["orders"]
    assert got["status"] == "AWAITING_SHIPMENT" and got["is_on_hold_order"] is False
    assert got["recipient_address"]["postal_code"] == "94061"


def test_detail_is_shop_scoped_and_limited_to_50_ids(
    sb: RunningSandbox, us: SignedClient, uk: SignedClient
) -> None:
    uk_order = place(sb, region="UK", line_items=[{"sku_id": "1729592969712207099"}])
    assert detail(us, uk_order["id"])["data"]["orders"] == []
    (got,) = detail(uk, uk_order["id"])["data"]["orders"]
    assert got["payment"]["currency"] == "GBP"
    too_many = detail(us, *[str(10**18 + i) for i in range(51)])
    assert too_many["code"] == 36009004 and too_many["data"] is None
    assert detail(us)["code"] == 36009004  # ids missing


def test_search_filters(sb: RunningSandbox, us: SignedClient) -> None:
    unpaid = place(sb, paid=False, buyer={"user_id": "7494560109732399999"})
    fbt = place(sb, fulfillment_type="FULFILLMENT_BY_TIKTOK")
    by_status = search(us, {"order_status": "UNPAID"})["data"]["orders"]
    assert unpaid["id"] in [o["id"] for o in by_status]
    assert {o["status"] for o in by_status} == {"UNPAID"}
    by_buyer = search(us, {"buyer_user_id": "7494560109732399999"})["data"]
    assert [o["id"] for o in by_buyer["orders"]] == [unpaid["id"]]
    assert by_buyer["total_count"] == 1 and by_buyer["next_page_token"] == ""
    tiktok = search(us, {"shipping_type": "TIKTOK"})["data"]["orders"]
    assert [o["id"] for o in tiktok] == [fbt["id"]]
    window = search(us, {"create_time_ge": unpaid["create_time"] + 10**6})["data"]
    assert window["total_count"] == 0 and window["orders"] == []
    sb.admin("POST", f"/sandbox/v1/orders/{unpaid['id']}/request_cancel")
    flagged = search(us, {"is_buyer_request_cancel": True})["data"]["orders"]
    assert [o["id"] for o in flagged] == [unpaid["id"]]


def test_search_cursor_paging_and_sorting(sb: RunningSandbox, uk: SignedClient) -> None:
    ids = [
        place(sb, region="UK", line_items=[{"sku_id": "1729592969712207099"}])["id"]
        for _ in range(7)
    ]
    total = search(uk)["data"]["total_count"]
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        params: dict[str, Any] = {"page_size": 3, "sort_order": "ASC", "sort_field": "create_time"}
        if token:
            params["page_token"] = token  # may hold '+' and '/': signed decoded, sent encoded
        data = search(uk, **params)["data"]
        assert data["total_count"] == total
        seen += [o["id"] for o in data["orders"]]
        pages += 1
        token = data["next_page_token"]
        if not token:
            break
    assert pages == -(-total // 3) and len(seen) == total == len(set(seen))
    created = [o for o in seen if o in ids]
    assert created == sorted(ids, key=int)  # ASC by create_time, ties broken by id
    desc = [o["id"] for o in search(uk, page_size=100)["data"]["orders"]]
    assert desc == seen[::-1]


@pytest.mark.parametrize(
    ("params", "body"),
    [
        ({"page_size": 0}, {}),
        ({"page_size": 101}, {}),
        ({"page_size": "ten"}, {}),
        ({"page_size": 10, "sort_field": "total_amount"}, {}),
        ({"page_size": 10, "sort_order": "UP"}, {}),
        ({"page_size": 10, "page_token": "%%%"}, {}),
        ({"page_size": 10}, {"order_status": "SHIPPED"}),
        ({"page_size": 10}, {"create_time_ge": "yesterday"}),
        ({"page_size": 10}, {"shipping_type": "DRONE"}),
    ],
)
def test_search_param_errors(
    us: SignedClient, params: dict[str, Any], body: dict[str, Any]
) -> None:
    resp = us.request("POST", "/order/202309/orders/search", params=params, json=body)
    assert resp.status_code == 200
    data = resp.json()
    assert data["code"] == 36009004 and data["data"] is None
    assert data["message"].startswith("param ")


def test_search_without_page_size_is_rejected(us: SignedClient) -> None:
    resp = us.call("POST", "/order/202309/orders/search", json={})
    assert resp["code"] == 36009004 and "page_size" in resp["message"]


def test_full_admin_flow_for_a_tiktok_fulfilled_order(sb: RunningSandbox, us: SignedClient) -> None:
    order = place(sb, fulfillment_type="FULFILLMENT_BY_TIKTOK", paid=False)
    oid = order["id"]
    assert order["shipping_type"] == "TIKTOK"
    assert sb.admin("POST", f"/sandbox/v1/orders/{oid}/pay")["data"]["order"]["status"] == "ON_HOLD"
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 3600})
    steps = {"collect": "IN_TRANSIT", "deliver": "DELIVERED", "complete": "COMPLETED"}
    for action, status in steps.items():
        resp = sb.admin("POST", f"/sandbox/v1/orders/{oid}/{action}")
        assert resp["code"] == 0 and resp["data"]["order"]["status"] == status
    (got,) = detail(us, oid)["data"]["orders"]
    assert got["status"] == "COMPLETED" and got["shipping_provider"] == "TT Virtual express"
    assert {li["display_status"] for li in got["line_items"]} == {"COMPLETED"}
    again = sb.http.post(f"/sandbox/v1/orders/{oid}/cancel", json={})
    assert again.status_code == 409 and again.json()["code"] == 40900


def test_admin_errors(sb: RunningSandbox) -> None:
    missing_sku = sb.http.post(
        "/sandbox/v1/orders", json={"region": "US", "line_items": [{"sku_id": "1"}]}
    )
    assert missing_sku.status_code == 404 and "sku_id 1" in missing_sku.json()["message"]
    no_shop = sb.http.post("/sandbox/v1/orders", json={"line_items": [{"sku_id": "1"}]})
    assert no_shop.status_code == 400
    unknown = sb.http.post("/sandbox/v1/orders/123/pay", json={})
    assert unknown.status_code == 404
    order = place(sb)
    bad_action = sb.http.post(f"/sandbox/v1/orders/{order['id']}/teleport", json={})
    assert bad_action.status_code == 404
    early = sb.http.post(f"/sandbox/v1/orders/{order['id']}/deliver", json={})
    assert early.status_code == 409 and "IN_TRANSIT" in early.json()["message"]
    view = sb.admin("GET", f"/sandbox/v1/orders/{order['id']}")["data"]
    assert view["order"]["id"] == order["id"] and len(view["package_ids"]) == 1


def test_orders_are_counted_in_stats(sb: RunningSandbox) -> None:
    before = sb.admin("GET", "/sandbox/v1/stats")["data"]["orders_by_shop"].get(US_SHOP_ID, 0)
    place(sb)
    after = sb.admin("GET", "/sandbox/v1/stats")["data"]["orders_by_shop"][US_SHOP_ID]
    assert after == before + 1

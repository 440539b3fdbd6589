"""Products over real HTTP: upload, create, audit, edit, get, search, batch, price, stock."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tiktok_sandbox.testing import (
    US_WAREHOUSE,
    RunningSandbox,
    SignedClient,
    run_sandbox,
    sample_png,
    sample_sofa,
)

CREATE = "/product/202309/products"


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    with run_sandbox(audit_delay_seconds=60, qps=0) as sandbox:
        yield sandbox


def upload(client: SignedClient, width: int = 600, height: int = 400) -> dict[str, Any]:
    return client.upload_image(width, height)


sofa_body = sample_sofa


def create(client: SignedClient, body: dict[str, Any]) -> dict[str, Any]:
    resp = client.call("POST", CREATE, json=body)
    assert resp["code"] == 0, resp
    return resp["data"]


def get(client: SignedClient, product_id: str) -> dict[str, Any]:
    resp = client.call("GET", f"/product/202309/products/{product_id}")
    assert resp["code"] == 0, resp
    return resp["data"]


def test_upload_image(sb: RunningSandbox, us: SignedClient) -> None:
    data = upload(us, 320, 240)
    assert set(data) == {"uri", "url", "width", "height", "use_case"}
    assert (data["width"], data["height"], data["use_case"]) == (320, 240, "MAIN_IMAGE")
    served = sb.http.get(data["url"])
    assert served.status_code == 200 and served.content[:4] == b"\x89PNG"


def test_upload_rejects_non_images_and_cipher(us: SignedClient) -> None:
    bad = us.call(
        "POST",
        "/product/202309/images/upload",
        cipher=False,
        files={"data": ("a.gif", b"GIF89a....", "image/gif")},
        data={"use_case": "MAIN_IMAGE"},
    )
    assert bad["code"] == 12052300
    with_cipher = us.request(
        "POST",
        "/product/202309/images/upload",
        files={"data": ("a.png", sample_png(2, 2), "image/png")},
        data={"use_case": "MAIN_IMAGE"},
    )
    assert with_cipher.json()["code"] == 36009004
    assert with_cipher.json()["message"].startswith("Unexpected identifier")


def test_create_then_audit_to_activate(sb: RunningSandbox, us: SignedClient) -> None:
    data = create(us, sofa_body(us, "SOFA1"))
    assert data["product_id"].isdigit() and len(data["skus"]) == 2
    assert [s["seller_sku"] for s in data["skus"]] == ["SOFA1-GRY", "SOFA1-BLU"]
    assert all(a["value_id"] for s in data["skus"] for a in s["sales_attributes"])
    product = get(us, data["product_id"])
    assert product["status"] == "PENDING" and product["audit"]["status"] == "AUDITING"
    assert product["skus"][0]["price"] == {
        "tax_exclusive_price": "499.00",
        "sale_price": "499.00",
        "currency": "USD",
    }
    assert [c["local_name"] for c in product["category_chains"]][-1] == "Sofas"
    assert product["brand"] == {"id": "7082427311584347905", "name": "Teas"}
    assert product["main_images"][0]["width"] == 600
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 61})
    product = get(us, data["product_id"])
    assert product["status"] == "ACTIVATE" and product["audit"]["status"] == "APPROVED"


def test_audit_can_fail(sb: RunningSandbox, us: SignedClient) -> None:
    body = sofa_body(us, "SOFAF", title="Sofa " + sb.settings.audit_fail_keyword)
    pid = create(us, body)["product_id"]
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 61})
    assert get(us, pid)["status"] == "FAILED"


def test_duplicate_seller_sku_in_shop_is_rejected_and_counted(
    sb: RunningSandbox, us: SignedClient
) -> None:
    create(us, sofa_body(us, "DUP"))
    again = us.call("POST", CREATE, json=sofa_body(us, "DUP"))
    assert again["code"] == 12052056 and again["data"] is None
    stats = sb.admin("GET", "/sandbox/v1/stats")["data"]
    assert stats["duplicate_seller_sku_rejections"][sb.shop_id("US")] >= 1
    assert stats["duplicate_seller_skus"]["live"] == {}


def test_draft_then_activate(sb: RunningSandbox, us: SignedClient) -> None:
    draft = {
        "save_mode": "AS_DRAFT",
        "title": "Draft sofa",
        "category_id": us.leaf_id("Sofas"),
        "category_version": "v2",
        "skus": [{"seller_sku": "DRAFT-1", "price": {"amount": "10", "currency": "USD"}}],
    }
    pid = create(us, draft)["product_id"]
    assert get(us, pid)["status"] == "DRAFT"
    # Incomplete drafts cannot be listed: the error is per item, inside code 0.
    resp = us.call("POST", "/product/202309/products/activate", json={"product_ids": [pid]})
    assert resp["code"] == 0
    (err,) = resp["data"]["errors"]
    assert err["detail"] == {"product_id": pid} and err["code"] != 0


def test_full_edit_replaces_skus_at_both_versions(sb: RunningSandbox, us: SignedClient) -> None:
    created = create(us, sofa_body(us, "EDIT"))
    pid = created["product_id"]
    kept = created["skus"][0]
    for version in ("202309", "202509"):
        body = sofa_body(us, "EDIT", title=f"Sofa v{version}")
        body["skus"] = [dict(body["skus"][0], id=kept["id"])]
        resp = us.call("PUT", f"/product/{version}/products/{pid}", json=body)
        assert resp["code"] == 0, resp
        product = get(us, pid)
        assert product["title"] == f"Sofa v{version}" and product["status"] == "PENDING"
        assert [s["id"] for s in product["skus"]] == [kept["id"]]
    # The dropped SKU's seller_sku is free again.
    create(
        us,
        sofa_body(
            us, "EDIT-BLU-X", skus=[dict(sofa_body(us, "x")["skus"][1], seller_sku="EDIT-BLU")]
        ),
    )
    foreign = sofa_body(us, "EDIT")
    foreign["skus"] = [dict(foreign["skus"][0], id="123")]
    assert us.call("PUT", f"/product/202509/products/{pid}", json=foreign)["code"] == 12052701


def test_partial_edit_replaces_only_sent_properties(us: SignedClient) -> None:
    created = create(us, sofa_body(us, "PART"))
    pid = created["product_id"]
    for version in ("202309", "202509"):
        resp = us.call(
            "POST",
            f"/product/{version}/products/{pid}/partial_edit",
            json={"title": f"Renamed {version}"},
        )
        assert resp["code"] == 0, resp
        product = get(us, pid)
        assert product["title"] == f"Renamed {version}"
        assert [s["id"] for s in product["skus"]] == [s["id"] for s in created["skus"]]
    bad = us.call("POST", f"/product/202509/products/{pid}/partial_edit", json={"title": ""})
    assert bad["code"] == 12052051


def test_get_errors(sb: RunningSandbox, us: SignedClient) -> None:
    assert us.call("GET", "/product/202309/products/1")["code"] == 12019150
    pid = create(us, sofa_body(us, "OWN"))["product_id"]
    uk = sb.client("UK")
    assert uk.call("GET", f"/product/202309/products/{pid}")["code"] == 12052048


def test_search_filters_paging_and_versions(sb: RunningSandbox, us: SignedClient) -> None:
    ids = [create(us, sofa_body(us, f"SRCH{i}"))["product_id"] for i in range(3)]
    for version in ("202309", "202312", "202502"):
        path = f"/product/{version}/products/search"
        by_sku = us.call(
            "POST", path, params={"page_size": 10}, json={"seller_skus": ["SRCH1-GRY"]}
        )
        assert [p["id"] for p in by_sku["data"]["products"]] == [ids[1]]
        item = by_sku["data"]["products"][0]
        assert item["skus"][0]["price"]["currency"] == "USD" and item["sales_regions"] == ["US"]
    seen, token = [], ""
    while True:
        params: dict[str, Any] = {"page_size": 2}
        if token:
            params["page_token"] = token
        data = us.call(
            "POST", "/product/202502/products/search", params=params, json={"status": "PENDING"}
        )["data"]
        seen += [p["id"] for p in data["products"]]
        token = data["next_page_token"]
        if not token:
            break
    assert len(seen) == len(set(seen)) == data["total_count"] and set(ids) <= set(seen)
    assert (
        us.call("POST", "/product/202502/products/search", json={"status": "NOPE"})["code"]
        == 36009004
    )
    eleven = [f"s{i}" for i in range(11)]
    assert (
        us.call("POST", "/product/202502/products/search", json={"seller_skus": eleven})["code"]
        == 36009004
    )
    assert (
        us.call("POST", "/product/202502/products/search", params={"page_size": 101}, json={})[
            "code"
        ]
        == 36009004
    )


def test_batch_status_changes_report_item_errors_inside_code_0(
    sb: RunningSandbox, us: SignedClient
) -> None:
    pid = create(us, sofa_body(us, "BATCH"))["product_id"]
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 61})
    deact = us.call(
        "POST", "/product/202309/products/deactivate", json={"product_ids": [pid, "42"]}
    )
    assert deact["code"] == 0
    assert deact["data"]["errors"] == [
        {"code": 12019150, "message": "Product does not exist.", "detail": {"product_id": "42"}}
    ]
    assert get(us, pid)["status"] == "SELLER_DEACTIVATED"
    again = us.call("POST", "/product/202309/products/deactivate", json={"product_ids": [pid]})
    assert again["data"]["errors"][0]["code"] == 12052700
    act = us.call("POST", "/product/202309/products/activate", json={"product_ids": [pid]})
    assert act["data"]["errors"] == [] and get(us, pid)["status"] == "PENDING"
    assert us.call("DELETE", CREATE, json={"product_ids": [pid]})["data"]["errors"] == []
    assert get(us, pid)["status"] == "DELETED"
    listed = us.call("POST", "/product/202309/products/search", json={"seller_skus": ["BATCH-GRY"]})
    assert listed["data"]["total_count"] == 0
    rec = us.call("POST", "/product/202309/products/recover", json={"product_ids": [pid]})
    assert rec["data"]["errors"] == [] and get(us, pid)["status"] == "SELLER_DEACTIVATED"
    too_many = us.call("DELETE", CREATE, json={"product_ids": [str(i) for i in range(21)]})
    assert too_many["code"] == 36009004


def test_listing_check(us: SignedClient) -> None:
    good = us.call("POST", "/product/202309/products/listing_check", json=sofa_body(us, "LC"))
    assert good["code"] == 0 and good["data"]["check_result"] == "PASS"
    bad_body = sofa_body(us, "LC2", title="", main_images=[])
    bad = us.call("POST", "/product/202309/products/listing_check", json=bad_body)
    assert bad["data"]["check_result"] == "FAILED"
    assert {r["code"] for r in bad["data"]["fail_reasons"]} >= {12052051, 12052028}
    # A dry run creates nothing.
    assert (
        us.call("POST", "/product/202309/products/search", json={"seller_skus": ["LC-GRY"]})[
            "data"
        ]["total_count"]
        == 0
    )


def test_price_update_skips_the_audit(sb: RunningSandbox, us: SignedClient) -> None:
    created = create(us, sofa_body(us, "PRICE"))
    pid, sku = created["product_id"], created["skus"][0]["id"]
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 61})
    path = f"/product/202309/products/{pid}/prices/update"
    ok = us.call(
        "POST", path, json={"skus": [{"id": sku, "price": {"amount": "1.32", "currency": "USD"}}]}
    )
    assert ok == {**ok, "code": 0, "data": {}}
    product = get(us, pid)
    assert product["status"] == "ACTIVATE" and product["skus"][0]["price"]["sale_price"] == "1.32"
    bad = us.call(
        "POST", path, json={"skus": [{"id": sku, "price": {"amount": "1", "currency": "GBP"}}]}
    )
    assert bad["code"] == 12052061
    high = us.call(
        "POST",
        path,
        json={"skus": [{"id": sku, "price": {"amount": "7600.01", "currency": "USD"}}]},
    )
    assert high["code"] == 12052060
    unknown = us.call(
        "POST", path, json={"skus": [{"id": "1", "price": {"amount": "1", "currency": "USD"}}]}
    )
    assert unknown["code"] == 12052701


def test_inventory_update_and_search(us: SignedClient) -> None:
    created = create(us, sofa_body(us, "STOCK"))
    pid, sku1, sku2 = created["product_id"], created["skus"][0]["id"], created["skus"][1]["id"]
    path = f"/product/202309/products/{pid}/inventory/update"
    body = {
        "skus": [
            {"id": sku1, "inventory": [{"warehouse_id": US_WAREHOUSE, "quantity": 999}]},
            {"id": sku2, "inventory": [{"warehouse_id": "1", "quantity": 5}]},
            {"id": "999", "inventory": [{"warehouse_id": US_WAREHOUSE, "quantity": 5}]},
        ]
    }
    resp = us.call("POST", path, json=body)
    assert resp["code"] == 0
    errors = {e["detail"]["sku_id"]: e for e in resp["data"]["errors"]}
    assert set(errors) == {sku2, "999"}
    assert errors[sku2]["detail"]["extra_errors"] == [
        {"code": 12052097, "message": "Warehouse [1] does not exist.", "warehouse_id": "1"}
    ]
    search = us.call("POST", "/product/202309/inventory/search", json={"product_ids": [pid]})
    (entry,) = search["data"]["inventory"]
    totals = {s["id"]: s["total_available_quantity"] for s in entry["skus"]}
    assert totals == {sku1: 999, sku2: 3}
    by_sku = us.call("POST", "/product/202309/inventory/search", json={"sku_ids": [sku2]})
    assert [s["id"] for s in by_sku["data"]["inventory"][0]["skus"]] == [sku2]
    assert us.call("POST", "/product/202309/inventory/search", json={})["code"] == 36009004
    # Ids must come as a list: anything else is a param error, never an internal error.
    for bad in ({"product_ids": 5}, {"sku_ids": True}, {"product_ids": "1,2"}, {"sku_ids": [{}]}):
        resp = us.request("POST", "/product/202309/inventory/search", json=bad)
        assert resp.status_code == 200 and resp.json()["code"] == 36009004, (bad, resp.text)


def test_lookups_for_orders(sb: RunningSandbox, us: SignedClient) -> None:
    created = create(us, sofa_body(us, "LOOK"))
    sku = created["skus"][1]
    found = sb.state.products.find_by_seller_sku(sb.shop_id("US"), "LOOK-BLU")
    assert found is not None and found == sb.state.products.get_sku(sb.shop_id("US"), sku["id"])
    assert found["product_id"] == created["product_id"] and found["price"] == "519.00"
    assert found["currency"] == "USD" and found["sku_name"] == "Blue"
    assert found["image_url"].startswith("http")
    assert sb.state.products.get_sku(sb.shop_id("UK"), sku["id"]) is None


def test_admin_shop_products(sb: RunningSandbox, us: SignedClient) -> None:
    create(us, sofa_body(us, "ADMIN"))
    data = sb.admin("GET", f"/sandbox/v1/shops/{sb.shop_id('US')}/products")["data"]
    assert data["total_count"] == len(data["products"]) >= 1
    assert any(s["seller_sku"] == "ADMIN-GRY" for p in data["products"] for s in p["skus"])
    assert sb.admin("GET", "/sandbox/v1/shops/1/products")["code"] == 36009004


def test_commit_then_drop_the_response(sb: RunningSandbox, us: SignedClient) -> None:
    rule = {"drop_response_rate": 1.0, "operations": [f"POST {CREATE}"], "remaining": 1}
    assert sb.admin("POST", "/sandbox/v1/faults", rule)["code"] == 0
    before = sb.admin("GET", "/sandbox/v1/stats")["data"]["calls"].get(f"POST {CREATE}", 0)
    body = sofa_body(us, "DROP")
    with pytest.raises(httpx.TransportError):
        us.request("POST", CREATE, json=body)
    # The write was committed even though the client never saw an answer.
    found = sb.state.products.find_by_seller_sku(sb.shop_id("US"), "DROP-GRY")
    assert found is not None
    stats = sb.admin("GET", "/sandbox/v1/stats")["data"]
    assert stats["calls"][f"POST {CREATE}"] == before + 1
    assert stats["faults_injected"]["drop_response"] == 1
    # A blind retry is caught as a duplicate.
    assert us.call("POST", CREATE, json=copy.deepcopy(body))["code"] == 12052056
    sb.admin("DELETE", "/sandbox/v1/faults")


def test_audit_outcome_is_sent_as_webhooks(sb: RunningSandbox, us: SignedClient) -> None:
    for event in ("PRODUCT_STATUS_CHANGE", "PRODUCT_AUDIT_STATUS_CHANGE"):
        sub = us.call(
            "PUT",
            "/event/202309/webhooks",
            json={"event_type": event, "address": "http://127.0.0.1:9/hook"},
        )
        assert sub["code"] == 0, sub
    pid = create(us, sofa_body(us, "HOOK"))["product_id"]
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 61})
    deadline = time.monotonic() + 10
    mine: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        log = sb.admin("GET", "/sandbox/v1/webhooks/deliveries?limit=1000")["data"]["deliveries"]
        mine = [d["payload"] for d in log if d["payload"]["data"].get("product_id") == pid]
        if len({p["type"] for p in mine}) == 2:
            break
        time.sleep(0.05)
    by_type = {p["type"]: p for p in mine}
    assert by_type[5]["data"]["status"] == "ACTIVATE"
    assert by_type[37]["data"]["audit"]["status"] == "APPROVED"
    assert by_type[5]["shop_id"] == sb.shop_id("US")


def test_edit_with_skus_not_a_list_is_a_validation_error(us: SignedClient) -> None:
    pid = create(us, sofa_body(us, "BADSKUS"))["product_id"]
    for path, method in (
        (f"/product/202509/products/{pid}/partial_edit", "POST"),
        (f"/product/202509/products/{pid}", "PUT"),
    ):
        body = {"skus": 5} if method == "POST" else {**sofa_body(us, "BADSKUS"), "skus": 5}
        resp = us.request(method, path, json=body)
        assert resp.status_code == 200, resp.text
        assert resp.json()["code"] == 12052049 and resp.json()["data"] is None

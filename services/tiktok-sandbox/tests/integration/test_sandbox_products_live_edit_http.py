"""An edit of a live product over real HTTP ("Edit Product 202309", "Get Product 202309"):
the live version keeps selling and is what Get/Search show, `return_under_review_version`
shows the edit, and the audit's end replaces the live content and is sent as a webhook."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from tiktok_sandbox.testing import RunningSandbox, SignedClient, run_sandbox, sample_sofa

CREATE = "/product/202309/products"


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    # A long audit on the sandbox clock: only `advance` ends it, never the 1 s ticker.
    with run_sandbox(audit_delay_seconds=600, qps=0) as sandbox:
        yield sandbox


def advance(sb: RunningSandbox) -> None:
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 601})


def get(client: SignedClient, pid: str, **params: Any) -> dict[str, Any]:
    resp = client.call("GET", f"/product/202309/products/{pid}", params=params)
    assert resp["code"] == 0, resp
    data: dict[str, Any] = resp["data"]
    return data


def live_product(sb: RunningSandbox, us: SignedClient, seller_sku: str) -> dict[str, Any]:
    created = us.call("POST", CREATE, json=sample_sofa(us, seller_sku))
    assert created["code"] == 0, created
    advance(sb)
    data: dict[str, Any] = created["data"]
    assert get(us, data["product_id"])["status"] == "ACTIVATE"
    return data


def audit_events(sb: RunningSandbox, pid: str, count: int) -> list[str]:
    """`audit.status` of the first delivery attempts of type 37 for a product, oldest first;
    waits (bounded) until `count` of them were attempted."""
    deadline = time.monotonic() + 10
    seen: list[str] = []
    while time.monotonic() < deadline:
        log = sb.admin("GET", "/sandbox/v1/webhooks/deliveries?limit=2000")["data"]["deliveries"]
        seen = [
            d["payload"]["data"]["audit"]["status"]
            for d in log
            if d["attempt"] == 1
            and d["payload"]["type"] == 37
            and d["payload"]["data"].get("product_id") == pid
        ]
        if len(seen) >= count:
            break
        time.sleep(0.05)
    return seen


def test_a_live_product_keeps_selling_while_its_edit_is_reviewed(
    sb: RunningSandbox, us: SignedClient
) -> None:
    sub = us.call(
        "PUT",
        "/event/202309/webhooks",
        json={"event_type": "PRODUCT_AUDIT_STATUS_CHANGE", "address": "http://127.0.0.1:9/hook"},
    )
    assert sub["code"] == 0, sub
    created = live_product(sb, us, "LIVE")
    pid = created["product_id"]
    body = sample_sofa(us, "LIVE", title="Sofa, new edition")
    body["skus"] = [dict(body["skus"][0], id=created["skus"][0]["id"])]  # drops the blue one
    edited = us.call("PUT", f"/product/202509/products/{pid}", json=body)
    assert edited["code"] == 0, edited
    assert [s["seller_sku"] for s in edited["data"]["skus"]] == ["LIVE-GRY"]

    live = get(us, pid)
    assert live["status"] == "ACTIVATE" and live["audit"]["status"] == "AUDITING"
    assert live["title"] != "Sofa, new edition" and len(live["skus"]) == 2
    review = get(us, pid, return_under_review_version="true")
    assert review["status"] == "ACTIVATE" and review["audit"]["status"] == "AUDITING"
    assert review["title"] == "Sofa, new edition" and len(review["skus"]) == 1
    search = "/product/202502/products/search"
    active = us.call("POST", search, json={"status": "ACTIVATE", "seller_skus": ["LIVE-BLU"]})
    assert [p["id"] for p in active["data"]["products"]] == [pid]
    assert active["data"]["products"][0]["audit"]["status"] == "AUDITING"
    pending = us.call("POST", search, json={"status": "PENDING", "seller_skus": ["LIVE-BLU"]})
    assert pending["data"]["products"] == []
    # Buyers can still order the live SKUs, even the one the edit removes.
    order = {"region": "US", "line_items": [{"seller_sku": "LIVE-BLU"}]}
    placed = sb.admin("POST", "/sandbox/v1/orders", order)
    assert placed["code"] == 0, placed

    advance(sb)
    approved = get(us, pid)
    assert approved["status"] == "ACTIVATE" and approved["audit"]["status"] == "APPROVED"
    assert approved["title"] == "Sofa, new edition" and len(approved["skus"]) == 1
    gone = us.call(
        "GET", f"/product/202309/products/{pid}", params={"return_under_review_version": "true"}
    )
    assert gone["code"] == 12052547 and gone["data"] is None
    assert audit_events(sb, pid, 2) == ["APPROVED", "APPROVED"]


def test_price_updates_reach_the_live_product_during_the_review(
    sb: RunningSandbox, us: SignedClient
) -> None:
    created = live_product(sb, us, "LIVEPRICE")
    pid, sku = created["product_id"], created["skus"][0]["id"]
    path = f"/product/202509/products/{pid}/partial_edit"
    assert us.call("POST", path, json={"title": "Renamed sofa"})["code"] == 0
    price = {"skus": [{"id": sku, "price": {"amount": "450.00", "currency": "USD"}}]}
    assert us.call("POST", f"/product/202309/products/{pid}/prices/update", json=price)["code"] == 0
    live = get(us, pid)
    assert live["skus"][0]["price"]["sale_price"] == "450.00"
    assert live["audit"]["status"] == "AUDITING" and live["title"] != "Renamed sofa"
    advance(sb)
    approved = get(us, pid)
    assert approved["title"] == "Renamed sofa"
    assert approved["skus"][0]["price"]["sale_price"] == "450.00"


def test_a_rejected_edit_keeps_the_live_content(sb: RunningSandbox, us: SignedClient) -> None:
    pid = live_product(sb, us, "LIVEREJ")["product_id"]
    title = "Sofa " + sb.settings.audit_fail_keyword
    path = f"/product/202509/products/{pid}/partial_edit"
    assert us.call("POST", path, json={"title": title})["code"] == 0
    advance(sb)
    live = get(us, pid)
    assert live["status"] == "ACTIVATE" and live["audit"]["status"] == "REJECTED"
    assert live["title"] != title and live["audit_failed_reasons"]


def test_under_review_version_of_products_never_edited(
    sb: RunningSandbox, us: SignedClient
) -> None:
    created = us.call("POST", CREATE, json=sample_sofa(us, "NEWONE"))
    pid = created["data"]["product_id"]
    # A new product is its own version under review until its first audit ends.
    assert get(us, pid, return_under_review_version="true")["status"] == "PENDING"
    advance(sb)
    none = us.call(
        "GET", f"/product/202309/products/{pid}", params={"return_under_review_version": "1"}
    )
    assert none["code"] == 12052547
    assert get(us, pid, return_under_review_version="false")["status"] == "ACTIVATE"
    bad = us.call(
        "GET", f"/product/202309/products/{pid}", params={"return_under_review_version": "x"}
    )
    assert bad["code"] == 36009004

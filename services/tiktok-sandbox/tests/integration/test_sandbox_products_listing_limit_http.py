"""The new-shop daily listing cap over real HTTP: 12019068 on the create past the cap, set
per shop through the admin API, counted per UTC day of the sandbox clock, creates only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tiktok_sandbox.testing import (
    US_WAREHOUSE,
    RunningSandbox,
    SignedClient,
    run_sandbox,
    sample_sofa,
)

CREATE = "/product/202309/products"


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    # The setting is the default of every shop; the tests below override it per shop.
    with run_sandbox(new_shop_daily_listing_limit=2, audit_delay_seconds=0, qps=0) as sandbox:
        yield sandbox


def limit_path(sb: RunningSandbox, region: str) -> str:
    return f"/sandbox/v1/shops/{sb.shop_id(region)}/listing_limit"


def set_limit(sb: RunningSandbox, region: str, limit: int | None) -> dict[str, Any]:
    resp = sb.http.put(limit_path(sb, region), json={"daily_limit": limit}).json()
    assert resp["code"] == 0, resp
    data: dict[str, Any] = resp["data"]
    return data


def next_utc_day(sb: RunningSandbox, region: str) -> None:
    status = sb.admin("GET", limit_path(sb, region))["data"]
    now = sb.admin("GET", "/sandbox/v1/clock")["data"]["now"]
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": status["resets_at"] - now + 1})


def create(client: SignedClient, seller_sku: str) -> dict[str, Any]:
    resp: dict[str, Any] = client.call("POST", CREATE, json=sample_sofa(client, seller_sku))
    return resp


def test_the_settings_cap_applies_and_resets_at_utc_midnight(
    sb: RunningSandbox, us: SignedClient
) -> None:
    next_utc_day(sb, "US")  # start on a fresh day, whatever other tests created
    status = sb.admin("GET", limit_path(sb, "US"))["data"]
    assert (status["daily_limit"], status["source"], status["created_today"]) == (2, "settings", 0)
    assert create(us, "CAP1")["code"] == 0 and create(us, "CAP2")["code"] == 0
    refused = create(us, "CAP3")
    assert refused["code"] == 12019068 and refused["data"] is None
    assert "2 products a day" in refused["message"]
    # Nothing was created: the seller SKUs are still free.
    found = us.call("POST", "/product/202502/products/search", json={"seller_skus": ["CAP3-GRY"]})
    assert found["data"]["total_count"] == 0
    status = sb.admin("GET", limit_path(sb, "US"))["data"]
    assert (status["created_today"], status["remaining_today"]) == (2, 0)
    assert sb.admin("GET", "/sandbox/v1/stats")["data"]["errors_by_code"]["12019068"] >= 1
    next_utc_day(sb, "US")
    assert create(us, "CAP3")["code"] == 0


def test_edits_prices_stock_and_dry_runs_are_not_capped(
    sb: RunningSandbox, us: SignedClient
) -> None:
    next_utc_day(sb, "US")
    made = create(us, "FREE")
    assert made["code"] == 0, made
    pid, sku = made["data"]["product_id"], made["data"]["skus"][0]["id"]
    set_limit(sb, "US", 1)  # today's one create is used up
    assert create(us, "FREE2")["code"] == 12019068
    edit = us.call("POST", f"/product/202509/products/{pid}/partial_edit", json={"title": "Sofa"})
    assert edit["code"] == 0, edit
    full = sample_sofa(us, "FREE")
    assert us.call("PUT", f"/product/202509/products/{pid}", json=full)["code"] == 0
    price = {"skus": [{"id": sku, "price": {"amount": "10.00", "currency": "USD"}}]}
    assert us.call("POST", f"/product/202309/products/{pid}/prices/update", json=price)["code"] == 0
    stock = {"skus": [{"id": sku, "inventory": [{"warehouse_id": US_WAREHOUSE, "quantity": 3}]}]}
    assert (
        us.call("POST", f"/product/202309/products/{pid}/inventory/update", json=stock)["code"] == 0
    )
    check = us.call("POST", "/product/202309/products/listing_check", json=sample_sofa(us, "DRY"))
    assert check["data"]["check_result"] == "PASS"
    assert sb.admin("GET", limit_path(sb, "US"))["data"]["created_today"] == 1
    set_limit(sb, "US", None)


def test_an_invalid_create_does_not_use_the_allowance(sb: RunningSandbox, us: SignedClient) -> None:
    next_utc_day(sb, "US")
    set_limit(sb, "US", 1)
    bad = us.call("POST", CREATE, json=sample_sofa(us, "BAD", title=""))
    assert bad["code"] == 12052051
    assert create(us, "GOOD")["code"] == 0
    assert create(us, "GOOD2")["code"] == 12019068
    set_limit(sb, "US", None)


def test_the_cap_is_per_shop(sb: RunningSandbox, us: SignedClient, uk: SignedClient) -> None:
    next_utc_day(sb, "US")
    status = set_limit(sb, "UK", 0)  # no cap for the UK shop
    assert (status["daily_limit"], status["source"], status["remaining_today"]) == (0, "shop", None)
    set_limit(sb, "US", 1)
    assert create(us, "PERSHOP")["code"] == 0
    assert create(us, "PERSHOP2")["code"] == 12019068
    for i in range(3):  # drafts are creates too; the UK shop has no cap
        draft = {
            "save_mode": "AS_DRAFT",
            "title": "Sofa",
            "category_id": "604468",
            "skus": [{"seller_sku": f"UKCAP{i}", "price": {"amount": "5", "currency": "GBP"}}],
        }
        assert uk.call("POST", CREATE, json=draft)["code"] == 0
    assert sb.admin("GET", limit_path(sb, "UK"))["data"]["created_today"] >= 3
    set_limit(sb, "US", None)
    set_limit(sb, "UK", None)


def test_admin_validation(sb: RunningSandbox) -> None:
    for bad in ({"daily_limit": -1}, {"daily_limit": "5"}, {"daily_limit": True}, {}):
        resp = sb.http.put(limit_path(sb, "US"), json=bad).json()
        assert resp["code"] == 36009004, (bad, resp)
    assert sb.http.get("/sandbox/v1/shops/1/listing_limit").json()["code"] == 36009004
    assert (
        sb.http.put("/sandbox/v1/shops/1/listing_limit", json={"daily_limit": 1}).json()["code"]
        == 36009004
    )

"""The bulk seed (`POST /sandbox/v1/shops/{id}/products:bulk-seed`) and the request log
(`GET /sandbox/v1/requests`), over real HTTP: seeded products are live listings the signed
API finds (Get Product, Search Products by seller SKU), refused lines say why."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from tiktok_sandbox.testing import RunningSandbox, SignedClient, run_sandbox, sample_sofa

SEED = "/sandbox/v1/shops/{shop}/products:bulk-seed"
SEARCH = "/product/202502/products/search"


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    # A long audit: a seeded product is live at once, not after an audit.
    with run_sandbox(audit_delay_seconds=3600, qps=0, new_shop_daily_listing_limit=1) as sandbox:
        yield sandbox


def seed(sb: RunningSandbox, shop: str, lines: list[bytes], ids: bool = True) -> dict[str, Any]:
    r = sb.http.post(
        SEED.format(shop=shop),
        params={"ids": "true"} if ids else None,
        content=b"\n".join(lines) + b"\n",
        headers={"content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["code"] == 0, body
    data: dict[str, Any] = body["data"]
    return data


def test_seeded_products_are_live_and_found_by_seller_sku(
    sb: RunningSandbox, us: SignedClient
) -> None:
    template = sample_sofa(us, "unused")
    bodies = []
    for i in range(3):
        body = dict(template, title=f"Seeded sofa {i}")
        body["main_images"] = [{"uri": f"seed-image-{i}"}]  # never uploaded: taken as given
        body["skus"] = [dict(s, seller_sku=f"SEED-{i}-{k}") for k, s in enumerate(body["skus"])]
        bodies.append(body)
    duplicate = dict(bodies[0], title="Same seller SKUs again")
    no_price = dict(bodies[1], skus=[{**bodies[1]["skus"][0], "price": None, "seller_sku": "X"}])
    lines = [orjson.dumps(b) for b in bodies] + [
        b"{not json",
        orjson.dumps(duplicate),
        b"",
        orjson.dumps(no_price),
    ]
    shop = sb.shop_id("US")
    before = sb.admin("GET", "/sandbox/v1/stats")["data"]["webhooks"]
    data = seed(sb, shop, lines)
    assert (data["seeded"], data["refused"]) == (3, 3), data
    assert [p["line"] for p in data["problems"]] == [4, 5, 7]
    assert data["problems"][0]["message"] == "the line is not valid JSON"
    assert "SEED-0-0" in data["problems"][1]["message"]  # the seller SKU is taken
    assert len(data["product_ids"]) == 3

    for i, product_id in enumerate(data["product_ids"]):
        got = us.call("GET", f"/product/202309/products/{product_id}")
        assert got["code"] == 0, got
        product = got["data"]
        assert product["status"] == "ACTIVATE"
        assert product["audit"]["status"] == "APPROVED"
        assert product["title"] == f"Seeded sofa {i}"
        assert sorted(s["seller_sku"] for s in product["skus"]) == [f"SEED-{i}-0", f"SEED-{i}-1"]
        assert all(s["id"] for s in product["skus"])

    found = us.call("POST", SEARCH, params={"page_size": 20}, json={"seller_skus": ["SEED-2-1"]})
    assert found["code"] == 0, found
    assert [p["id"] for p in found["data"]["products"]] == [data["product_ids"][2]]
    none = us.call("POST", SEARCH, params={"page_size": 20}, json={"seller_skus": ["NOPE"]})
    assert none["data"]["products"] == []
    # As if created long ago: no webhook now, the daily listing cap (1) is not charged.
    assert sb.admin("GET", "/sandbox/v1/stats")["data"]["webhooks"] == before
    cap = sb.admin("GET", f"/sandbox/v1/shops/{shop}/listing_limit")["data"]
    assert cap["created_today"] == 0


def test_seed_refuses_an_unknown_shop(sb: RunningSandbox) -> None:
    r = sb.http.post(SEED.format(shop="123"), content=b"{}\n")
    assert r.json()["code"] == 36009004


def test_request_log_says_when_each_call_arrived(sb: RunningSandbox, uk: SignedClient) -> None:
    since = time.time()
    brands = "GET /product/202309/brands"
    assert uk.call("GET", "/product/202309/brands", params={"page_size": 5})["code"] == 0
    after = time.time()
    log = sb.admin("GET", f"/sandbox/v1/requests?operation={brands}&since={since}")["data"]
    entries = log["requests"]
    assert len(entries) == 1, entries
    assert entries[0]["path"] == "/product/202309/brands"
    assert since <= entries[0]["at"] <= after
    assert sb.admin("GET", f"/sandbox/v1/requests?since={after + 1}")["data"]["requests"] == []
    bad = sb.http.get("/sandbox/v1/requests", params={"since": "yesterday"})
    assert bad.json()["code"] == 36009004

"""Taxonomies over HTTP: catalog-sync (in process, real PostgreSQL) calls the real sandbox with
tokens leased from a real auth-broker (a thread, its own database) for a connection the
sandbox's seller authorized. Categories, attributes, schemas and brands are cached: a second
read makes no TikTok call (the sandbox's own call counters say so). Suggestions for a list's
unmapped values, accepted above a score. A feed without a connection, a revoked connection,
an unknown one, and TikTok failing answer 409 / 503, never 500."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from tiktok_sandbox.catalog_seed import catalog

pytestmark = pytest.mark.integration

SOFAS = "604468"  # Furniture > Indoor Furniture > Sofas, a real UK leaf
SOFAS_PATH = "Furniture>Indoor Furniture>Sofas"
MUGS = "600042"  # Kitchenware > Drinkware > Mugs
CATEGORIES_OP = "GET /product/202309/categories"
ATTRIBUTES_OP = "GET /product/202309/categories/{category_id}/attributes"
RULES_OP = "GET /product/202309/categories/{category_id}/rules"
BRANDS_OP = "GET /product/202309/brands"
RECOMMEND_OP = "POST /product/202309/categories/recommend"


@pytest.fixture
async def env(tiktok_stack: Any) -> AsyncIterator[Any]:
    """The sandbox, a broker and catalog-sync (`tiktok_stack`, conftest.py)."""
    async with tiktok_stack() as stack:
        yield stack


def _uk_leaves() -> int:
    return len(catalog().trees["UK"].leaves())


async def _get(env: Any, path: str, **params: Any) -> dict[str, Any]:
    r = await env.http.get(path, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_taxonomies_are_fetched_once_then_served_from_the_cache(env: Any) -> None:
    connection = await env.connect("UK")
    feed = await env.feed("uk-shop", connection_id=connection)
    base = f"/v1/feeds/{feed}/taxonomies"
    env.reset_calls()

    first = await _get(env, f"{base}/categories", limit=1000)
    assert first["total"] == _uk_leaves() == 1575
    assert first["market"] == "UK" and first["category_version"] == "v1"
    assert not first["from_cache"] and not first["stale"] and len(first["items"]) == 1000
    assert all(c["is_leaf"] for c in first["items"])
    rest = await _get(env, f"{base}/categories", limit=1000, offset=1000)
    assert rest["from_cache"] and len(rest["items"]) == 1575 - 1000
    ids = {c["id"] for c in first["items"] + rest["items"]}
    assert len(ids) == 1575 and SOFAS in ids
    everything = await _get(env, f"{base}/categories", leaf="false", limit=1)
    assert everything["total"] > 1575  # parents too
    found = await _get(env, f"{base}/categories", q="indoor furniture>sofas")
    assert [(c["id"], c["term"]) for c in found["items"]] == [(SOFAS, f"{SOFAS}|{SOFAS_PATH}")]
    assert env.calls()[CATEGORIES_OP] == 1  # four reads, one TikTok call

    attrs = await _get(env, f"{base}/categories/{SOFAS}/attributes")
    by_name = {a["name"]: a for a in attrs["items"]}
    foldable = by_name["Foldable Furniture"]
    assert foldable["kind"] == "product" and foldable["required"] and not foldable["customizable"]
    assert {v["name"] for v in foldable["values"]} == {"Foldable", "Non-Foldable"}
    assert by_name["Color"]["kind"] == "sales" and by_name["Material"]["multi_select"]

    schema = await _get(env, f"/v1/feeds/{feed}/schema", category_id=SOFAS)
    columns = {a["name"]: a for a in schema["attributes"]}
    fold = columns[f"product_attribute.Foldable Furniture#{foldable['id']}"]
    assert fold["required"] and fold["source"] == "product" and not fold["customizable"]
    assert {v["id"] for v in fold["values"]} == {v["id"] for v in foldable["values"]}
    assert columns["sku.sales_attribute.Color"]["per_variant"]
    assert columns["package_length"]["required"]  # the category's rules
    assert columns["product_name"]["source"] == "common" and columns["product_name"]["required"]
    common = await _get(env, f"/v1/feeds/{feed}/schema")
    assert common["category_id"] is None and all(
        a["source"] == "common" for a in common["attributes"]
    )

    brands = await _get(env, f"{base}/brands", limit=1000)
    assert brands["total"] == len({b["id"] for b in brands["items"]}) == 220
    teas = next(b for b in brands["items"] if b["id"] == "7082427311584347905")
    assert teas["name"] == "Teas" and teas["authorized"] and teas["term"].endswith("|Teas")
    authorized = await _get(env, f"{base}/brands", authorized_only="true", limit=1000)
    assert 0 < authorized["total"] < 220 and all(b["authorized"] for b in authorized["items"])
    assert (await _get(env, f"{base}/brands", category_id=SOFAS))["total"] > 0

    fetched = env.calls()
    assert fetched[ATTRIBUTES_OP] == 1 and fetched[RULES_OP] == 1  # schema reused the attributes
    # Every read again: all from the cache, not one TikTok call.
    for path, params in (
        (f"{base}/categories", {}),
        (f"{base}/categories/{SOFAS}/attributes", {}),
        (f"/v1/feeds/{feed}/schema", {"category_id": SOFAS}),
        (f"{base}/brands", {}),
        (f"{base}/brands", {"category_id": SOFAS}),
    ):
        again = await _get(env, path, **params)
        assert again.get("from_cache", True) and not again["stale"], path
    assert env.calls() == fetched

    # A refresh fetches everything cached again, now.
    env.reset_calls()
    r = await env.http.post(f"{base}:refresh")
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["categories"] > 1575 and report["attribute_lists"] == 1
    assert report["brand_lists"] == 2 and report["dropped"] == []
    calls = env.calls()
    assert calls[CATEGORIES_OP] == 1 and calls[ATTRIBUTES_OP] == 1 and calls[RULES_OP] == 1
    after = await _get(env, f"{base}/categories", limit=1)
    assert after["from_cache"] and after["fetched_at"] > first["fetched_at"]


FEED_FILE = """
feed:
  name: uk-suggest
  market: UK
  connection_id: {connection}
lists:
  - name: categories
    taxonomy: tiktok_uk_categories
    attribute: product_type
    accept_above_score: 0.6
  - name: brands
    taxonomy: tiktok_brands
    attribute: vendor
  - name: values
    taxonomy: tiktok_values
    attribute: material
"""

PRODUCTS = [
    {"product_id": "s1", "product_name": "Grey three seater fabric sofa",
     "product_type": "Furniture > Indoor Furniture > Sofas", "vendor": "Teas"},
    {"product_id": "m1", "product_name": "Ceramic coffee mug",
     "product_type": "Kitchen > Drinkware > Mugs", "vendor": "teas"},
    {"product_id": "x1", "product_name": "zzqx",
     "product_type": "zzqx", "vendor": "zzqx", "material": "Wood"},
]  # fmt: skip


async def test_suggestions_for_unmapped_values_then_accept_above_a_score(env: Any) -> None:
    connection = await env.connect("UK")
    r = await env.http.post("/v1/feeds:apply", content=FEED_FILE.format(connection=connection))
    assert r.status_code == 201, r.text
    feed = r.json()["feed"]["id"]
    body = b"".join(orjson.dumps(p) + b"\n" for p in PRODUCTS)
    r = await env.http.put(f"/v1/feeds/{feed}/products?format=ndjson", content=body)
    assert r.status_code == 200, r.text
    env.reset_calls()

    out = await _get(env, f"/v1/feeds/{feed}/lists/categories/suggestions", limit=3)
    assert out["market"] == "UK" and out["unmapped"] == 3
    by_value = {v["value"]: v["suggestions"] for v in out["values"]}
    sofa = by_value["Furniture > Indoor Furniture > Sofas"][0]
    assert (sofa["id"], sofa["term"]) == (SOFAS, f"{SOFAS}|{SOFAS_PATH}")
    assert sofa["score"] == 1.0 and sofa["source"] == "text"  # the value is the leaf's path
    # TikTok's pick for the sample title (a sofa of another branch) agrees with a text match.
    picked = next(s for s in by_value["Furniture > Indoor Furniture > Sofas"] if s["id"] != SOFAS)
    assert picked["source"] == "text+tiktok" and picked["label"].endswith(">Sofas")
    mug = by_value["Kitchen > Drinkware > Mugs"][0]
    assert mug["id"] == MUGS and 0.6 <= mug["score"] < 1.0
    assert by_value["zzqx"] == []
    assert out["tiktok"]["asked"] == 3 and out["tiktok"]["picked"] == 2
    assert out["tiktok"]["skipped_because"] is None
    assert env.calls()[RECOMMEND_OP] == 3
    # Suggestions are never applied on their own.
    rows = (await env.http.get(f"/v1/feeds/{feed}/lists/categories")).json()
    assert all(row["replacement"] is None for row in rows)

    # Accept above 0.999: the exact path only.
    r = await env.http.post(
        f"/v1/feeds/{feed}/lists/categories/suggestions:accept", params={"min_score": 0.999}
    )
    assert r.status_code == 200, r.text
    accepted = r.json()
    assert accepted["mappings"] == {"Furniture > Indoor Furniture > Sofas": f"{SOFAS}|{SOFAS_PATH}"}
    assert accepted["accepted"] == 1 and accepted["left_unmapped"] == 2
    # No min_score: the list's accept_above_score (0.6) from the feed file.
    r = await env.http.post(f"/v1/feeds/{feed}/lists/categories/suggestions:accept")
    assert r.status_code == 200, r.text
    assert r.json()["min_score"] == 0.6
    assert list(r.json()["mappings"]) == ["Kitchen > Drinkware > Mugs"]
    rows = {
        row["source_value"]: row["replacement"]
        for row in (await env.http.get(f"/v1/feeds/{feed}/lists/categories")).json()
    }
    assert rows == {
        "Furniture > Indoor Furniture > Sofas": f"{SOFAS}|{SOFAS_PATH}",
        "Kitchen > Drinkware > Mugs": rows["Kitchen > Drinkware > Mugs"],
        "zzqx": None,
    }
    assert rows["Kitchen > Drinkware > Mugs"].startswith(f"{MUGS}|")
    left = await _get(env, f"/v1/feeds/{feed}/lists/categories/suggestions")
    assert [v["value"] for v in left["values"]] == ["zzqx"]

    # Brand lists: text similarity over the shop's brands (TikTok recommends categories only).
    brands = await _get(env, f"/v1/feeds/{feed}/lists/brands/suggestions")
    best = {v["value"]: v["suggestions"][:1] for v in brands["values"]}
    assert best["Teas"][0]["term"] == "7082427311584347905|Teas"
    assert best["teas"][0]["score"] == 1.0
    assert brands["tiktok"]["asked"] == 0 and brands["tiktok"]["skipped_because"]
    # Predefined values are not suggested here.
    r = await env.http.get(f"/v1/feeds/{feed}/lists/values/suggestions")
    assert r.status_code == 400 and r.json()["error"] == "no_suggestions_for_taxonomy"
    r = await env.http.get(f"/v1/feeds/{feed}/lists/nope/suggestions")
    assert r.status_code == 404


async def test_without_a_usable_connection_the_answers_say_what_to_do(env: Any) -> None:
    us = await env.feed("us-unconnected", market="US")
    for method, path in (
        ("GET", f"/v1/feeds/{us}/taxonomies/categories"),
        ("GET", f"/v1/feeds/{us}/taxonomies/brands"),
        ("GET", f"/v1/feeds/{us}/taxonomies/categories/{SOFAS}/attributes"),
        ("GET", f"/v1/feeds/{us}/schema?category_id={SOFAS}"),
        ("POST", f"/v1/feeds/{us}/taxonomies:refresh"),
    ):
        r = await env.http.request(method, path)
        assert r.status_code == 409, (path, r.text)
        assert r.json() == {
            "error": "no_connection",
            "detail": "connect the feed to an auth-broker connection first",
        }

    # Once a connected UK feed filled the cache, an unconnected UK feed reads it.
    connection = await env.connect("UK")
    uk = await env.feed("uk-connected", connection_id=connection)
    await _get(env, f"/v1/feeds/{uk}/schema", category_id=SOFAS)  # attributes and rules
    await _get(env, f"/v1/feeds/{uk}/taxonomies/categories")
    loose = await env.feed("uk-unconnected")
    served = await _get(env, f"/v1/feeds/{loose}/taxonomies/categories")
    assert served["from_cache"] and served["total"] == 1575
    assert (await _get(env, f"/v1/feeds/{loose}/schema", category_id=SOFAS))["attributes"]
    r = await env.http.get(f"/v1/feeds/{loose}/taxonomies/brands")  # brands are the shop's
    assert r.status_code == 409 and r.json()["error"] == "no_connection"

    # TikTok's answers about categories: unknown 404, a parent 400.
    r = await env.http.get(f"/v1/feeds/{uk}/taxonomies/categories/999999999/attributes")
    assert r.status_code == 404 and r.json()["error"] == "category_not_found"
    parent = next(c.id for c in catalog().trees["UK"].ordered if not c.is_leaf)
    r = await env.http.get(f"/v1/feeds/{uk}/taxonomies/categories/{parent}/attributes")
    assert r.status_code == 400 and r.json()["error"] == "category_not_leaf"

    # TikTok failing: 503 (retry later); a cached taxonomy is still served, marked stale.
    env.sandbox.admin(
        "POST", "/sandbox/v1/faults", {"error_rate": 1.0, "operations": [ATTRIBUTES_OP]}
    )
    try:
        r = await env.http.get(f"/v1/feeds/{uk}/taxonomies/categories/{MUGS}/attributes")
        assert r.status_code == 503 and r.json()["error"] == "tiktok_unavailable", r.text
        r = await env.http.post(f"/v1/feeds/{uk}/taxonomies:refresh")
        assert r.status_code == 503, r.text
    finally:
        env.sandbox.admin("DELETE", "/sandbox/v1/faults")

    # A connection revoked at the broker: 409, whatever the cache holds.
    revoked = await env.connect("UK")
    await env.revoke(revoked)
    gone = await env.feed("uk-revoked", connection_id=revoked)
    r = await env.http.post(f"/v1/feeds/{gone}/taxonomies:refresh")
    assert r.status_code == 409 and r.json()["error"] == "connection_unavailable", r.text
    assert "authorize" in r.json()["detail"]
    # ... and one the broker never had.
    unknown = await env.feed("uk-unknown", connection_id=str(uuid.uuid4()))
    r = await env.http.get(f"/v1/feeds/{unknown}/taxonomies/brands")
    assert r.status_code == 409 and r.json()["error"] == "connection_unknown", r.text

    # The seller deauthorized the app at TikTok: its token is refused, 409 too.
    env.sandbox.admin(
        "POST",
        "/sandbox/v1/faults",
        {"revoke_authorization": {"shop_id": env.sandbox.shop_id("UK")}},
    )
    r = await env.http.get(f"/v1/feeds/{uk}/taxonomies/brands", params={"category_id": MUGS})
    assert r.status_code == 409 and r.json()["error"] == "connection_refused_by_tiktok", r.text

"""The delta export end to end: catalog-sync (in process, real PostgreSQL and Kafka) sends
generated products to the real sandbox with tokens leased from a real auth-broker, through
`POST /v1/feeds/{id}/runs` and the run executor worker. Product images are downloaded from a
local HTTP server. The sandbox's own counters (docs/sandbox.md, "Admin endpoints") say how
many write calls each run made, and its product store what TikTok holds."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tiktok_sandbox.testing import sample_png
from tts_common.testing.infra import libpq_dsn
from tts_common.testing.server import serving

pytestmark = pytest.mark.integration

Row = dict[str, str]
TEAS = "7082427311584347905"  # the sandbox's authorized sample brand
COLOR = "sku.sales_attribute.Color"
COLORS = ("Red", "Blue", "Black", "White")
ACTIVE = ("queued", "running")

# TikTok write operations, as the sandbox counts them (docs/sandbox.md, "Products").
CREATE = "POST /product/202309/products"
EDIT = "PUT /product/202509/products/{product_id}"
PARTIAL_EDIT = "POST /product/202509/products/{product_id}/partial_edit"
PRICE = "POST /product/202309/products/{product_id}/prices/update"
INVENTORY = "POST /product/202309/products/{product_id}/inventory/update"
DELETE = "DELETE /product/202309/products"
UPLOAD = "POST /product/202309/images/upload"
SEARCH = "POST /product/202502/products/search"
WRITES = (CREATE, EDIT, PARTIAL_EDIT, PRICE, INVENTORY, DELETE, UPLOAD)


@dataclass(frozen=True)
class Market:
    currency: str
    warehouse: str  # the sandbox shop's sales warehouse (logistics seed)
    categories: tuple[str, ...]  # leaves of the market's tree, none invite-only
    weight_unit: str
    dimension_unit: str


MARKETS = {
    # UK v1 (real ids): Mugs, Candles, Vase & Fillers.
    "UK": Market("GBP", "7068517275539720101", ("600042", "854152", "700655"), "KILOGRAM",
                 "CENTIMETER"),
    # v2 (the sandbox's tree): Mugs, Candles, Vases.
    "US": Market("USD", "7068517275539719942", ("489288916", "270398706", "197856633"), "POUND",
                 "INCH"),
}  # fmt: skip


# --- images: a real HTTP server with real PNGs -------------------------------------------------


@pytest.fixture(scope="module")
def images() -> Iterator[str]:
    """Base URL of a local server answering `/img/<name>.png` with a valid 600x600 PNG."""
    picture = sample_png(600, 600)

    async def image(request: Request) -> Response:
        return Response(picture, media_type="image/png")

    async def health(request: Request) -> Response:
        return Response(b"ok")

    app = Starlette(routes=[Route("/img/{name}", image), Route("/healthz", health)])
    with serving(app) as base:
        yield base


# --- generated catalogue -------------------------------------------------------------------


def generate(market: str, tag: str, images: str, parents: int = 20, seed: int = 7) -> list[Row]:
    """`parents` products of 1-4 variants each, ready for `market` (deterministic per seed)."""
    m = MARKETS[market]
    rng = random.Random(seed)
    rows: list[Row] = []
    for i in range(parents):
        parent = f"{tag}-{i:03d}"
        variants = rng.randint(1, 4)
        shared = {
            "parent_id": parent,
            "product_name": f"Sandbox product {tag} {i}",
            "description": f"<p>Generated product {i} of {tag}.</p>",
            "category_id": m.categories[i % len(m.categories)],
            "images": f"{images}/img/{parent}-a.png#{images}/img/shared.png",
            "package_weight": "1.5",
            "package_weight_unit": m.weight_unit,
            "package_length": "20",
            "package_width": "15",
            "package_height": "10",
            "package_dimension_unit": m.dimension_unit,
        }
        if i % 2 == 0:
            shared["brand_id"] = TEAS
        for k in range(variants):
            row = {
                **shared,
                "product_id": f"{parent}-{k}",
                "sku.price": f"{10 + i}.{k}9",
                "sku.currency": m.currency,
                "sku.quantity": str(5 + k),
            }
            if variants > 1:
                row[COLOR] = COLORS[k]
            rows.append(row)
    return rows


def parents_of(rows: list[Row]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(row["parent_id"], []).append(row["product_id"])
    return out


def ndjson(rows: list[Row]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


# --- driving catalog-sync ------------------------------------------------------------------


async def upload(stack: Any, feed: str, rows: list[Row]) -> dict[str, Any]:
    r = await stack.http.put(f"/v1/feeds/{feed}/products?format=ndjson", content=ndjson(rows))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["status"] == "applied" and body["refused"] == 0, body
    return body


async def cache_taxonomies(stack: Any, feed: str, market: str) -> None:
    """Fetch the categories, brands and the used categories' schemas into the cache."""
    for path in ("taxonomies/categories", "taxonomies/brands"):
        r = await stack.http.get(f"/v1/feeds/{feed}/{path}")
        assert r.status_code == 200, r.text
    for category in MARKETS[market].categories:
        r = await stack.http.get(f"/v1/feeds/{feed}/schema", params={"category_id": category})
        assert r.status_code == 200, r.text


async def new_feed(
    stack: Any, market: str, tag: str, images: str, parents: int = 20, **settings: Any
) -> tuple[str, str, list[Row]]:
    """A connected, active feed with generated products uploaded; (feed id, connection, rows)."""
    connection = await stack.connect(market)
    feed = await stack.feed(
        f"{tag}-feed",
        market,
        connection,
        active=True,
        warehouse_id=MARKETS[market].warehouse,
        **settings,
    )
    rows = generate(market, tag, images, parents)
    await upload(stack, feed, rows)
    await cache_taxonomies(stack, feed, market)
    return feed, connection, rows


async def start_run(stack: Any, feed: str, **body: Any) -> str:
    r = await stack.http.post(f"/v1/feeds/{feed}/runs", json=body)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


async def wait_run(stack: Any, feed: str, run_id: str, within: float = 180.0) -> dict[str, Any]:
    """The run once it has ended (the executor worker performs it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        r = await stack.http.get(f"/v1/feeds/{feed}/runs/{run_id}")
        assert r.status_code == 200, r.text
        run: dict[str, Any] = r.json()
        if run["status"] not in ACTIVE:
            return run
        assert loop.time() < deadline, f"run still {run['status']} after {within}s: {run}"
        await asyncio.sleep(0.1)


async def run(stack: Any, feed: str, **body: Any) -> dict[str, Any]:
    return await wait_run(stack, feed, await start_run(stack, feed, **body))


async def items(stack: Any, feed: str, run_id: str) -> list[dict[str, Any]]:
    r = await stack.http.get(f"/v1/feeds/{feed}/runs/{run_id}/items")
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


async def feedback(stack: Any, feed: str) -> dict[str, dict[str, Any]]:
    r = await stack.http.get(f"/v1/feeds/{feed}/feedback")
    assert r.status_code == 200, r.text
    lines = [orjson.loads(line) for line in r.content.splitlines() if line]
    return {line["parent_id"]: line for line in lines}


async def stored(stack: Any, feed: str) -> dict[str, asyncpg.Record]:
    """`tiktok_products` rows of the feed, by parent."""
    conn = await asyncpg.connect(libpq_dsn(stack.database_url))
    try:
        rows = await conn.fetch(
            "SELECT parent_id, status, tiktok_product_id, skus FROM tiktok_products"
            " WHERE feed_id = $1",
            feed,
        )
    finally:
        await conn.close()
    return {r["parent_id"]: r for r in rows}


async def eventually(check: Any, within: float = 30.0) -> None:
    """Wait until `check()` is true (a condition, polled), failing after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        assert loop.time() < deadline, f"not true within {within}s: {check.__name__}"
        await asyncio.sleep(0.1)


def writes(calls: dict[str, int]) -> dict[str, int]:
    return {op: n for op, n in calls.items() if op in WRITES and n}


def shop_products(stack: Any, market: str) -> list[dict[str, Any]]:
    """What the sandbox's shop holds (any status but deleted)."""
    shop = stack.sandbox.shop_id(market)
    body = stack.sandbox.admin("GET", f"/sandbox/v1/shops/{shop}/products")
    products: list[dict[str, Any]] = body["data"]["products"]
    return [p for p in products if p["status"] != "DELETED"]


def seller_skus(products: list[dict[str, Any]]) -> Counter[str]:
    return Counter(s["seller_sku"] for p in products for s in p["skus"])


async def assert_all_live(stack: Any, feed: str, market: str, rows: list[Row]) -> None:
    """Every product is live with its TikTok product id; the shop has each seller SKU once."""
    expected = parents_of(rows)
    records = await stored(stack, feed)
    assert set(records) == set(expected)
    assert all(r["status"] == "live" and r["tiktok_product_id"] for r in records.values()), [
        (p, r["status"]) for p, r in records.items() if r["status"] != "live"
    ]
    products = shop_products(stack, market)
    by_id = {p["id"]: p for p in products}
    for parent, skus in expected.items():
        product = by_id[records[parent]["tiktok_product_id"]]
        assert sorted(s["seller_sku"] for s in product["skus"]) == sorted(skus), parent
    counted = seller_skus(products)
    assert counted == Counter({s: 1 for skus in expected.values() for s in skus})
    assert stack.stats()["duplicate_seller_skus"].get("live", {}) == {}


# --- 1, 2, 3: first export, a no-op run, then only what changed ----------------------------


async def test_feeds_go_live_then_only_changes_cost_calls(tiktok_stack: Any, images: str) -> None:
    async with tiktok_stack(sandbox={"audit_delay_seconds": 0}) as stack:
        uk, _, uk_rows = await new_feed(stack, "UK", "uk", images)
        us, _, us_rows = await new_feed(stack, "US", "us", images, parents=15)
        stack.reset_calls()

        for feed, market, rows in ((uk, "UK", uk_rows), (us, "US", us_rows)):
            done = await run(stack, feed)
            n = len(parents_of(rows))
            assert done["status"] == "succeeded", done
            assert done["counts"]["create"] == {"ok": n}, done["counts"]
            assert done["progress"] == {"done": n, "total": n}
            await assert_all_live(stack, feed, market, rows)
            back = await feedback(stack, feed)
            assert set(back) == set(parents_of(rows))
            assert all(
                b["action"] == "create" and b["outcome"] == "ok" and b["tiktok_product_id"]
                for b in back.values()
            )
        calls = stack.calls()
        total = len(parents_of(uk_rows)) + len(parents_of(us_rows))
        assert calls[CREATE] == total  # one create per product, none repeated

        # 2. Nothing changed: not one write call.
        stack.reset_calls()
        again = await run(stack, uk)
        assert again["status"] == "succeeded" and again["counts"] == {
            "skip": {"ok": len(parents_of(uk_rows))}
        }, again
        assert writes(stack.calls()) == {}

        # 3. One variant's price, one parent removed, one variant removed: three calls.
        groups = parents_of(uk_rows)
        multi = [p for p, skus in groups.items() if len(skus) >= 3]
        priced, trimmed = multi[0], multi[1]
        removed = next(p for p in groups if p not in (priced, trimmed))
        dropped_sku = groups[trimmed][-1]
        changed = []
        for row in uk_rows:
            if row["parent_id"] == removed or row["product_id"] == dropped_sku:
                continue
            if row["product_id"] == groups[priced][1]:
                row = {**row, "sku.price": "99.95"}
            changed.append(row)
        await upload(stack, uk, changed)
        stack.reset_calls()
        third = await run(stack, uk)
        assert third["status"] == "succeeded", third
        assert writes(stack.calls()) == {PRICE: 1, DELETE: 1, EDIT: 1}
        assert third["counts"]["price"] == {"ok": 1}
        assert third["counts"]["edit"] == {"ok": 1}
        assert third["counts"]["delete"] == {"ok": 1}
        records = await stored(stack, uk)
        assert records[removed]["status"] == "deleted"
        assert dropped_sku not in orjson.loads(records[trimmed]["skus"])
        # At TikTok: the new price, the variant gone once the edit's review passed.
        product_ids = {p: r["tiktok_product_id"] for p, r in records.items()}

        async def applied() -> bool:
            held = {p["id"]: p for p in shop_products(stack, "UK")}
            skus = {s["seller_sku"]: s for s in held[product_ids[priced]]["skus"]}
            kept = {s["seller_sku"] for s in held[product_ids[trimmed]]["skus"]}
            return (
                skus[groups[priced][1]]["price"]["sale_price"] == "99.95"
                and kept == set(groups[trimmed][:-1])
                and product_ids[removed] not in held
            )

        await eventually(applied)

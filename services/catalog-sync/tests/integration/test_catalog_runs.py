"""The delta export end to end: catalog-sync (in process, real PostgreSQL and Kafka) sends
generated products to the real sandbox with tokens leased from a real auth-broker, through
`POST /v1/feeds/{id}/runs` and the run executor worker. Product images are downloaded from a
local HTTP server. The sandbox's own counters (docs/sandbox.md, "Admin endpoints") say how
many write calls each run made, and its product store what TikTok holds."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import signal
import subprocess
import sys
import uuid
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
from tts_common.events import PRODUCT_SYNCED
from tts_common.testing.infra import libpq_dsn
from tts_common.testing.server import serving
from tts_common.testing.watch import TopicWatcher

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
PRODUCT_PATH = re.compile(r"/products/\d+(/|$)")
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
    """Base URL of a local server answering `/img/<name>.png` with a valid 600x600 PNG
    (`/img/missing…`: 404)."""
    picture = sample_png(600, 600)

    async def image(request: Request) -> Response:
        if request.path_params["name"].startswith("missing"):
            return Response(b"not here", status_code=404)
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


CREATED_OK = ("catalog_sync_actions_total", (("action", "create"), ("outcome", "ok")))


def metric_samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value of a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }


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
    stack: Any,
    market: str,
    tag: str,
    images: str,
    parents: int = 20,
    *,
    warehouse: bool = True,
    **settings: Any,
) -> tuple[str, str, list[Row]]:
    """A connected, active feed with generated products uploaded; (feed id, connection, rows).
    Without `warehouse` the feed names none: stock goes to the shop's default warehouse."""
    connection = await stack.connect(market)
    if warehouse:
        settings["warehouse_id"] = MARKETS[market].warehouse
    feed = await stack.feed(f"{tag}-feed", market, connection, active=True, **settings)
    # The taxonomy cache before the products: an event-driven feed runs on the upload itself,
    # and a product checked before its category's attributes are cached is not ready.
    await cache_taxonomies(stack, feed, market)
    rows = generate(market, tag, images, parents)
    await upload(stack, feed, rows)
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


async def call_log(stack: Any, feed: str, run_id: str) -> list[dict[str, Any]]:
    """The run's API-call log, each entry with `template`: its path as the sandbox counts it."""
    r = await stack.http.get(f"/v1/feeds/{feed}/runs/{run_id}/calls")
    assert r.status_code == 200, r.text
    entries = [orjson.loads(line) for line in r.content.splitlines() if line]
    for e in entries:
        e["template"] = PRODUCT_PATH.sub(r"/products/{product_id}\1", e["path"])
    return entries


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
            "SELECT parent_id, status, tiktok_product_id, skus, source_fingerprint"
            " FROM tiktok_products"
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
        uk, _, uk_rows = await new_feed(stack, "UK", "uk", images, log_api_calls=True)
        us, _, us_rows = await new_feed(
            stack,
            "US",
            "us",
            images,
            parents=15,
            warehouse=False,
            log_api_calls=True,
            log_api_headers=True,
        )
        creates = 0
        for feed, market, rows in ((uk, "UK", uk_rows), (us, "US", us_rows)):
            stack.reset_calls()
            async with TopicWatcher(stack.kafka_bootstrap, PRODUCT_SYNCED) as watch:
                done = await run(stack, feed)
                n = len(parents_of(rows))
                # One product.synced per product created, with its TikTok ids, through the outbox.
                synced = await watch.until(lambda _, f=feed, n=n: len(watch.of(feed_id=f)) >= n)
            mine = [e for e in synced if e.data["feed_id"] == feed]
            assert {e.type for e in mine} == {"product.synced"}
            assert {e.data["parent_id"] for e in mine} == set(parents_of(rows))
            assert all(e.data["action"] == "create" for e in mine)
            assert all(
                set(e.data["sku_ids"]) == set(parents_of(rows)[e.data["parent_id"]]) for e in mine
            )
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
            assert calls[CREATE] == n  # one create per product, none repeated
            creates += calls[CREATE]
            # The run's call log: every call the sandbox served, headers only when asked for.
            logged = await call_log(stack, feed, done["id"])
            assert Counter(f"{e['method']} {e['template']}" for e in logged) == Counter(calls)
            with_headers = market == "US"
            assert all(("request_headers" in e) is with_headers for e in logged)
            if with_headers:
                assert all(
                    e["request_headers"]["x-tts-access-token"] == "[REDACTED]" for e in logged
                )
        assert creates == len(parents_of(uk_rows)) + len(parents_of(us_rows))
        # /metrics: the runs, their actions and every TikTok call, by operation and code (a
        # run's counts are added just after it ends: wait for them).
        scraped: dict[Any, float] = {}

        async def counted() -> bool:
            scraped.clear()
            scraped.update(metric_samples((await stack.http.get("/metrics")).text))
            return scraped.get(CREATED_OK, 0) == creates

        await eventually(counted)
        assert sum(v for (name, labels), v in scraped.items() if name == "catalog_sync_runs_total"
                   and dict(labels)["status"] == "succeeded") == 2  # fmt: skip
        created = [v for (name, labels), v in scraped.items() if name == "tts_tiktok_calls_total"
                   and dict(labels)["operation"] == "createProduct"]  # fmt: skip
        assert sum(created) == creates, sorted(k for k in scraped if "tiktok" in k[0])
        assert ("tts_outbox_backlog", ()) in scraped
        # The US feed names no warehouse: its stock went to the shop's default one.
        stocked = {i["warehouse_id"] for p in shop_products(stack, "US") for s in p["skus"]
                   for i in s["inventory"]}  # fmt: skip
        assert stocked == {MARKETS["US"].warehouse}

        # 2. Nothing changed: not one write call.
        stack.reset_calls()
        again = await run(stack, uk)
        assert again["status"] == "succeeded" and again["counts"] == {
            "skip": {"ok": len(parents_of(uk_rows))}
        }, again
        assert writes(stack.calls()) == {}
        # Each product is in sync with the rows it was made from: the next run skips it unread.
        fingerprints = {p: r["source_fingerprint"] for p, r in (await stored(stack, uk)).items()}
        assert all(fingerprints.values()), fingerprints

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
        async with TopicWatcher(stack.kafka_bootstrap, PRODUCT_SYNCED) as watch:
            third = await run(stack, uk)
            assert third["status"] == "succeeded", third
            await watch.until(lambda _: len(watch.of(feed_id=uk)) >= 3)
        announced = {
            (e.data["parent_id"], e.type, e.data.get("action")) for e in watch.of(feed_id=uk)
        }
        assert announced == {
            (priced, "product.synced", "price"),
            (trimmed, "product.synced", "edit"),
            (removed, "product.deleted", None),
        }
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


# --- 4: a dry run plans exactly what the real run then does --------------------------------


def without_skips(entries: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(i["parent_id"], i["action"]) for i in entries if i["action"] != "skip"}


async def test_a_dry_run_reports_what_the_real_run_then_does(
    tiktok_stack: Any, images: str
) -> None:
    async with tiktok_stack(sandbox={"audit_delay_seconds": 0}) as stack:
        feed, _, rows = await new_feed(stack, "UK", "dry", images, parents=12)
        assert (await run(stack, feed))["status"] == "succeeded"
        groups = parents_of(rows)
        names = sorted(groups)
        priced, retitled, removed, restocked = names[0], names[1], names[2], names[3]
        changed: list[Row] = []
        for row in rows:
            if row["parent_id"] == removed:
                continue
            if row["product_id"] == groups[priced][0]:
                row = {**row, "sku.price": "77.70"}
            if row["parent_id"] == retitled:
                row = {**row, "product_name": "A better title"}
            if row["product_id"] == groups[restocked][0]:
                row = {**row, "sku.quantity": "42"}
            changed.append(row)
        new_rows = generate("UK", "new", images, parents=1, seed=99)
        added = new_rows[0]["parent_id"]
        broken_rows = [
            {**r, "images": f"{images}/img/missing.png"}
            for r in generate("UK", "bad", images, parents=1, seed=5)
        ]
        broken = broken_rows[0]["parent_id"]
        changed += new_rows + broken_rows
        await upload(stack, feed, changed)
        stack.reset_calls()

        dry = await run(stack, feed, dry_run=True)
        assert dry["status"] == "succeeded" and dry["dry_run"], dry
        assert writes(stack.calls()) == {}  # no write, no image upload
        planned = await items(stack, feed, dry["id"])
        expected = {
            (priced, "price"),
            (retitled, "edit"),
            (removed, "delete"),
            (restocked, "inventory"),
            (added, "create"),
        }
        assert without_skips(planned) == expected | {(broken, "not_ready")}
        assert all(i["outcome"] == "planned" for i in planned if i["parent_id"] != broken)
        # A broken image link: not sent, and the report says why.
        (problem,) = next(i for i in planned if i["parent_id"] == broken)["detail"]["errors"]
        assert problem["attribute"] == "images" and "HTTP 404" in problem["why"], problem
        detail = {i["parent_id"]: i["detail"] for i in planned}
        changes = {
            p: {c["path"]: (c["old"], c["new"]) for c in d.get("changes", [])}
            for p, d in detail.items()
        }
        first = groups[priced][0]
        assert changes[priced] == {f"skus[{first}].price.amount": ("10.09", "77.70")}
        assert changes[retitled] == {"title": ("Sandbox product dry 1", "A better title")}
        warehouse = MARKETS["UK"].warehouse
        stock = f"skus[{groups[restocked][0]}].inventory[{warehouse}].quantity"
        assert changes[restocked] == {stock: (5, 42)}
        assert changes[added]["title"] == (None, "Sandbox product new 0")
        assert detail[priced]["price_skus"] == [first]
        # The feedback still holds the last real run's outcomes.
        assert all(b["action"] == "create" for b in (await feedback(stack, feed)).values())

        real = await run(stack, feed)
        assert real["status"] == "succeeded", real
        performed = await items(stack, feed, real["id"])
        assert without_skips(performed) == expected | {(broken, "not_ready")}
        assert all(i["outcome"] == "ok" for i in performed if i["parent_id"] != broken)
        assert (await feedback(stack, feed))[broken]["outcome"] == "not_ready"
        assert writes(stack.calls()) == {
            PRICE: 1,
            EDIT: 1,
            DELETE: 1,
            INVENTORY: 1,
            CREATE: 1,
            UPLOAD: 1,  # the new product's own image; the shared one is uploaded already
        }


# --- 5: faults on creates never list a product twice ---------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"drop_response_rate": 0.2}, id="commit-then-drop-20pct"),
        pytest.param({"error_rate": 0.1}, id="503-10pct"),
    ],
)
async def test_faults_on_creates_never_make_a_duplicate(
    tiktok_stack: Any, images: str, fault: dict[str, Any]
) -> None:
    async with tiktok_stack() as stack:
        feed, _, rows = await new_feed(stack, "UK", "flt", images, parents=30)
        # A few certain faults first (the rate alone might spare a small feed), then the rate.
        certain = {k: 1.0 for k in fault}
        for rule in ({**certain, "remaining": 3}, fault):
            stack.sandbox.admin("POST", "/sandbox/v1/faults", {**rule, "operations": [CREATE]})
        stack.reset_calls()
        done = await run(stack, feed)
        n = len(parents_of(rows))
        assert done["status"] == "succeeded", done
        stats = stack.stats()
        kind = "drop_response" if "drop_response_rate" in fault else "error"
        assert stats["faults_injected"].get(kind, 0) >= 3, stats["faults_injected"]
        # Whatever the faults did, a later run finishes what is left; nothing is listed twice.
        stack.sandbox.admin("DELETE", "/sandbox/v1/faults")
        if done["counts"]["create"] != {"ok": n}:
            assert (await run(stack, feed))["status"] == "succeeded"
        await assert_all_live(stack, feed, "UK", rows)
        stats = stack.stats()
        assert stats["products_by_shop"][stack.sandbox.shop_id("UK")] == n
        assert stats["duplicate_seller_sku_rejections"] == {}  # never a blind second create
        if kind == "drop_response":  # lost answers were found by seller SKU, not re-sent
            assert stats["calls"][SEARCH] >= 3


async def test_503s_and_429_bursts_leave_every_product_synced_or_failed_with_a_reason(
    tiktok_stack: Any, images: str
) -> None:
    # The sandbox allows 4 calls a second per operation; catalog-sync's limiter is set far
    # above it, so bursts of 429 come back; and 10% of every call fails with a 503.
    async with tiktok_stack(
        sandbox={"qps": 4, "audit_delay_seconds": 0}, settings={"tiktok_qps": 100}
    ) as stack:
        feed, _, rows = await new_feed(stack, "UK", "burst", images, parents=24)
        n = len(parents_of(rows))
        # Two certain 503s on creates (the first matching rule wins), so the run meets them
        # whatever order and number of calls it makes; then 10% of every call.
        stack.sandbox.admin(
            "POST",
            "/sandbox/v1/faults",
            {"error_rate": 1.0, "operations": ["POST /product/*/products"], "remaining": 2},
        )
        stack.sandbox.admin("POST", "/sandbox/v1/faults", {"error_rate": 0.1, "operations": []})
        stack.reset_calls()
        done = await run(stack, feed)
        assert done["status"] == "succeeded", done
        assert done["progress"] == {"done": n, "total": n}, done
        stats = stack.stats()
        assert sum(stats["rate_limited"].values()) > 0, stats["rate_limited"]
        assert stats["faults_injected"].get("error", 0) >= 2, stats["faults_injected"]
        # Nothing silently skipped: every product has its outcome; a failure says why.
        back = await feedback(stack, feed)
        assert set(back) == set(parents_of(rows))
        for parent, b in back.items():
            assert b["outcome"] in ("ok", "failed"), (parent, b)
            if b["outcome"] == "failed":
                assert b["code"] and b["message"], (parent, b)
        outcomes = Counter(b["outcome"] for b in back.values())
        counted = sum(sum(v.values()) for k, v in done["counts"].items() if k != "reconcile")
        assert counted >= n, done["counts"]
        # Faults off: the next run finishes the failed ones; nothing listed twice.
        stack.sandbox.admin("DELETE", "/sandbox/v1/faults")
        if outcomes["failed"]:
            assert (await run(stack, feed, only="failed"))["status"] == "succeeded"
        await assert_all_live(stack, feed, "UK", rows)
        assert stack.stats()["duplicate_seller_sku_rejections"] == {}


async def test_adopt_existing_links_the_listings_another_tool_made(
    tiktok_stack: Any, images: str
) -> None:
    async with tiktok_stack(sandbox={"audit_delay_seconds": 0}) as stack:
        # "Another tool" listed these products in the shop: a first feed on the connection.
        before, connection, rows = await new_feed(stack, "UK", "adopt", images, parents=6)
        assert (await run(stack, before))["status"] == "succeeded"
        listed = {p: r["tiktok_product_id"] for p, r in (await stored(stack, before)).items()}
        n = len(listed)

        # Without adopt_existing a second feed's creates are refused: the seller SKUs are
        # taken. Each product fails with TikTok's reason; nothing is listed twice.
        plain = await stack.feed("adopt-plain", "UK", connection, active=True,
                                 warehouse_id=MARKETS["UK"].warehouse)  # fmt: skip
        await upload(stack, plain, rows)
        refused = await run(stack, plain)
        assert refused["counts"]["create"] == {"failed": n}, refused["counts"]
        assert {b["code"] for b in (await feedback(stack, plain)).values()} == {12052056}

        # With it, a feed takes the listings over: no create, one edit each to match.
        adopting = await stack.feed("adopt-taker", "UK", connection, active=True,
                                    adopt_existing=True,
                                    warehouse_id=MARKETS["UK"].warehouse)  # fmt: skip
        await upload(stack, adopting, rows)
        stack.reset_calls()
        adopted = await run(stack, adopting)
        assert adopted["status"] == "succeeded", adopted
        assert adopted["counts"]["adopt"] == {"ok": n}, adopted["counts"]
        assert stack.calls().get(CREATE, 0) == 0
        mine = {p: r["tiktok_product_id"] for p, r in (await stored(stack, adopting)).items()}
        assert mine == listed
        assert stack.stats()["products_by_shop"][stack.sandbox.shop_id("UK")] == n
        # In sync from now on: a second run makes no write call.
        stack.reset_calls()
        again = await run(stack, adopting)
        assert again["counts"] == {"skip": {"ok": n}}, again["counts"]
        assert writes(stack.calls()) == {}


# --- the new-shop daily listing cap, and a run killed after its create -----------------------


async def test_the_listing_cap_defers_creates_while_other_updates_go_on(
    tiktok_stack: Any, images: str
) -> None:
    # One product at a time: with more in flight, creates sent before the first refusal came
    # back would be refused too, and how many that is depends on timing.
    async with tiktok_stack(settings={"run_concurrency": 1}) as stack:
        feed, _, rows = await new_feed(stack, "UK", "cap", images, parents=4)
        assert (await run(stack, feed))["status"] == "succeeded"
        shop = stack.sandbox.shop_id("UK")
        # Two more creates allowed today (4 made already).
        stack.sandbox.admin("PUT", f"/sandbox/v1/shops/{shop}/listing_limit", {"daily_limit": 6})
        more = generate("UK", "cap2", images, parents=4, seed=3)
        first = rows[0]["product_id"]
        await upload(stack, feed, [{**r, "sku.price": "33.33"} if r["product_id"] == first
                                   else r for r in rows] + more)  # fmt: skip
        stack.reset_calls()
        capped = await run(stack, feed)
        assert capped["status"] == "succeeded", capped
        assert capped["counts"]["create"] == {"ok": 2, "deferred": 2}, capped["counts"]
        assert capped["counts"]["price"] == {"ok": 1}  # updates are never capped
        assert stack.calls()[CREATE] == 3  # the refused one; the last one was not even sent
        back = await feedback(stack, feed)
        deferred = {p for p, b in back.items() if b["outcome"] == "deferred"}
        assert len(deferred) == 2
        assert any(back[p]["code"] == 12019068 for p in deferred)
        # The next UTC day: `only: failed` creates what was deferred, nothing else.
        status = stack.sandbox.admin("GET", f"/sandbox/v1/shops/{shop}/listing_limit")["data"]
        clock = stack.sandbox.admin("GET", "/sandbox/v1/clock")["data"]
        ahead = int(status["resets_at"]) - int(clock["now"]) + 1
        stack.sandbox.admin("POST", "/sandbox/v1/clock", {"advance_seconds": ahead})
        stack.reset_calls()
        retried = await run(stack, feed, only="failed")
        assert retried["status"] == "succeeded", retried
        assert retried["counts"] == {"create": {"ok": 2}}, retried["counts"]
        assert writes(stack.calls()) == {CREATE: 2}
        await assert_all_live(stack, feed, "UK", rows + more)


async def test_a_run_killed_after_its_create_resumes_without_a_second_listing(
    tiktok_stack: Any, images: str
) -> None:
    async with tiktok_stack(settings={"run_stale_seconds": 2}) as stack:
        feed, _, rows = await new_feed(stack, "UK", "kill", images, parents=3)
        assert (await run(stack, feed))["status"] == "succeeded"
        parent = rows[0]["parent_id"]
        listed = (await stored(stack, feed))[parent]["tiktok_product_id"]
        # As a process killed mid-run leaves it: the create recorded as sent, its answer never
        # stored, the run `running` with a heartbeat that stopped.
        conn = await asyncpg.connect(libpq_dsn(stack.database_url))
        try:
            await conn.execute(
                "UPDATE tiktok_products SET status = 'creating', tiktok_product_id = NULL"
                " WHERE feed_id = $1 AND parent_id = $2",
                feed,
                parent,
            )
            run_id = str(uuid.uuid4())
            await conn.execute(
                "INSERT INTO runs (id, feed_id, trigger, dry_run, status, started_at,"
                " heartbeat_at) VALUES ($1, $2, 'manual', false, 'running',"
                " now() - interval '1 hour', now() - interval '1 hour')",
                run_id,
                feed,
            )
        finally:
            await conn.close()
        stack.reset_calls()
        resumed = await wait_run(stack, feed, run_id)  # taken over by the executor
        assert resumed["status"] == "succeeded", resumed
        assert resumed["counts"]["reconcile"] == {"ok": 1}, resumed["counts"]
        assert writes(stack.calls()) == {}  # found by seller SKU: not created again
        assert stack.calls()[SEARCH] >= 1
        record = (await stored(stack, feed))[parent]
        assert (record["status"], record["tiktok_product_id"]) == ("live", listed)
        await assert_all_live(stack, feed, "UK", rows)


@contextlib.contextmanager
def catalog_process(
    stack: Any, log_path: Any, **settings: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """`catalog-sync serve` as its own process on the stack's database, broker and sandbox."""
    from auth_broker.testing import free_port, settings_env
    from tts_common.settings import ServiceSettings

    env = settings_env(
        database_url=stack.database_url,
        kafka_bootstrap=stack.kafka_bootstrap,
        consumer_group_prefix=ServiceSettings().consumer_group_prefix,
        auth_broker_url=stack.broker.base_url,
        service_credential=stack.app.state.runtime.settings.service_credential,
        tiktok_open_api_url=stack.sandbox.base_url,
        tiktok_app_key=stack.sandbox.settings.app_key,
        tiktok_app_secret=stack.sandbox.settings.app_secret,
        **settings,
    )
    with log_path.open("ab") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "catalog_sync.cli", "serve", "--no-migrate", "--port",
             str(free_port())],
            env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=15)


async def test_a_service_killed_mid_run_resumes_in_a_new_process_without_duplicates(
    tiktok_stack: Any, images: str, tmp_path: Any
) -> None:
    # The stack's own catalog-sync serves the API only; the runs are performed by real
    # processes, the first one SIGKILLed halfway through.
    slow = {"qps": 8, "audit_delay_seconds": 0}
    async with tiktok_stack(sandbox=slow, settings={"run_workers": False}) as stack:
        feed, _, rows = await new_feed(stack, "UK", "sigkill", images, parents=40)
        n = len(parents_of(rows))
        run_id = await start_run(stack, feed)
        options = {"run_stale_seconds": 2, "tiktok_qps": 8, "run_concurrency": 4}
        with catalog_process(stack, tmp_path / "first.log", **options) as first:

            async def halfway() -> bool:
                assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
                r = await stack.http.get(f"/v1/feeds/{feed}/runs/{run_id}")
                return int(r.json()["progress"]["done"]) >= n // 3

            await eventually(halfway, within=120)
            first.send_signal(signal.SIGKILL)
        at_kill = len(shop_products(stack, "UK"))
        assert 0 < at_kill < n  # killed mid-run, with products still to create
        with catalog_process(stack, tmp_path / "second.log", **options):
            done = await wait_run(stack, feed, run_id, within=240)  # taken over, resumed
        assert done["status"] == "succeeded", done
        assert done["progress"] == {"done": n, "total": n}, done
        # Nothing lost, nothing twice: every product listed once, no seller SKU twice.
        await assert_all_live(stack, feed, "UK", rows)
        back = await feedback(stack, feed)
        assert set(back) == set(parents_of(rows))
        assert all(b["outcome"] == "ok" and b["tiktok_product_id"] for b in back.values()), back
        assert all(set(by_outcome) == {"ok"} for by_outcome in done["counts"].values()), done
        assert stack.calls()[CREATE] <= n + 1  # at most the one create the kill cut off, again


# --- 6: a revoked connection pauses the feed; a new authorization resumes it ---------------


async def feed_state(stack: Any, feed: str) -> dict[str, Any]:
    r = await stack.http.get(f"/v1/feeds/{feed}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def runs_of(stack: Any, feed: str) -> list[dict[str, Any]]:
    r = await stack.http.get(f"/v1/feeds/{feed}/runs")
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


async def test_a_revoked_connection_pauses_the_feed_and_authorizing_resumes_it(
    tiktok_stack: Any, images: str
) -> None:
    async with tiktok_stack(settings={"run_concurrency": 4}) as stack:
        feed, connection, rows = await new_feed(stack, "UK", "rev", images, parents=12)
        assert (await run(stack, feed))["status"] == "succeeded"
        n = len(parents_of(rows))

        # The seller ends the authorization at TikTok: every token is refused.
        stack.sandbox.admin(
            "POST",
            "/sandbox/v1/faults",
            {"revoke_authorization": {"shop_id": stack.sandbox.shop_id("UK")}},
        )
        repriced = [{**r, "sku.price": "55.55"} for r in rows]
        await upload(stack, feed, repriced)
        stack.reset_calls()
        paused = await run(stack, feed)
        assert paused["status"] == "paused", paused
        assert "connection" in paused["reason"], paused
        assert "failed" not in str(paused["counts"]), paused["counts"]  # no storm of failures
        assert stack.calls().get(PRICE, 0) <= 4  # the products in flight, no more
        state = await feed_state(stack, feed)
        assert state["paused_reason"] == paused["reason"]
        assert all(b["outcome"] == "ok" for b in (await feedback(stack, feed)).values())
        # While paused, a run stops at once, without a TikTok call.
        stack.reset_calls()
        again = await run(stack, feed)
        assert again["status"] == "paused" and writes(stack.calls()) == {}

        # The seller authorizes again: `connection.authorized` resumes the feed with a run.
        await stack.reauthorize(connection, "UK")

        async def resumed() -> bool:
            state = await feed_state(stack, feed)
            latest = (await runs_of(stack, feed))[0]
            return (
                state["paused_reason"] is None
                and latest["trigger"] == "resume"
                and latest["status"] not in ACTIVE
            )

        await eventually(resumed, within=60)
        latest = (await runs_of(stack, feed))[0]
        assert latest["status"] == "succeeded", latest
        assert latest["counts"]["price"] == {"ok": n}, latest["counts"]

        # Revoked at the broker: `connection.revoked` pauses the feed before any run.
        await stack.revoke(connection)

        async def paused_by_event() -> bool:
            return bool((await feed_state(stack, feed))["paused_reason"])

        await eventually(paused_by_event, within=60)
        stack.reset_calls()
        blocked = await run(stack, feed)
        assert blocked["status"] == "paused", blocked
        assert "no longer authorized" in blocked["reason"], blocked
        assert writes(stack.calls()) == {}
        # Resumed by hand while the broker still refuses: the run's first call pauses it again.
        await upload(stack, feed, [{**r, "sku.price": "66.60"} for r in rows])
        r = await stack.http.post(f"/v1/feeds/{feed}:resume")
        assert r.status_code == 202 and r.json()["trigger"] == "resume", r.text
        again = await wait_run(stack, feed, r.json()["id"])
        assert again["status"] == "paused" and "unavailable" in again["reason"], again
        assert "failed" not in str(again["counts"]), again["counts"]
        assert (await feed_state(stack, feed))["paused_reason"] == again["reason"]
        assert writes(stack.calls()) == {}  # the lease was refused: nothing reached TikTok
        await stack.reauthorize(connection, "UK")
        await eventually(resumed, within=60)
        assert (await runs_of(stack, feed))[0]["counts"]["price"] == {"ok": n}
        r = await stack.http.post(f"/v1/feeds/{feed}:resume")
        assert r.status_code == 409 and r.json()["error"] == "not_paused", r.text


# --- 7: event-driven mode ------------------------------------------------------------------


async def caught_up(stack: Any, feed: str) -> bool:
    """The event-driven mode has nothing left to do: no changed parent and no configuration
    change waiting for a run, and no run active (every run it needed has ended)."""
    r = await stack.http.get(f"/v1/feeds/{feed}/events")
    assert r.status_code == 200, r.text
    backlog = r.json()
    if backlog["pending_parents"] or backlog["configuration_changed"]:
        return False
    return all(run["status"] not in ACTIVE for run in await runs_of(stack, feed))


async def all_live(stack: Any, feed: str, n: int) -> bool:
    """The event-driven mode caught up with the feed's `n` parents all live at TikTok."""
    records = await stored(stack, feed)
    return (
        await caught_up(stack, feed)
        and len(records) == n
        and all(r["status"] == "live" for r in records.values())
    )


async def test_event_driven_feed_syncs_a_changed_price_within_seconds(
    tiktok_stack: Any, images: str
) -> None:
    async with tiktok_stack(sandbox={"audit_delay_seconds": 0}) as stack:
        feed, _, rows = await new_feed(stack, "UK", "evt", images, parents=8, event_driven=True)
        n = len(parents_of(rows))

        # The upload itself is an event: its parents are exported without a manual run.
        async def exported() -> bool:
            return await all_live(stack, feed, n)

        try:
            await eventually(exported, within=90)
        except AssertionError as missed:  # say what was left, so a failure can be diagnosed
            states = {
                p: (r["status"], r["tiktok_product_id"])
                for p, r in (await stored(stack, feed)).items()
            }
            summary = [
                (r["status"], r["progress"], r["counts"], r.get("reason"))
                for r in await runs_of(stack, feed)
            ]
            backlog = (await stack.http.get(f"/v1/feeds/{feed}/events")).json()
            raise AssertionError(
                f"{missed}; runs {summary}; products {states}; {backlog}"
            ) from None
        assert all(r["trigger"] == "event" for r in await runs_of(stack, feed))
        before = len(await runs_of(stack, feed))
        stack.reset_calls()

        sku = rows[0]["product_id"]
        r = await stack.http.post(
            f"/v1/feeds/{feed}/products:upsert?format=ndjson",
            content=ndjson([{**rows[0], "sku.price": "12.34"}]),
        )
        assert r.status_code == 200 and r.json()["changed"] == 1, r.text

        async def synced() -> bool:
            runs = await runs_of(stack, feed)
            return len(runs) > before and runs[0]["status"] not in ACTIVE

        await eventually(synced, within=30)
        latest = (await runs_of(stack, feed))[0]
        assert latest["trigger"] == "event" and latest["status"] == "succeeded", latest
        assert latest["progress"]["total"] == 1
        assert latest["counts"] == {"price": {"ok": 1}}, latest["counts"]
        assert writes(stack.calls()) == {PRICE: 1}
        held = {p["id"]: p for p in shop_products(stack, "UK")}
        product = held[(await stored(stack, feed))[rows[0]["parent_id"]]["tiktok_product_id"]]
        price = next(s["price"] for s in product["skus"] if s["seller_sku"] == sku)
        assert price["sale_price"] == "12.34"


async def test_products_not_ready_for_want_of_the_taxonomy_go_out_once_it_is_cached(
    tiktok_stack: Any, images: str
) -> None:
    """An event-driven feed re-evaluates every product when its configuration changes: here
    the schemas of its categories arrive after the products (checked before them: not ready)."""
    async with tiktok_stack(sandbox={"audit_delay_seconds": 0}) as stack:
        connection = await stack.connect("UK")
        feed = await stack.feed(
            "late-feed",
            "UK",
            connection,
            active=True,
            event_driven=True,
            warehouse_id=MARKETS["UK"].warehouse,
        )
        rows = generate("UK", "late", images, parents=5)
        n = len(parents_of(rows))
        await upload(stack, feed, rows)
        await eventually(lambda: caught_up(stack, feed), within=60)
        assert await stored(stack, feed) == {}  # nothing went to TikTok
        back = await feedback(stack, feed)
        assert {b["outcome"] for b in back.values()} == {"not_ready"}, back
        assert len(back) == n
        ran = len(await runs_of(stack, feed))

        await cache_taxonomies(stack, feed, "UK")  # no product changed: the configuration did

        async def exported() -> bool:
            return await all_live(stack, feed, n)

        await eventually(exported, within=90)
        every = await runs_of(stack, feed)  # newest first
        later = every[: len(every) - ran]
        assert later and all(r["trigger"] == "event" for r in later), later
        created = sum(r["counts"].get("create", {}).get("ok", 0) for r in later)
        assert created == n, later
        assert any(r["progress"]["total"] == n for r in later), later  # a full run
        assert {b["outcome"] for b in (await feedback(stack, feed)).values()} == {"ok"}


# --- TikTok's review in the feedback: by webhook, and by the polling safety net ---------------

FAIL_KEYWORD = "SANDBOX_AUDIT_FAIL"  # the sandbox fails the audit of a title holding it


async def _audited_feed(stack: Any, images: str, tag: str) -> tuple[str, str]:
    """A UK feed of three products sent to TikTok, the second one doomed to fail its review;
    (feed id, the failing parent). Each is under review (AUDITING) after the run."""
    feed, _, rows = await new_feed(stack, "UK", tag, images, parents=3)
    doomed = f"{tag}-001"
    rows = [
        {**r, "product_name": f"{r['product_name']} {FAIL_KEYWORD}"}
        if r["parent_id"] == doomed
        else r
        for r in rows
    ]
    await upload(stack, feed, rows)
    done = await run(stack, feed)
    assert done["counts"]["create"] == {"ok": 3}, done
    back = await feedback(stack, feed)
    assert {b["audit_status"] for b in back.values()} == {"AUDITING"}, back
    return feed, doomed


def _reviewed(back: dict[str, dict[str, Any]], doomed: str) -> bool:
    return all(
        (b["audit_status"], b["tiktok_status"])
        == (("REJECTED", "FAILED") if parent == doomed else ("APPROVED", "ACTIVATE"))
        for parent, b in back.items()
    )


async def test_the_audit_result_reaches_the_feedback_by_webhook(
    tiktok_stack: Any, images: str
) -> None:
    from auth_broker.testing import free_port
    from catalog_sync.app import create_app
    from catalog_sync.config import Settings

    port = free_port()
    settings = {
        "tiktok_webhook_address": f"http://127.0.0.1:{port}/v1/webhooks/tiktok",
        "audit_poll_seconds": 3600,  # no polling: what arrives came by webhook
    }
    async with tiktok_stack(sandbox={"audit_delay_seconds": 60}, settings=settings) as stack:
        # TikTok delivers to an API replica of catalog-sync over real HTTP (same database).
        replica = create_app(
            Settings(
                database_url=stack.database_url,
                kafka_bootstrap=stack.kafka_bootstrap,
                run_workers=False,
                tiktok_open_api_url=stack.sandbox.base_url,
                tiktok_app_key=stack.sandbox.settings.app_key,
                tiktok_app_secret=stack.sandbox.settings.app_secret,  # type: ignore[arg-type]
            )
        )
        with serving(replica, port=port) as base:
            feed, doomed = await _audited_feed(stack, images, "hook")
            stack.sandbox.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 61})

            async def reviewed() -> bool:
                return _reviewed(await feedback(stack, feed), doomed)

            await eventually(reviewed)
            assert stack.calls().get("GET /product/202309/products/{product_id}", 0) == 0
            # An unsigned or wrongly signed notification changes nothing: 401.
            bad = await stack.outside.post(
                f"{base}/v1/webhooks/tiktok",
                content=b'{"type":37,"tts_notification_id":"1","shop_id":"1","timestamp":1,'
                b'"data":{"product_id":"1","audit":{"status":"REJECTED"},"update_time":9}}',
                headers={"Authorization": "0" * 64},
            )
            assert bad.status_code == 401 and bad.json()["error"] == "bad_signature"
        back = await feedback(stack, feed)
        assert back[doomed]["audit_reasons"] is None  # webhooks carry no reasons; Get Product does


async def test_a_lost_audit_webhook_is_made_up_for_by_polling(
    tiktok_stack: Any, images: str
) -> None:
    settings = {"audit_poll_seconds": 0.5}  # no webhook address: only the poll can tell
    async with tiktok_stack(sandbox={"audit_delay_seconds": 60}, settings=settings) as stack:
        feed, doomed = await _audited_feed(stack, images, "poll")
        stack.sandbox.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 61})

        async def reviewed() -> bool:
            return _reviewed(await feedback(stack, feed), doomed)

        await eventually(reviewed)
        back = await feedback(stack, feed)
        reasons = back[doomed]["audit_reasons"]
        assert reasons and reasons[0]["reasons"] == ["violate listing rules"], back[doomed]
        # Reviewed products are not asked about again.
        asked = stack.calls()["GET /product/202309/products/{product_id}"]
        stack.reset_calls()
        await asyncio.sleep(1.5)  # three poll intervals: a poll now would have to call
        assert stack.calls().get("GET /product/202309/products/{product_id}", 0) == 0, asked

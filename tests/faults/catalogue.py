"""The fault suite's catalogue workload and its oracle (docs/reliability.md, "The catalogue").

Two catalog-sync feeds of the US shop, each with its own seller-SKU prefix, are driven
through phases while the faults run: the initial creates, then a change set (title and
description edits, price-only and stock-only changes, removed variants, deleted parents,
new products), then a second wave of price and stock changes. Feed `a` takes full snapshots
(`PUT …/products`) and explicit runs (`POST …/runs`) on top of a one-minute `schedule`; feed
`b` is event-driven and gets upserts and one-by-one row deletions (docs/feeds.md, "Runs and
the delta").

The oracle reads the sandbox's own products (`GET /sandbox/v1/shops/{shop}/products`) and
compares them with the intended final catalogue: every live product once, with its title,
description, SKU set, prices and stock; every deleted one gone; no seller SKU twice; and
catalog-sync's feedback accounting for every product (synced, or failed with TikTok's code).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from harness import Stack, wait_until
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from tiktok_sandbox.seed import US_SHOP_ID
from tiktok_sandbox.testing import sample_png
from workload import API, US_WAREHOUSE

# v2 leaves of the sandbox's US tree that need no product attribute: Mugs, Candles, Vases.
CATEGORIES = ("489288916", "270398706", "197856633")
BRAND = "7082427311584347905"  # the sandbox's authorized sample brand
COLORS = ("Red", "Blue", "Black")
ACTIVE = ("queued", "running")
Row = dict[str, str]


def image_app() -> Starlette:
    """The merchant's image host: one real PNG for every product (one upload per feed)."""
    picture = sample_png(600, 600)

    async def image(_request: Request) -> Response:
        return Response(picture, media_type="image/png")

    return Starlette(
        routes=[
            Route("/img/{name}", image),
            Route("/healthz", lambda _r: PlainTextResponse("ok")),
        ]
    )


@dataclass
class Product:
    """One intended parent: what TikTok should show for it at the end."""

    parent: str
    index: int
    title: str
    description: str
    variants: dict[str, tuple[str, int]]  # seller SKU -> (price, stock)
    deleted: bool = False

    def rows(self, images: str) -> list[Row]:
        shared = {
            "parent_id": self.parent,
            "product_name": self.title,
            "description": self.description,
            "category_id": CATEGORIES[self.index % len(CATEGORIES)],
            "images": f"{images}/img/shared.png",
            "package_weight": "1.5",
            "package_weight_unit": "POUND",
            "package_length": "20",
            "package_width": "15",
            "package_height": "10",
            "package_dimension_unit": "INCH",
        }
        if self.index % 2 == 0:
            shared["brand_id"] = BRAND
        out = []
        for k, (sku, (price, stock)) in enumerate(self.variants.items()):
            row = {
                **shared,
                "product_id": sku,
                "sku.price": price,
                "sku.currency": "USD",
                "sku.quantity": str(stock),
            }
            if len(self.variants) > 1:
                row["sku.sales_attribute.Color"] = COLORS[k]
            out.append(row)
        return out


def ndjson(rows: list[Row]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


@dataclass
class Feed:
    name: str
    prefix: str  # every seller SKU of the feed starts with it
    event_driven: bool
    id: str = ""
    products: dict[str, Product] = field(default_factory=dict)


@dataclass
class Phase:
    name: str
    at: float
    intended: int  # products (parents) of both feeds meant to be live after it
    settled_after: float | None = None  # seconds until the sandbox showed it


@dataclass
class Catalogue:
    stack: Stack
    images: str
    per_feed: int  # parents per feed at the start
    tag: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=60))
    feeds: list[Feed] = field(default_factory=list)
    phases: list[Phase] = field(default_factory=list)
    pauses: list[str] = field(default_factory=list)
    runs_posted: int = 0
    errors: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # --- talking to catalog-sync through the faults ---------------------------------------

    def call(self, method: str, path: str, ok: tuple[int, ...], **kw: Any) -> httpx.Response:
        """A catalog-sync call repeated until it answers one of `ok` (uploads and runs are
        safe to repeat: an upload of the same rows changes nothing the second time)."""
        url = self.stack.url("catalog-sync") + path
        box: list[httpx.Response] = []

        def attempt() -> bool:
            try:
                r = self.http.request(method, url, headers=API, **kw)
            except httpx.HTTPError:
                return False
            if r.status_code in ok:
                box.append(r)
                return True
            if r.status_code < 500 and r.status_code not in (409, 429):
                raise AssertionError(f"{method} {path}: {r.status_code} {r.text[:300]}")
            return False

        wait_until(f"catalog-sync {method} {path}", attempt, 240, every=0.5)
        return box[0]

    # --- set-up ----------------------------------------------------------------------------

    def setup(self, connection_id: str) -> None:
        self.feeds = [
            Feed("faults-a", f"CA{self.tag}", event_driven=False),
            Feed("faults-b", f"CB{self.tag}", event_driven=True),
        ]
        for feed in self.feeds:
            body = {
                "name": feed.name,
                "market": "US",
                "connection_id": connection_id,
                "active": True,
                "warehouse_id": US_WAREHOUSE,
                "event_driven": feed.event_driven,
            }
            if not feed.event_driven:
                body["schedule"] = "* * * * *"  # a scheduled run each minute besides ours
            feed.id = self.call("POST", "/v1/feeds", (201,), json=body).json()["id"]
            # The taxonomy cache first (categories, brands, the used leaves' schemas).
            for path in ("taxonomies/categories", "taxonomies/brands"):
                self.call("GET", f"/v1/feeds/{feed.id}/{path}", (200,))
            for category in CATEGORIES:
                self.call(
                    "GET", f"/v1/feeds/{feed.id}/schema", (200,), params={"category_id": category}
                )
            for i in range(self.per_feed):
                self.add(feed, i)

    def add(self, feed: Feed, i: int) -> None:
        parent = f"{feed.prefix}-{i:05d}"
        variants = {
            f"{parent}-{k}": (f"{10 + i % 90}.{k}9", 5 + (i + k) % 40) for k in range(1 + i % 3)
        }
        feed.products[parent] = Product(
            parent,
            i,
            f"Fault suite {feed.name} product {i}",
            f"<p>Product {i} of {feed.name}, as first listed.</p>",
            variants,
        )

    # --- the phases ------------------------------------------------------------------------

    def rows(self, feed: Feed) -> list[Row]:
        return [r for p in feed.products.values() if not p.deleted for r in p.rows(self.images)]

    def snapshot(self, feed: Feed) -> None:
        r = self.call(
            "PUT",
            f"/v1/feeds/{feed.id}/products?format=ndjson",
            (200,),
            content=ndjson(self.rows(feed)),
        )
        body = r.json()
        assert body["status"] == "applied" and body["refused"] == 0, body

    def upsert(self, feed: Feed, parents: list[str]) -> None:
        rows = [r for p in parents for r in feed.products[p].rows(self.images)]
        if not rows:
            return
        r = self.call(
            "POST",
            f"/v1/feeds/{feed.id}/products:upsert?format=ndjson",
            (200,),
            content=ndjson(rows),
        )
        body = r.json()
        assert body["status"] == "applied" and body["refused"] == 0, body

    def delete_rows(self, feed: Feed, skus: list[str]) -> None:
        for sku in skus:  # 404: a repeat after a lost answer, the row is already gone
            self.call("DELETE", f"/v1/feeds/{feed.id}/products/{sku}", (204, 404))

    def start_run(self, feed: Feed) -> None:
        """An explicit run of the feed, once the run in progress (if any) has ended, so it
        sees every change uploaded before it."""
        wait_until(f"{feed.name} idle", lambda: not self.active(feed), 600, 0.5)
        self.call("POST", f"/v1/feeds/{feed.id}/runs", (202, 409), json={})
        self.runs_posted += 1

    def active(self, feed: Feed) -> bool:
        runs = self.call("GET", f"/v1/feeds/{feed.id}/runs", (200,), params={"limit": 3}).json()
        items = runs["items"] if isinstance(runs, dict) else runs
        return any(r["status"] in ACTIVE for r in items)

    def resume_if_paused(self, feed: Feed) -> None:
        state = self.call("GET", f"/v1/feeds/{feed.id}", (200,)).json()
        if state.get("paused_reason"):
            self.pauses.append(f"{feed.name}: {state['paused_reason'][:200]}")
            self.call("POST", f"/v1/feeds/{feed.id}:resume", (202, 409))

    def change_set(self, feed: Feed) -> tuple[list[str], list[str]]:
        """The second phase's changes to `feed`'s intended products; (parents to upsert,
        seller SKUs whose rows go). One parent in twenty each way (by index)."""
        upsert: list[str] = []
        gone: list[str] = []
        for p in list(feed.products.values()):
            kind = p.index % 20
            if kind in (0, 1, 2):  # a new title and description: Edit Product
                p.title = f"Fault suite {feed.name} product {p.index}, renamed"
                p.description = f"<p>Product {p.index} of {feed.name}, described anew.</p>"
            elif kind in (3, 4, 5):  # one variant's price: Update Price
                sku = next(iter(p.variants))
                p.variants[sku] = (f"{200 + p.index % 50}.95", p.variants[sku][1])
            elif kind in (6, 7, 8):  # one variant's stock: Update Inventory
                sku = next(reversed(p.variants))
                p.variants[sku] = (p.variants[sku][0], 100 + p.index % 300)
            elif kind == 9 and len(p.variants) > 1:  # a removed variant: an edit without it
                sku = next(reversed(p.variants))
                del p.variants[sku]
                gone.append(sku)
            elif kind in (10, 11):  # the parent deleted: Delete Products
                p.deleted = True
                gone += list(p.variants)
                continue
            else:
                continue
            upsert.append(p.parent)
        start = max(p.index for p in feed.products.values()) + 1
        for i in range(start, start + max(1, self.per_feed // 20)):  # new products: creates
            self.add(feed, i)
            upsert.append(feed.products[f"{feed.prefix}-{i:05d}"].parent)
        return upsert, gone

    def wave(self, feed: Feed, n: int) -> list[str]:
        """A later phase (the n-th wave, n >= 1): a title edit, a price and a stock change,
        each on a different twentieth of the live parents, rotating with n (so a parent
        edited in the change set may get a new price here, and the other way round)."""
        upsert = []
        for p in feed.products.values():
            kind = (p.index + 3 * n) % 20
            if p.deleted or kind > 2:
                continue
            first, last = next(iter(p.variants)), next(reversed(p.variants))
            if kind == 0:
                p.title = f"Fault suite {feed.name} product {p.index}, wave {n}"
            elif kind == 1:
                p.variants[first] = (f"{300 + (p.index + n) % 40}.49", p.variants[first][1])
            else:
                p.variants[last] = (p.variants[last][0], 7 + (p.index + n) % 11)
            upsert.append(p.parent)
        return upsert

    def phase(self, name: str, apply: Any) -> None:
        with self.lock:
            for feed in self.feeds:
                apply(feed)
        live = sum(1 for f in self.feeds for p in f.products.values() if not p.deleted)
        phase = Phase(name, time.time(), live)
        self.phases.append(phase)
        for feed in self.feeds:
            if not feed.event_driven:
                self.start_run(feed)
        try:
            phase.settled_after = self.converge(300)
        except TimeoutError:
            phase.settled_after = None  # the next phase goes on; the drain finishes it

    def run(self, changes: threading.Event, stop: threading.Event) -> None:
        """The phases (the thread's body): the creates; the change set once `changes` is set
        (partway through the faults); then waves until `stop` (the last fault is over)."""
        try:

            def creates(feed: Feed) -> None:
                self.snapshot(feed)

            def change_set(feed: Feed) -> None:
                upsert, gone = self.change_set(feed)
                if feed.event_driven:
                    self.upsert(feed, upsert)
                    self.delete_rows(feed, gone)
                else:
                    self.snapshot(feed)

            def wave(n: int) -> Any:
                def apply(feed: Feed) -> None:
                    upsert = self.wave(feed, n)
                    if feed.event_driven:
                        self.upsert(feed, upsert)
                    else:
                        self.snapshot(feed)

                return apply

            self.phase("creates", creates)
            changes.wait()
            self.phase("change set", change_set)
            n = 0
            while n == 0 or not stop.is_set():
                n += 1
                self.phase(f"wave {n}", wave(n))
                stop.wait(5)  # pacing of the waves, not a correctness wait
        except Exception as exc:  # reported by the test, which fails on it
            self.errors.append(f"catalogue: {type(exc).__name__}: {exc}")
            print(f"[faults] the catalogue stopped: {self.errors[-1]}", file=sys.stderr)
        finally:
            self.done.set()

    def converge(self, within: float) -> float:
        """Wait until the sandbox shows the intended catalogue; meanwhile, a feed with no run
        in progress gets an explicit run every few seconds (a product that failed under a
        fault is retried by the next run, docs/feeds.md)."""
        last_run = time.monotonic()

        def check() -> bool:
            nonlocal last_run
            if self.observe()["settled"]:
                return True
            if time.monotonic() - last_run > 8:
                last_run = time.monotonic()
                for feed in self.feeds:
                    self.resume_if_paused(feed)
                    if not self.active(feed):
                        self.call("POST", f"/v1/feeds/{feed.id}/runs", (202, 409), json={})
                        self.runs_posted += 1
            return False

        return wait_until("the intended catalogue at the sandbox", check, within, 3.0)

    # --- the oracle ------------------------------------------------------------------------

    def shop_products(self) -> list[dict[str, Any]]:
        r = self.http.get(f"{self.stack.sandbox}/sandbox/v1/shops/{US_SHOP_ID}/products")
        r.raise_for_status()
        products: list[dict[str, Any]] = r.json()["data"]["products"]
        return products

    def intended(self) -> Iterator[tuple[Feed, Product]]:
        with self.lock:
            items = [(f, p) for f in self.feeds for p in f.products.values()]
        yield from items

    def observe(self) -> dict[str, Any]:
        """Intended vs observed at the sandbox (its live content, any status but DELETED)."""
        prefixes = tuple(f.prefix for f in self.feeds)
        held = [
            p
            for p in self.shop_products()
            if p["status"] != "DELETED"
            and any(s["seller_sku"].startswith(prefixes) for s in p["skus"])
        ]
        skus = Counter(s["seller_sku"] for p in held for s in p["skus"])
        by_sku: dict[str, list[dict[str, Any]]] = {}
        for p in held:
            for s in p["skus"]:
                by_sku.setdefault(s["seller_sku"], []).append(p)
        live_ok = 0
        wrong: list[dict[str, Any]] = []
        missing: list[str] = []
        deleted_gone = 0
        still_there: list[str] = []
        intended_live = intended_deleted = 0
        for _feed, product in self.intended():
            found = {p["id"]: p for sku in product.variants for p in by_sku.get(sku, [])}
            if product.deleted:
                intended_deleted += 1
                if found:
                    still_there.append(product.parent)
                else:
                    deleted_gone += 1
                continue
            intended_live += 1
            if not found:
                missing.append(product.parent)
                continue
            if len(found) > 1:
                wrong.append({"parent": product.parent, "listings": sorted(found)})
                continue
            listing = next(iter(found.values()))
            problems = diff(product, listing)
            if problems:
                wrong.append({"parent": product.parent, "differs": problems})
            else:
                live_ok += 1
        duplicates = sorted(s for s, n in skus.items() if n > 1)
        intended_skus = {s for _f, p in self.intended() if not p.deleted for s in p.variants}
        unexpected = sorted(s for s in skus if s not in intended_skus)
        return {
            "settled": live_ok == intended_live and not still_there and not unexpected,
            "products_intended_live": intended_live,
            "products_live_as_intended": live_ok,
            "products_intended_deleted": intended_deleted,
            "products_deleted_gone": deleted_gone,
            "listings_at_sandbox": len(held),
            "missing": missing[:20],
            "missing_count": len(missing),
            "not_in_final_state": wrong[:20],
            "not_in_final_state_count": len(wrong),
            "deleted_still_listed": still_there[:20],
            "unexpected_seller_skus": unexpected[:20],
            "duplicate_seller_skus": duplicates[:20],
            "duplicate_seller_skus_count": len(duplicates),
        }

    def feedback(self) -> dict[str, Any]:
        """catalog-sync's own account: every product's last outcome, a failure with TikTok's
        code and message (docs/feeds.md, "Feedback, history, call log")."""
        outcomes: Counter[str] = Counter()
        unaccounted: list[str] = []
        failed_without_reason: list[str] = []
        failed: list[dict[str, Any]] = []
        for feed in self.feeds:
            r = self.call("GET", f"/v1/feeds/{feed.id}/feedback", (200,))
            lines = [orjson.loads(line) for line in r.content.splitlines() if line]
            back = {line["parent_id"]: line for line in lines}
            for parent in feed.products:
                line = back.get(parent)
                if line is None:
                    unaccounted.append(parent)
                    continue
                outcomes[str(line.get("outcome"))] += 1
                if line.get("outcome") == "ok":
                    continue
                # The reason: TikTok's code and message, readiness errors, or (an unexpected
                # failure, e.g. the database gone mid-product) the error's text.
                failed.append({k: line.get(k) for k in ("parent_id", "action", "code", "message")})
                if not (line.get("code") or line.get("message") or line.get("errors")):
                    failed_without_reason.append(parent)
        return {
            "outcomes": dict(outcomes),
            "unaccounted": unaccounted[:20],
            "unaccounted_count": len(unaccounted),
            "failed_without_reason": failed_without_reason[:20],
            "failed": failed[:20],
        }


def diff(product: Product, listing: dict[str, Any]) -> list[str]:
    """How a listing differs from the intended product (empty: in its final state)."""
    out = []
    if listing["title"] != product.title:
        out.append(f"title {listing['title']!r}")
    if listing["description"] != product.description:
        out.append(f"description {listing['description'][:60]!r}")
    skus = {s["seller_sku"]: s for s in listing["skus"]}
    if set(skus) != set(product.variants):
        out.append(f"skus {sorted(skus)}")
        return out
    for sku, (price, stock) in product.variants.items():
        got = skus[sku]
        if float(got["price"]["sale_price"]) != float(price):
            out.append(f"{sku} price {got['price']['sale_price']}")
        held = {i["warehouse_id"]: int(i["quantity"]) for i in got["inventory"]}
        if held.get(US_WAREHOUSE) != stock:
            out.append(f"{sku} stock {held}")
    return out

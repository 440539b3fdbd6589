"""The demo's flow, step by step, over the services' HTTP APIs only.

`scripts/demo.py` runs it against the local stack (`make demo`) and prints each step;
`tests/e2e/` runs the same steps against processes of its own and asserts on what they
return. Every step is safe to run again: connections, feeds, imports and exports are found
by name and updated, products are re-uploaded as snapshots (unchanged rows cost nothing),
orders and shipments are only added.
"""

from __future__ import annotations

import html
import os
import re
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SHOPIFY_EXPORTS = ("apparel.csv", "home-and-garden.csv", "jewelery.csv")
# The dev credentials every service accepts in `environment=dev` (docs/architecture.md
# "API authentication"); `make demo` runs on local defaults.
DEV_API_KEY = "dev-api-key"
DEV_ADMIN_KEY = "dev-admin-key"
APPROVE = re.compile(r'id="approve-(?P<region>[A-Z]+)" href="(?P<href>[^"]+)"')
CREATE_OP = "POST /product/202309/products"

Say = Callable[[str], None]


@dataclass
class Urls:
    sandbox: str = "http://127.0.0.1:8180"
    auth_broker: str = "http://127.0.0.1:8101"
    catalog_sync: str = "http://127.0.0.1:8102"
    order_ingest: str = "http://127.0.0.1:8103"
    shipment_notifier: str = "http://127.0.0.1:8104"
    console: str = "http://127.0.0.1:8105"

    prometheus: str = "http://127.0.0.1:9090"

    @classmethod
    def from_env(cls) -> Urls:
        """The URLs `tts` reads (docs/cli.md) plus TTS_SANDBOX_URL; else the local stack on the
        ports `deploy/local/stack.sh` reads (TTS_AUTH_BROKER_PORT, ...; docs/getting-started.md),
        else its defaults."""
        env = os.environ

        def url(name: str, default: str) -> str:
            port = env.get(f"TTS_{name}_PORT")
            local = f"http://127.0.0.1:{port}" if port else default
            return env.get(f"TTS_{name}_URL", local)

        d = cls()
        return cls(
            sandbox=url("SANDBOX", d.sandbox),
            auth_broker=url("AUTH_BROKER", d.auth_broker),
            catalog_sync=url("CATALOG_SYNC", d.catalog_sync),
            order_ingest=url("ORDER_INGEST", d.order_ingest),
            shipment_notifier=url("SHIPMENT_NOTIFIER", d.shipment_notifier),
            console=url("CONSOLE", d.console),
            prometheus=url("PROMETHEUS", d.prometheus),
        )

    def services(self) -> dict[str, str]:
        return {
            "auth-broker": self.auth_broker,
            "catalog-sync": self.catalog_sync,
            "order-ingest": self.order_ingest,
            "shipment-notifier": self.shipment_notifier,
        }


@dataclass
class Demo:
    """The HTTP clients of one demo run and what each step learned."""

    urls: Urls
    say: Say = print
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=120))
    connections: dict[str, str] = field(default_factory=dict)  # market -> connection id
    shops: dict[str, str] = field(default_factory=dict)  # market -> shop id
    feeds: dict[str, str] = field(default_factory=dict)  # market -> feed id

    @property
    def api(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {DEV_API_KEY}"}

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {DEV_ADMIN_KEY}"}

    def call(self, method: str, url: str, **kwargs: Any) -> Any:
        """One request; the service's own error text when it refuses."""
        headers = kwargs.pop("headers", None) or (
            self.admin if url.startswith(self.urls.auth_broker) else self.api
        )
        r = self.http.request(method, url, headers=headers, **kwargs)
        if r.status_code >= 400:
            raise DemoError(f"{method} {url} answered {r.status_code}: {r.text[:500]}")
        return r.json() if r.content else None

    def close(self) -> None:
        self.http.close()

    def sandbox(self, method: str, path: str, body: Any = None) -> Any:
        r = self.http.request(method, self.urls.sandbox + path, json=body)
        if r.status_code >= 400:
            raise DemoError(f"sandbox {method} {path} answered {r.status_code}: {r.text[:500]}")
        return r.json()


class DemoError(RuntimeError):
    """A step could not go on; the message says which call and what it answered."""


# -- 1. connections ---------------------------------------------------------------------------

MARKETS = {"US": "Demo US shop", "UK": "Demo UK shop"}


def connect_shops(demo: Demo) -> dict[str, str]:
    """Connect a US and a UK shop: the broker's authorize URL, the seller's approval in the
    sandbox (followed by HTTP, no browser), TikTok's redirect to the broker's OAuth callback.
    An active demo connection is kept as it is."""
    broker = demo.urls.auth_broker
    existing = {c["name"]: c for c in demo.call("GET", f"{broker}/v1/connections")}
    with httpx.Client(timeout=30) as browser:  # the seller's browser: no credential of ours
        for market, name in MARKETS.items():
            conn = existing.get(name)
            if conn and conn["status"] == "active":
                demo.say(f"{market}: connection {conn['id']} is already active")
                demo.connections[market] = conn["id"]
                continue
            if conn:
                link = demo.call("POST", f"{broker}/v1/connections/{conn['id']}/reauthorize")
                cid = conn["id"]
            else:
                link = demo.call(
                    "POST", f"{broker}/v1/connections", json={"name": name, "market": market}
                )
                cid = link["id"]
            page = browser.get(link["authorize_url"]).raise_for_status()
            links = {m["region"]: html.unescape(m["href"]) for m in APPROVE.finditer(page.text)}
            if market not in links:
                raise DemoError(f"the sandbox authorize page offers no {market} seller")
            approve = browser.get(urljoin(link["authorize_url"], links[market]))
            if approve.status_code != 302:
                raise DemoError(f"sandbox approve answered {approve.status_code}")
            callback = browser.get(approve.headers["location"])
            if callback.status_code != 200:
                raise DemoError(f"the OAuth callback answered {callback.status_code}")
            demo.say(f"{market}: connection {cid} authorized by the seller in the sandbox")
            demo.connections[market] = cid
    for c in demo.call("GET", f"{broker}/v1/connections"):
        for market, name in MARKETS.items():
            if c["name"] == name and c["shops"]:
                demo.shops[market] = c["shops"][0]["id"]
                shops = ", ".join(f"{s['name']} ({s['region']})" for s in c["shops"])
                demo.say(f"{market}: {c['status']}, seller {c['seller_name']}, shops {shops}")
    return demo.connections


# -- images -----------------------------------------------------------------------------------


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain PNG (TikTok takes JPG and PNG), made here so the demo needs no image files."""
    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


class ImageServer:
    """Serves a picture for any path: the product images of the demo catalogues.

    The Shopify samples name pictures on Shopify's CDN, which a machine without internet
    cannot fetch; the feed files rewrite those URLs to this server (a rule box), as a
    merchant would point a feed at their own image host.
    """

    def __init__(self, port: int = 0) -> None:
        pictures: dict[int, bytes] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                shade = zlib.crc32(self.path.encode()) % 200
                if shade not in pictures:
                    pictures[shade] = png(600, 600, (40 + shade, 90, 255 - shade))
                body = pictures[shade]
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ImageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- helpers ----------------------------------------------------------------------------------


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    """Poll `check` until it returns something truthy; DemoError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoError(f"gave up waiting for {what} after {timeout:.0f}s")
        time.sleep(every)


def count(items: Iterator[str] | list[str]) -> dict[str, int]:
    return dict(Counter(items))


# -- 2. feeds ---------------------------------------------------------------------------------


def feed_file(name: str, **values: str) -> str:
    """A committed feed file of examples/ with its ${NAME} placeholders filled in."""
    text = (EXAMPLES / name).read_text()
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    if "${" in text:
        raise DemoError(f"examples/{name} has a placeholder the demo did not fill")
    return text


def apply_feed(demo: Demo, market: str, name: str, images_url: str) -> str:
    """`POST /v1/feeds:apply` with the feed file; the same file twice changes nothing."""
    text = feed_file(
        name,
        **{f"{market}_CONNECTION_ID": demo.connections[market], "IMAGES_URL": images_url},
    )
    out = demo.call(
        "POST",
        f"{demo.urls.catalog_sync}/v1/feeds:apply",
        content=text,
        headers={**demo.api, "Content-Type": "application/yaml"},
    )
    feed = out["feed"]
    verdict = "created" if out["created"] else ("updated" if out["changed"] else "unchanged")
    demo.say(f"{market}: feed {feed['name']} ({feed['id']}) {verdict} from examples/{name}")
    demo.feeds[market] = feed["id"]
    return str(feed["id"])


def upload(demo: Demo, market: str, body: bytes, fmt: str, *, snapshot: bool) -> dict[str, Any]:
    """A snapshot (`PUT …/products`) or an upsert of one file; the intake report."""
    feed = demo.feeds[market]
    base = f"{demo.urls.catalog_sync}/v1/feeds/{feed}/products"
    method, url = ("PUT", base) if snapshot else ("POST", base + ":upsert")
    report: dict[str, Any] = demo.call(method, url, params={"format": fmt}, content=body)
    demo.say(
        f"{market}: {report['rows_read']} rows read: {report['new']} new, {report['changed']} "
        f"changed, {report['unchanged']} unchanged, {report['deleted']} deleted, "
        f"{report['refused']} refused"
    )
    return report


def map_lists(demo: Demo, market: str) -> dict[str, dict[str, Any]]:
    """Each list: accept the suggestions scoring at least the list's `accept_above_score`
    (category and brand lists); what stays unmapped is reported, never guessed."""
    feed = demo.feeds[market]
    base = f"{demo.urls.catalog_sync}/v1/feeds/{feed}/lists"
    out: dict[str, dict[str, Any]] = {}
    for summary in demo.call("GET", base):
        name = summary["name"]
        accepted: dict[str, Any] = {}
        if summary["taxonomy"] != "tiktok_values" and summary.get("unmapped", 0):
            accepted = demo.call("POST", f"{base}/{name}/suggestions:accept")
        after = next(s for s in demo.call("GET", base) if s["name"] == name)
        out[name] = {"accepted": accepted.get("mappings", {}), **after}
        demo.say(
            f"{market}: list {name} ({summary['taxonomy']}): {after['mapped']} mapped"
            f" ({len(out[name]['accepted'])} suggestions accepted), "
            f"{after['unmapped']} unmapped"
        )
        for value, term in out[name]["accepted"].items():
            demo.say(f"      accepted  {value!r} -> {term}")
    return out


def warm_schemas(demo: Demo, market: str) -> list[str]:
    """Fetch the schema of every category the lists map to (readiness checks each product
    against its category's attributes, read from catalog-sync's taxonomy cache)."""
    feed = demo.feeds[market]
    base = f"{demo.urls.catalog_sync}/v1/feeds/{feed}"
    categories: set[str] = set()
    for summary in demo.call("GET", f"{base}/lists"):
        if summary["taxonomy"] in ("tiktok_us_categories", "tiktok_uk_categories"):
            for row in demo.call("GET", f"{base}/lists/{summary['name']}"):
                if row["replacement"]:
                    categories.add(row["replacement"].split("|", 1)[0])
    for category in sorted(categories):
        try:
            demo.call("GET", f"{base}/schema", params={"category_id": category})
        except DemoError as exc:  # readiness will name the products of that category
            demo.say(f"{market}: category {category}: {exc}")
    return sorted(categories)


def readiness(demo: Demo, market: str) -> dict[str, Any]:
    """The Analyzer's report: how many products are ready, and what stops the others."""
    feed = demo.feeds[market]
    report: dict[str, Any] = demo.call("GET", f"{demo.urls.catalog_sync}/v1/feeds/{feed}/readiness")
    demo.say(
        f"{market}: readiness {report['status']}: {report['ready']} of {report['products']}"
        f" products ready ({report['rows']} variants)"
    )
    for attribute in report["attributes"]:
        if attribute.get("failed"):
            demo.say(f"      {attribute['name']:<40} fails for {attribute['failed']} product(s)")
    return report


Progress = Callable[[str, int, int], None]


def run_export(demo: Demo, market: str, progress: Progress | None = None) -> dict[str, Any]:
    """Start a real run and follow it to its end; `progress(market, done, total)` as it goes."""
    feed = demo.feeds[market]
    base = f"{demo.urls.catalog_sync}/v1/feeds/{feed}/runs"
    run = demo.call("POST", base, json={"dry_run": False})

    def finished() -> dict[str, Any] | None:
        nonlocal run
        run = demo.call("GET", f"{base}/{run['id']}")
        p = run.get("progress") or {}
        if progress is not None:
            progress(market, int(p.get("done") or 0), int(p.get("total") or 0))
        return run if run["status"] not in ("queued", "running") else None

    done: dict[str, Any] = wait_for(f"the {market} export run", finished, 900, every=0.5)
    return done


def run_failures(demo: Demo, market: str, run_id: str) -> dict[str, int]:
    """Why products failed or were not ready in a run: reason -> products."""
    feed = demo.feeds[market]
    items = demo.call("GET", f"{demo.urls.catalog_sync}/v1/feeds/{feed}/runs/{run_id}/items")
    rows = items if isinstance(items, list) else items.get("items", [])
    reasons: Counter[str] = Counter()
    for item in rows:
        if item.get("outcome") in ("failed", "not_ready", "refused"):
            reasons[_reason(item)] += 1
    return dict(reasons)


def _reason(item: dict[str, Any]) -> str:
    """One line per kind of problem (attribute and check), so 30 products that miss the same
    attribute are one reason, not 30."""
    detail = item.get("detail") or {}
    errors = detail.get("errors") if isinstance(detail, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        test = first.get("test")
        if test == "required":
            return f"{first.get('attribute')}: {first.get('message')}"
        return f"{first.get('attribute')}: {test}"
    if isinstance(detail, dict):
        for key in ("message", "reason", "code"):
            if detail.get(key):
                return str(detail[key])
    return f"{item.get('action')}: {item.get('outcome')}"


def sandbox_write_calls(demo: Demo) -> dict[str, int]:
    """The sandbox's count of product write calls since its stats were last reset."""
    calls = demo.sandbox("GET", "/sandbox/v1/stats")["data"]["calls"]
    writes = ("POST /product/", "PUT /product/", "DELETE /product/")
    return {
        op: n
        for op, n in calls.items()
        if op.startswith(writes) and "/images/upload" not in op and "search" not in op
    }


# -- 3. orders --------------------------------------------------------------------------------

HOLD_SECONDS = 3600  # TikTok's cancellation hold: one hour after payment (docs/orders.md)


def advance_clock(demo: Demo, seconds: int) -> str:
    """Move the sandbox's manual clock: audits finish, holds end (docs/sandbox-orders.md)."""
    now = demo.sandbox("POST", "/sandbox/v1/clock", {"advance_seconds": seconds})
    return str(now.get("data", {}).get("now", ""))


def sellable_skus(demo: Demo, market: str) -> list[str]:
    """Seller SKUs of the shop's live (ACTIVATE) products, as the sandbox holds them."""
    shop = demo.shops[market]
    data = demo.sandbox("GET", f"/sandbox/v1/shops/{shop}/products")["data"]
    return sorted(
        sku["seller_sku"]
        for product in data["products"]
        if product["status"] == "ACTIVATE"
        for sku in product.get("skus", [])
        if sku.get("seller_sku")
    )


def place_orders(demo: Demo, market: str, n: int, skus: list[str], start: int) -> list[str]:
    """`n` paid, seller-fulfilled orders of one or two SKUs each (they start ON_HOLD)."""
    ids = []
    for i in range(n):
        k = start + i
        items = [{"seller_sku": skus[(k * 7) % len(skus)], "quantity": 1 + k % 2}]
        if k % 3 == 0:
            items.append({"seller_sku": skus[(k * 13 + 5) % len(skus)]})
        out = demo.sandbox(
            "POST",
            "/sandbox/v1/orders",
            {"shop_id": demo.shops[market], "line_items": items, "paid": True},
        )
        ids.append(out["data"]["order"]["id"] if "data" in out else out["order"]["id"])
    return ids


def order_imports(demo: Demo, push: dict[str, str] | None = None) -> dict[str, str]:
    """One order-ingest import per connection (found by name, so a re-run reuses it)."""
    base = f"{demo.urls.order_ingest}/v1/order-imports"
    existing = {i["name"]: i for i in _items(demo.call("GET", base), "imports")}
    out = {}
    for market, connection in demo.connections.items():
        name = f"demo-{market.lower()}"
        body: dict[str, Any] = {
            "connection_id": connection,
            "name": name,
            "description": f"{MARKETS[market]} orders",
            "created_within_days": 30,
            "poll_interval_seconds": 300,
            "active": True,
        }
        if push is not None:
            body["push"] = push
        if name in existing:
            imp = demo.call("PATCH", f"{base}/{existing[name]['id']}", json=body)
        else:
            imp = demo.call("POST", base, json=body)
        out[market] = imp["id"]
    return out


def import_pass(demo: Demo, import_id: str, mode: str) -> dict[str, Any]:
    """Start a pass of an import now and wait for its end."""
    base = f"{demo.urls.order_ingest}/v1/order-imports/{import_id}/runs"
    r = demo.http.post(base, json={"mode": mode}, headers=demo.api)
    if r.status_code == 409:  # the same pass is already queued or running: follow it
        runs = _items(demo.call("GET", base), "runs")
        run = runs[0]
    elif r.status_code >= 400:
        raise DemoError(f"POST {base} answered {r.status_code}: {r.text[:300]}")
    else:
        run = r.json()

    def done() -> dict[str, Any] | None:
        got: dict[str, Any] = demo.call("GET", f"{base}/{run['id']}")
        return got if got["status"] in ("done", "failed") else None

    finished: dict[str, Any] = wait_for(f"order import pass {run['id']}", done, 300)
    if finished["status"] == "failed":
        raise DemoError(f"the order import pass failed: {finished.get('error')}")
    return finished


def orders(demo: Demo) -> list[dict[str, Any]]:
    """Every order order-ingest holds (its latest version), by paging the cursor."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = demo.call("GET", f"{demo.urls.order_ingest}/v1/orders", params=params)
        out.extend(page["orders"])
        cursor = page.get("next_cursor")
        if not page.get("has_more"):
            break
    latest = {o["id"]: o for o in out}
    return list(latest.values())


def _items(body: Any, key: str) -> list[dict[str, Any]]:
    if isinstance(body, list):
        return body
    return list(body.get(key) or body.get("items") or [])


# -- 4. shipments -----------------------------------------------------------------------------

CARRIERS = {"US": ("USPS", ["USPS Priority", "US Postal"]), "UK": ("Royal Mail", ["RM Tracked 48"])}


def shipment_exports(demo: Demo) -> dict[str, str]:
    """One active shipment export per connection, with the OMS's carrier names mapped."""
    base = f"{demo.urls.shipment_notifier}/v1/shipment-exports"
    existing = {e["name"]: e for e in _items(demo.call("GET", base), "exports")}
    out = {}
    for market, connection in demo.connections.items():
        provider, aliases = CARRIERS[market]
        name = f"demo-{market.lower()}-shipments"
        body = {
            "name": name,
            "connection_id": connection,
            "active": True,
            "feedback_enabled": True,
            "carriers": [{"provider": provider, "aliases": aliases}],
        }
        if name in existing:
            exp = demo.call("PATCH", f"{base}/{existing[name]['id']}", json=body)
        else:
            exp = demo.call("POST", base, json=body)
        out[market] = exp["id"]
    return out


def post_shipment(demo: Demo, order_id: str, tracking: str, carrier: str) -> dict[str, Any]:
    body = {
        "order_id": order_id,
        "tracking_number": tracking,
        "carrier": carrier,
        "shipped_at": int(time.time()),
    }
    out: dict[str, Any] = demo.call(
        "POST", f"{demo.urls.shipment_notifier}/v1/shipments", json=body
    )
    return out


def shipments(demo: Demo, ids: list[str]) -> list[dict[str, Any]]:
    return [demo.call("GET", f"{demo.urls.shipment_notifier}/v1/shipments/{i}") for i in ids]


# -- the whole flow ---------------------------------------------------------------------------


@dataclass
class Plan:
    """How big the demo is: `make demo` uses the defaults, tests a smaller catalogue."""

    us_parents: int = 2000
    orders_before_hold_end: dict[str, int] = field(default_factory=lambda: {"US": 15, "UK": 15})
    orders_in_hold: dict[str, int] = field(default_factory=lambda: {"US": 10, "UK": 10})
    shipped_past_hold: int = 8  # per market, notified at once
    unknown_carrier: int = 1  # per market, rejected (the carrier maps to no provider)
    shipped_in_hold: dict[str, int] = field(default_factory=lambda: {"US": 4, "UK": 3})
    push: dict[str, str] | None = None  # an OMS push destination for the order imports
    work_dir: Path = Path(".local/demo")


@dataclass
class Result:
    feeds: dict[str, str] = field(default_factory=dict)
    uploads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lists: dict[str, dict[str, Any]] = field(default_factory=dict)
    readiness: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: dict[str, dict[str, int]] = field(default_factory=dict)
    write_calls: dict[str, int] = field(default_factory=dict)
    placed: dict[str, list[str]] = field(default_factory=dict)
    imports: dict[str, str] = field(default_factory=dict)
    orders_by_status: dict[str, int] = field(default_factory=dict)
    shipment_exports: dict[str, str] = field(default_factory=dict)
    shipment_ids: dict[str, str] = field(default_factory=dict)  # shipment id -> expected end
    shipments_first: dict[str, int] = field(default_factory=dict)
    shipments_final: dict[str, int] = field(default_factory=dict)
    shipments: list[dict[str, Any]] = field(default_factory=list)


def catalogue(
    demo: Demo, plan: Plan, images_url: str, result: Result, progress: Progress | None
) -> None:
    """Feeds, uploads, lists, readiness and the export runs of both markets."""
    sys_path_examples()
    import generate_us_catalogue  # examples/, on the path just above

    plan.work_dir.mkdir(parents=True, exist_ok=True)
    us_csv = plan.work_dir / f"us-catalogue-{plan.us_parents}.csv"
    rows = generate_us_catalogue.write(us_csv, plan.us_parents)
    demo.say(f"US: generated {rows} variants of {plan.us_parents} parents ({us_csv})")
    result.feeds["US"] = apply_feed(demo, "US", "us-generated.feed.yaml", images_url)
    result.feeds["UK"] = apply_feed(demo, "UK", "uk-shopify.feed.yaml", images_url)
    result.uploads["US"] = [upload(demo, "US", us_csv.read_bytes(), "csv", snapshot=True)]
    # Three exports, one source: upserts, so no file deletes another's products.
    result.uploads["UK"] = [
        upload(demo, "UK", (EXAMPLES / f).read_bytes(), "shopify", snapshot=False)
        for f in SHOPIFY_EXPORTS
    ]
    for market in ("US", "UK"):
        result.lists[market] = map_lists(demo, market)
        warm_schemas(demo, market)
        result.readiness[market] = readiness(demo, market)
    demo.sandbox("DELETE", "/sandbox/v1/stats")
    for market in ("US", "UK"):
        run = run_export(demo, market, progress)
        result.runs[market] = run
        result.failures[market] = run_failures(demo, market, run["id"])
    result.write_calls = sandbox_write_calls(demo)


def order_flow(demo: Demo, plan: Plan, result: Result, say_step: Say) -> None:
    """Orders placed in the sandbox, imported, half shipped (some in the hold), the clock
    advanced, the deferred shipments notified."""
    say_step("the sandbox clock moves on so the new products finish their audit")
    advance_clock(demo, 120)
    skus = {m: sellable_skus(demo, m) for m in ("US", "UK")}
    for market, found in skus.items():
        if not found:
            raise DemoError(f"{market}: no live product to order")
    start = int(time.time()) % 1000
    first = {
        m: place_orders(demo, m, plan.orders_before_hold_end[m], skus[m], start)
        for m in ("US", "UK")
    }
    say_step(
        f"placed {sum(len(v) for v in first.values())} orders; the clock moves past their "
        "one-hour cancellation hold"
    )
    advance_clock(demo, HOLD_SECONDS + 60)
    second = {
        m: place_orders(demo, m, plan.orders_in_hold[m], skus[m], start + 100) for m in ("US", "UK")
    }
    say_step(f"placed {sum(len(v) for v in second.values())} more orders, still in their hold")
    result.placed = {m: first[m] + second[m] for m in ("US", "UK")}

    result.imports = order_imports(demo, plan.push)
    for market, import_id in result.imports.items():
        run = import_pass(demo, import_id, "backfill")
        demo.say(
            f"{market}: import pass {run['status']}: {run.get('orders_seen')} orders seen, "
            f"{run.get('orders_changed')} changed"
        )
    placed = {o for ids in result.placed.values() for o in ids}
    held = {o["id"]: o for o in orders(demo) if o["id"] in placed}
    result.orders_by_status = count([o["status"] for o in held.values()])
    demo.say(f"imported {len(held)} of {len(placed)} orders placed: {result.orders_by_status}")

    result.shipment_exports = shipment_exports(demo)
    for market in ("US", "UK"):
        provider, aliases = CARRIERS[market]
        past = first[market][: plan.shipped_past_hold + plan.unknown_carrier]
        for i, order_id in enumerate(past):
            unknown = i >= plan.shipped_past_hold
            carrier = "Pigeon Post" if unknown else aliases[i % len(aliases)]
            s = post_shipment(demo, order_id, f"DEMO{order_id[-10:]}", carrier)
            result.shipment_ids[s["id"]] = "rejected" if unknown else "notified"
        for order_id in second[market][: plan.shipped_in_hold[market]]:
            s = post_shipment(demo, order_id, f"DEMO{order_id[-10:]}", provider)
            result.shipment_ids[s["id"]] = "deferred"
    say_step(f"posted {len(result.shipment_ids)} shipments (half the orders)")

    def settled() -> list[dict[str, Any]] | None:
        got = shipments(demo, list(result.shipment_ids))
        ok = all(s["status"] == result.shipment_ids[s["id"]] for s in got)
        return got if ok else None

    got = wait_for(
        "the shipments to be sent, rejected or deferred (shipment-notifier reads the orders'"
        " events first; .local/logs/shipment-notifier.log shows whether it is still working"
        " through older events)",
        settled,
        600,
    )
    result.shipments_first = count([s["status"] for s in got])
    demo.say(f"shipments: {result.shipments_first}")
    for s in got:
        if s["status"] == "rejected":
            demo.say(f"      rejected {s['order_id']}: {s.get('code')}: {s.get('reason')}")

    say_step("the sandbox clock moves past the hold of the other orders; order-ingest looks again")
    advance_clock(demo, HOLD_SECONDS + 60)
    for import_id in result.imports.values():
        import_pass(demo, import_id, "incremental")

    def notified() -> list[dict[str, Any]] | None:
        got = shipments(demo, list(result.shipment_ids))
        ok = all(s["status"] in ("notified", "rejected") for s in got)
        return got if ok else None

    # shipment-notifier learns of the hold's end from order-ingest's order.updated events; on a
    # Kafka that holds many older events (earlier test runs) its consumer reads those first.
    result.shipments = wait_for(
        "the deferred shipments to be notified (shipment-notifier reads order-ingest's"
        " order.updated events; `make status` and .local/logs/shipment-notifier.log show"
        " whether it is still working through older events)",
        notified,
        600,
    )
    result.shipments_final = count([s["status"] for s in result.shipments])
    demo.say(f"shipments: {result.shipments_final}")
    held = {o["id"]: o for o in orders(demo) if o["id"] in placed}
    result.orders_by_status = count([o["status"] for o in held.values()])


def sys_path_examples() -> None:
    import sys

    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))

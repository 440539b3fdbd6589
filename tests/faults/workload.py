"""The fault suite's workload and oracle (docs/reliability.md).

The workload is what a seller's systems do: orders arrive at TikTok (placed in the sandbox,
some cancelled inside the one-hour hold), order-ingest imports them and pushes every change
to a test OMS, and the OMS posts a shipment per order to shipment-notifier (some while the
order is still in the hold). The oracle compares what was intended with what the sandbox,
the test OMS and the services' databases show afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from auth_broker.testing import approve_in_sandbox
from harness import ADMIN_KEY, API_KEY, PG_BIN, PUSH_SECRET, Stack, wait_until
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from tiktok_sandbox.catalog_seed import load_v2_tree
from tiktok_sandbox.seed import US_SHOP_ID

SELLER_SKU = "FAULTS-SOFA-GRY"
US_WAREHOUSE = "7068517275539719942"  # the sandbox's US default warehouse (docs/sandbox-orders.md)
ALREADY_SHIPPED = "21011007"  # the sandbox's "already shipped" refusal (docs/sandbox-orders.md)
API = {"Authorization": f"Bearer {API_KEY}"}


class Oms:
    """The test OMS of docs/orders.md ("OMS push"): verifies the signature, applies each
    `Idempotency-Key` once (2xx to repeats) and records each change's effects, so two keys
    for one change show as a duplicate."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.applied: dict[str, dict[str, Any]] = {}
        self.requests = 0
        self.bad_signatures = 0
        self.effects: Counter[tuple[str, str, str]] = Counter()
        self.latest: dict[str, tuple[int, str]] = {}  # order -> (update_time, status)

    def verify(self, header: str, raw: bytes) -> bool:
        parts = dict(p.strip().partition("=")[::2] for p in header.split(","))
        expected = hmac.new(
            PUSH_SECRET.encode(), f"{parts.get('t', '')}.".encode() + raw, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(expected, parts.get("v1", ""))

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        if not self.verify(request.headers.get("x-tts-signature", ""), raw):
            with self.lock:
                self.bad_signatures += 1
            return PlainTextResponse("bad signature", status_code=401)
        body = orjson.loads(raw)
        key = request.headers.get("idempotency-key", "")
        data = body["data"]
        with self.lock:
            self.requests += 1
            if key not in self.applied:
                self.applied[key] = body
                self.effects[(data["order_id"], body["event_id"], body["type"])] += 1
                # The push sends an order's changes in version order; two changes within
                # one second of `update_time` (TikTok's resolution) keep their arrival order.
                version = (int(data["order"]["update_time"]), data["status"])
                if version[0] >= self.latest.get(data["order_id"], (0, ""))[0]:
                    self.latest[data["order_id"]] = version
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/oms/orders", self.handle, methods=["POST"]),
                Route("/healthz", lambda _r: PlainTextResponse("ok")),
            ]
        )

    def orders(self) -> int:
        with self.lock:
            return len(self.latest)


def psql(stack: Stack, db: str, sql: str) -> list[list[str]]:
    server = ["-h", "127.0.0.1", "-p", str(stack.infra.pg_port), "-U", "postgres"]
    out = subprocess.run(
        [str(PG_BIN / "psql"), *server, "-d", db.replace("-", "_"), "-tAXF", "\t", "-c", sql],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def retrying(call: Any, within: float = 180) -> httpx.Response:
    """An intake or admin call that must get through a fault: retried (the intake dedupes
    by order and tracking number, so a repeat is harmless) until it answers below 500."""
    box: list[httpx.Response] = []

    def attempt() -> bool:
        r: httpx.Response = call()
        if r.status_code < 500:
            box.append(r)
            return True
        return False

    wait_until("call answered", attempt, within, every=0.5)
    return box[0]


@dataclass
class Plan:
    order_id: str
    tracking: str | None  # None: no shipment posted
    in_hold: bool  # shipment posted while the order is still in the hold
    cancelled: bool


@dataclass
class Workload:
    stack: Stack
    oms_url: str
    batch: int
    pause: float
    run_tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6].upper())
    connection_id: str = ""
    plans: dict[str, Plan] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Held from a batch's placing to its hour's end: the buyer cancellations rely on the hold
    # still running, so a fault that moves the sandbox clock (token expiry) waits for it.
    clock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def admin(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        r = retrying(lambda: self.http.request(method, self.stack.sandbox + path, json=body))
        assert r.status_code < 300, r.text
        data: dict[str, Any] = r.json()
        return data

    # --- set-up ------------------------------------------------------------------------

    def seed_product(self) -> None:
        leaf = next(c for c in load_v2_tree().search("Sofas") if c.is_leaf)
        body = {
            "title": "Fault suite sofa",
            "description": "<p>A sofa ordered by the fault suite</p>",
            "category_id": leaf.id,
            "category_version": "v2",
            "brand_id": "7082427311584347905",
            "main_images": [{"uri": "faults-seed-image"}],
            "product_attributes": [
                {"id": "101610", "values": [{"id": "1029402"}]},
                {"id": "100198", "values": [{"name": "Wood"}]},
            ],
            "skus": [
                {
                    "seller_sku": SELLER_SKU,
                    "sales_attributes": [{"id": "100089", "value_name": "Grey"}],
                    "price": {"amount": "499.00", "currency": "USD"},
                    "inventory": [{"warehouse_id": US_WAREHOUSE, "quantity": 999999}],
                }
            ],
            "package_weight": {"value": "40", "unit": "KILOGRAM"},
            "package_dimensions": {
                "length": "200",
                "width": "90",
                "height": "80",
                "unit": "CENTIMETER",
            },
        }
        r = self.http.post(
            f"{self.stack.sandbox}/sandbox/v1/shops/{US_SHOP_ID}/products:bulk-seed",
            content=orjson.dumps(body) + b"\n",
            headers={"content-type": "application/x-ndjson"},
        )
        assert r.status_code == 200 and r.json()["data"]["seeded"] == 1, r.text

    def connect(self) -> None:
        broker = self.stack.url("auth-broker")
        created = self.http.post(
            broker + "/v1/connections",
            json={"name": "faults-us", "market": "US"},
            headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        )
        assert created.status_code == 201, created.text
        self.connection_id = created.json()["id"]
        authorize = created.json()["authorize_url"]

        async def seller_approves() -> str:
            async with httpx.AsyncClient(timeout=30) as http:
                return await approve_in_sandbox(http, authorize, "US")

        callback = self.http.get(asyncio.run(seller_approves()))
        assert callback.status_code == 200, callback.text

    def configure(self) -> None:
        r = self.http.post(
            self.stack.url("order-ingest") + "/v1/order-imports",
            json={
                "connection_id": self.connection_id,
                "name": "faults",
                "poll_interval_seconds": 1,
                "push": {"url": self.oms_url, "secret": PUSH_SECRET},
            },
            headers=API,
        )
        assert r.status_code == 201, r.text
        r = self.http.post(
            self.stack.url("shipment-notifier") + "/v1/shipment-exports",
            json={
                "name": "faults-us",
                "connection_id": self.connection_id,
                "active": True,
                "carriers": [{"provider": "USPS", "aliases": ["US Postal Service"]}],
            },
            headers=API,
        )
        assert r.status_code == 201, r.text

    # --- the stream --------------------------------------------------------------------

    def post_shipment(self, plan: Plan) -> None:
        assert plan.tracking is not None
        body = {
            "order_id": plan.order_id,
            "tracking_number": plan.tracking,
            "carrier": "USPS",
            "shipped_at": datetime.now(UTC).isoformat(),
        }
        url = self.stack.url("shipment-notifier") + "/v1/shipments"
        r = retrying(lambda: self._post(url, body))
        assert r.status_code == 202, r.text

    def upload_shipments(self, plans: list[Plan]) -> None:
        lines = [
            orjson.dumps(
                {
                    "order_id": p.order_id,
                    "tracking_number": p.tracking,
                    "carrier": "USPS",
                    "shipped_at": datetime.now(UTC).isoformat(),
                }
            )
            for p in plans
        ]
        url = self.stack.url("shipment-notifier") + "/v1/shipments:upload"

        def upload() -> httpx.Response:
            try:
                return self.http.post(
                    url,
                    content=b"\n".join(lines) + b"\n",
                    headers=API | {"content-type": "application/x-ndjson"},
                )
            except httpx.HTTPError:
                return httpx.Response(599)

        r = retrying(upload)
        assert r.status_code == 202 and not r.json()["errors"], r.text

    def _post(self, url: str, body: Any) -> httpx.Response:
        try:
            return self.http.post(url, json=body, headers=API)
        except httpx.HTTPError:
            return httpx.Response(599)

    def one_batch(self, size: int) -> None:
        with self.clock:
            later = self._inside_the_hold(size)
        if size > self.batch:  # a burst: one upload, so the sender calls TikTok all at once
            self.upload_shipments(later)
        else:
            for plan in later:
                self.post_shipment(plan)

    def _inside_the_hold(self, size: int) -> list[Plan]:
        """Place a batch, post its in-hold shipments, cancel some, end the hour; the plans
        whose shipments come after the hold."""
        start = len(self.plans)
        placed: list[Plan] = []
        for i in range(start, start + size):
            answer = self.admin(
                "POST",
                "/sandbox/v1/orders",
                {"region": "US", "line_items": [{"seller_sku": SELLER_SKU}]},
            )
            order_id = str(answer["data"]["order"]["id"])
            cancelled = i % 7 == 0
            shipped = not cancelled or i % 14 == 0  # half the cancelled ones had a shipment
            tracking = f"FT{self.run_tag}{i:06d}" if shipped else None
            placed.append(Plan(order_id, tracking, in_hold=cancelled or i % 5 == 1,
                               cancelled=cancelled))  # fmt: skip
        with self.lock:
            self.plans.update({p.order_id: p for p in placed})
        for plan in placed:  # inside the hold: posted first, then the buyer cancels
            if plan.tracking and plan.in_hold:
                self.post_shipment(plan)
        for plan in placed:
            if plan.cancelled:
                self.admin("POST", f"/sandbox/v1/orders/{plan.order_id}/cancel", {})
        self.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 3601})  # the hold ends
        return [p for p in placed if p.tracking and not p.in_hold]

    def run(self, minimum: int, maximum: int, burst: threading.Event) -> None:
        """Batches until `stop` is set and `minimum` orders are placed (at most `maximum`).
        `burst` asks for one batch five times the size at once (the 429 fault)."""
        try:
            while len(self.plans) < maximum:
                if self.stop.is_set() and len(self.plans) >= minimum:
                    break
                size = self.batch * 5 if burst.is_set() else self.batch
                burst.clear()
                self.one_batch(size)
                self.stop.wait(self.pause)  # pacing of the stream, not a correctness wait
        except Exception as exc:  # reported by the test, which fails on it
            self.errors.append(f"{type(exc).__name__}: {exc}")
            print(f"[faults] the order stream stopped: {self.errors[-1]}", file=sys.stderr)

    def snapshot(self) -> list[Plan]:
        with self.lock:
            return list(self.plans.values())


# --- the oracle -----------------------------------------------------------------------


def sandbox_orders(wl: Workload, ids: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for oid in ids:
        out[oid] = wl.admin("GET", f"/sandbox/v1/orders/{oid}")["data"]["order"]
    return out


def shipments(stack: Stack) -> dict[str, list[tuple[str, str, str]]]:
    """order id -> [(tracking number, status, code)] from shipment-notifier's database."""
    rows = psql(
        stack,
        "shipment_notifier",
        "SELECT order_id, tracking_number, status, coalesce(code, '') FROM shipments",
    )
    out: dict[str, list[tuple[str, str, str]]] = {}
    for order_id, tracking, status, code in rows:
        out.setdefault(order_id, []).append((tracking, status, code))
    return out


def progress(wl: Workload, oms: Oms, planned: int) -> float:
    return oms.orders() / max(planned, 1)


def settled(wl: Workload, oms: Oms) -> tuple[bool, dict[str, Any]]:
    """Every intended effect observed? (the drain condition; the oracle's counts)."""
    plans = wl.snapshot()
    ship = shipments(wl.stack)
    want_notified = [p for p in plans if p.tracking and not p.cancelled]
    want_rejected = [p for p in plans if p.tracking and p.cancelled]
    notified = sum(
        1 for p in want_notified if (p.tracking, "notified", "") in ship.get(p.order_id, [])
    )
    rejected = sum(
        1 for p in want_rejected
        if any(t == p.tracking and s == "rejected" and c == "cancelled"
               for t, s, c in ship.get(p.order_id, []))
    )  # fmt: skip
    with oms.lock:
        latest = dict(oms.latest)
    pushed_cancelled = sum(
        1 for p in plans if p.cancelled and latest.get(p.order_id, (0, ""))[1] == "CANCELLED"
    )
    pushed_shipped = sum(
        1 for p in want_notified if latest.get(p.order_id, (0, ""))[1] == "AWAITING_COLLECTION"
    )
    counts = {
        "orders_placed": len(plans),
        "orders_at_oms": sum(1 for p in plans if p.order_id in latest),
        "oms_final_cancelled": pushed_cancelled,
        "oms_final_shipped": pushed_shipped,
        "shipments_intended_notified": len(want_notified),
        "shipments_notified": notified,
        "shipments_intended_rejected": len(want_rejected),
        "shipments_rejected_cancelled": rejected,
        "cancelled_intended": sum(1 for p in plans if p.cancelled),
    }
    done = (
        counts["orders_at_oms"] == len(plans)
        and pushed_cancelled == counts["cancelled_intended"]
        and pushed_shipped == len(want_notified)
        and notified == len(want_notified)
        and rejected == len(want_rejected)
    )
    return done, counts


def dlq_records(stack: Stack) -> dict[str, int]:
    """Records on every `*.dlq` topic of the harness's Kafka (none should be there)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def count() -> dict[str, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=stack.infra.bootstrap)
        await consumer.start()
        try:
            topics = [t for t in await consumer.topics() if t.endswith(".dlq")]
            out: dict[str, int] = {}
            for topic in topics:
                parts = [
                    TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()
                ]
                ends = await consumer.end_offsets(parts)
                begins = await consumer.beginning_offsets(parts)
                out[topic] = sum(ends[p] - begins[p] for p in parts)
            return out
        finally:
            await consumer.stop()

    return asyncio.run(count())


def secrets_in_logs(stack: Stack, secrets: tuple[str, ...]) -> list[str]:
    found = []
    for proc in stack.procs.values():
        text = proc.log.read_text(errors="replace") if proc.log.exists() else ""
        found += [f"{proc.name}: secret #{i}" for i, s in enumerate(secrets) if s in text]
    return found


def now() -> float:
    return time.time()

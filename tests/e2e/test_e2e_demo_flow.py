"""The demo's flow with assertions, over real sockets, against real processes.

The sandbox and every service run as `<service> serve` processes on free ports with their own
databases (e2e_stack.py), on the shared Kafka and PostgreSQL; the flow is scripts/demo_flow.py,
the one `make demo` runs, with a smaller US catalogue (200 parents). An OMS receiver stands
for the merchant's order system (order-ingest's push). Then: every product is in the expected
state in the sandbox, every order reached the OMS once, every shipment was notified once, no
event of this run was dead-lettered, no secret is in any service log, and a second export run
makes no write call.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from e2e_stack import E2EStack, run_stack
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tts_common.events import ALL_TOPICS, SHIPMENT_NOTIFIED, dlq_topic
from tts_common.kafka import make_consumer
from tts_common.testing.server import serving

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import demo_flow as flow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PUSH_SECRET = "e2e-oms-push-secret-0123456789abcdef"
SANDBOX_APP_SECRET = "sandbox-dev-app-secret-0123456789abcdef"
US_PARENTS = 200


class Oms:
    """The merchant's order system: verifies each push and records it by Idempotency-Key."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_key: dict[str, dict[str, Any]] = {}
        self.repeats = 0
        self.bad_signatures = 0

    async def receive(self, request: Request) -> Response:
        raw = await request.body()
        t, _, v1 = request.headers["X-TTS-Signature"].partition(",v1=")
        expected = hmac.new(
            PUSH_SECRET.encode(), f"{t.removeprefix('t=')}.".encode() + raw, hashlib.sha256
        ).hexdigest()
        key = request.headers["Idempotency-Key"]
        with self.lock:
            if not hmac.compare_digest(expected, v1):
                self.bad_signatures += 1
                return Response(status_code=401)
            if key in self.by_key:
                self.repeats += 1  # at-least-once: acknowledged, applied once
            else:
                self.by_key[key] = json.loads(raw)
        return Response(b"{}", media_type="application/json")

    def received(self) -> dict[str, int]:
        """order id -> order.received deliveries applied."""
        with self.lock:
            bodies = list(self.by_key.values())
        return dict(
            collections.Counter(
                b["data"]["order_id"] for b in bodies if b["type"] == "order.received"
            )
        )


@pytest.fixture
def oms() -> Iterator[tuple[Oms, str]]:
    receiver = Oms()

    async def health(request: Request) -> Response:
        return Response(b"ok")

    app = Starlette(
        routes=[Route("/orders", receiver.receive, methods=["POST"]), Route("/healthz", health)]
    )
    with serving(app) as base:
        yield receiver, f"{base}/orders"


@pytest.fixture
def stack(pg_server_url: str, kafka_bootstrap: str, tmp_path: Path) -> Iterator[E2EStack]:
    with run_stack(pg_server_url, kafka_bootstrap, tmp_path / "logs") as s:
        yield s
    # Each service's database goes with the test.
    asyncio.run(_drop(pg_server_url, list(s.databases.values())))


async def _drop(server_url: str, urls: list[str]) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url
    from tts_common.testing.infra import libpq_dsn

    admin = await asyncpg.connect(libpq_dsn(server_url), timeout=30)
    try:
        for url in urls:
            name = make_url(url).database
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _ends(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    consumer = make_consumer(bootstrap, f"e2e-probe-{id(topics)}")
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = [
            TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or []
        ]
        return dict(await consumer.end_offsets(parts))
    finally:
        await consumer.stop()


async def _records_since(bootstrap: str, since: dict[TopicPartition, int]) -> list[Any]:
    """Every record written to the partitions of `since` after those offsets, up to now."""
    ends = await _ends(bootstrap, sorted({tp.topic for tp in since}))
    consumer = make_consumer(bootstrap, "e2e-reader-unused")
    await consumer.start()
    out: list[Any] = []
    try:
        wanted = {tp: end for tp, end in ends.items() if end > since.get(tp, 0)}
        if not wanted:
            return out
        consumer.assign(list(wanted))
        for tp in wanted:
            consumer.seek(tp, since.get(tp, 0))
        left = dict(wanted)
        while left:
            batches = await consumer.getmany(timeout_ms=2000)
            for tp, records in batches.items():
                out.extend(r for r in records if r.offset < wanted[tp])
                if records and records[-1].offset + 1 >= wanted[tp]:
                    left.pop(tp, None)
            if not batches:
                break
    finally:
        await consumer.stop()
    return out


def _urls(stack: E2EStack) -> flow.Urls:
    return flow.Urls(
        sandbox=stack.sandbox,
        auth_broker=stack.urls["auth-broker"],
        catalog_sync=stack.urls["catalog-sync"],
        order_ingest=stack.urls["order-ingest"],
        shipment_notifier=stack.urls["shipment-notifier"],
    )


def test_the_demo_flow_end_to_end(
    stack: E2EStack, oms: tuple[Oms, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    said: list[str] = []
    demo = flow.Demo(_urls(stack), say=said.append)
    try:
        _flow(demo, stack, oms, kafka_bootstrap, tmp_path)
    finally:
        demo.close()


def _flow(
    demo: flow.Demo, stack: E2EStack, oms: tuple[Oms, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    receiver, push_url = oms
    topics = [*ALL_TOPICS, *(dlq_topic(t) for t in ALL_TOPICS)]
    start = asyncio.run(_ends(kafka_bootstrap, topics))
    lines: list[str] = []
    plan = flow.Plan(
        us_parents=US_PARENTS,
        push={"url": push_url, "secret": PUSH_SECRET},
        work_dir=tmp_path / "work",
    )
    result = flow.Result()
    flow.connect_shops(demo)
    assert set(demo.connections) == {"US", "UK"} and set(demo.shops) == {"US", "UK"}

    with flow.ImageServer() as images:
        flow.catalogue(demo, plan, images.url, result, None)

        # Every product the Analyzer found ready was created once, the others not sent.
        for market, run in result.runs.items():
            assert run["status"] == "succeeded", run
            ready = result.readiness[market]["ready"]
            assert run["counts"]["create"] == {"ok": ready}, (market, run["counts"])
            not_ready = result.readiness[market]["products"] - ready
            assert run["counts"].get("not_ready", {}).get("not_ready", 0) == not_ready
            assert sum(result.failures[market].values()) == not_ready
        assert result.readiness["US"]["products"] == US_PARENTS
        assert result.readiness["UK"]["products"] == 60  # the three Shopify samples
        created = sum(r["counts"]["create"]["ok"] for r in result.runs.values())
        assert result.write_calls == {flow.CREATE_OP: created}, result.write_calls

        flow.order_flow(demo, plan, result, lines.append)

        # Run again: the same files, the same feeds, nothing to write at TikTok.
        again = flow.Result()
        flow.catalogue(demo, plan, images.url, again, None)
    assert again.write_calls == {}, again.write_calls
    for market, run in again.runs.items():
        assert set(run["counts"]) <= {"skip", "not_ready"}, (market, run["counts"])
        assert run["counts"]["skip"] == {"ok": result.runs[market]["counts"]["create"]["ok"]}

    # The sandbox holds exactly the products created, live, each seller SKU once.
    for market in ("US", "UK"):
        shop = demo.shops[market]
        products = demo.sandbox("GET", f"/sandbox/v1/shops/{shop}/products")["data"]["products"]
        assert len(products) == result.runs[market]["counts"]["create"]["ok"]
        assert {p["status"] for p in products} == {"ACTIVATE"}
        skus = [s["seller_sku"] for p in products for s in p["skus"]]
        assert len(skus) == len(set(skus))
        feedback = demo.http.get(
            f"{demo.urls.catalog_sync}/v1/feeds/{demo.feeds[market]}/feedback",
            params={"format": "jsonl"},
            headers=demo.api,
        )
        rows = [json.loads(line) for line in feedback.text.splitlines() if line.strip()]
        lines_ok = [row for row in rows if row.get("outcome") == "ok"]
        assert {row["tiktok_product_id"] for row in lines_ok} == {p["id"] for p in products}

    # Orders: all 50 imported; each reached the OMS once, signed.
    placed = [o for ids in result.placed.values() for o in ids]
    assert len(placed) == 50 and len(set(placed)) == 50
    assert sum(result.orders_by_status.values()) == 50

    def all_received() -> dict[str, int] | None:
        r = receiver.received()
        return r if set(r) >= set(placed) else None

    got = flow.wait_for("every order at the OMS", all_received, 120)
    assert {o: got[o] for o in placed} == dict.fromkeys(placed, 1)
    assert receiver.bad_signatures == 0

    # Shipments: 25 posted; the ones past the hold and the deferred ones notified, the unknown
    # carrier rejected, every notified one sent to TikTok once.
    expected = collections.Counter(result.shipment_ids.values())
    assert sum(expected.values()) == 25
    assert result.shipments_first == dict(expected)
    assert result.shipments_final == {
        "notified": expected["notified"] + expected["deferred"],
        "rejected": expected["rejected"],
    }
    notified = {s["id"]: s for s in result.shipments if s["status"] == "notified"}
    for s in notified.values():
        order = demo.sandbox("GET", f"/sandbox/v1/orders/{s['order_id']}")
        data = order.get("data", order)
        assert data["order"]["status"] == "AWAITING_COLLECTION", data["order"]["status"]
        assert s["package_id"] and s["action"] == "ship", s

    records = asyncio.run(_records_since(kafka_bootstrap, start))
    events = collections.Counter(
        json.loads(r.value)["subject"]
        for r in records
        if r.topic == SHIPMENT_NOTIFIED and json.loads(r.value)["type"] == "shipment.notified"
    )
    assert {i: events.get(i, 0) for i in notified} == dict.fromkeys(notified, 1)

    # Nothing of this run was dead-lettered.
    ours = [*demo.connections.values(), *demo.feeds.values(), *placed]
    dead = [
        r for r in records if r.topic.endswith(".dlq") and any(x.encode() in r.value for x in ours)
    ]
    assert dead == [], dead[:3]

    # No secret in any service log: the sandbox app's secret, the push secret, the tokens.
    lease = demo.http.post(
        f"{demo.urls.auth_broker}/internal/v1/connections/{demo.connections['US']}/token",
        headers={"Authorization": "Bearer dev-service-credential"},
    )
    assert lease.status_code == 200, lease.text
    secrets = [SANDBOX_APP_SECRET, PUSH_SECRET, lease.json()["access_token"]]
    for name, log in stack.logs.items():
        if name == "tiktok-sandbox":
            continue
        text = log.read_text(errors="replace")
        assert text, f"{name} wrote no log"
        for secret in secrets:
            assert secret not in text, f"a secret is in {name}'s log"

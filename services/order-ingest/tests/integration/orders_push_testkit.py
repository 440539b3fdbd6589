"""What the push tests share: a real HTTP test OMS, order events, Kafka offsets, waiting.

`Receiver` is the OMS of docs/orders.md ("OMS push"): it verifies every request with the
documented sample, applies each `Idempotency-Key` once (answering 2xx to repeats) and
records the effect per order change — so two deliveries of one change under two keys would
show as two effects. It can answer 500 for a while, for chosen orders, and hold requests
(applied, unanswered) to be killed mid-delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from order_ingest.store import event_id
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from tts_common.db import create_engine, session_factory, session_scope
from tts_common.events import ORDER_RECEIVED, CloudEvent, encode, make_event
from tts_common.kafka import make_producer
from tts_common.outbox import add_events
from tts_common.testing.server import serving

DOC = Path(__file__).resolve().parents[4] / "docs" / "orders.md"
PUSH_GROUP = "order-ingest-push"


def documented_verifier() -> Callable[..., bool]:
    """`verify_tts_signature` exactly as docs/orders.md prints it."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    sample = next(b for b in blocks if "def verify_tts_signature" in b)
    namespace: dict[str, Any] = {}
    exec(compile(sample, str(DOC), "exec"), namespace)  # our own documentation
    verifier: Callable[..., bool] = namespace["verify_tts_signature"]
    return verifier


@dataclass
class Receiver:
    secret: str
    fail_first: int = 0  # answer 500 to this many requests first
    fail_orders: set[str] = field(default_factory=set)  # always 500 for these orders
    echo: str = ""  # what a failing answer says (an OMS may echo anything)
    hold_after: int | None = None  # hold (apply, never answer) requests once this many applied
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: list[dict[str, Any]] = field(default_factory=list)
    applied: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> body
    effects: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # per change
    order_of_effects: dict[str, list[str]] = field(default_factory=dict)  # order -> event ids
    bad_signatures: int = 0
    held: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    base_url: str = ""

    def __post_init__(self) -> None:
        self.verify = documented_verifier()

    @property
    def url(self) -> str:
        return self.base_url + "/oms/orders"

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        key = request.headers.get("idempotency-key", "")
        signature = request.headers.get("x-tts-signature", "")
        if not self.verify(self.secret, signature, raw):
            with self.lock:
                self.bad_signatures += 1
            return PlainTextResponse("bad signature", status_code=401)
        body = orjson.loads(raw)
        data = body["data"]
        # One change of one order = one event id (order-ingest derives it from the change).
        change = (data["order_id"], body["event_id"], body["type"])
        hold = False
        with self.lock:
            self.requests.append({"key": key, "order_id": data["order_id"], "type": body["type"]})
            failing = data["order_id"] in self.fail_orders
            if not failing and self.fail_first > 0:
                self.fail_first -= 1
                failing = True
            if failing:
                return PlainTextResponse(f"OMS unavailable {self.echo}".strip(), status_code=500)
            if key not in self.applied:  # the documented contract: dedupe by the key
                self.applied[key] = body
                self.effects[change] += 1
                self.order_of_effects.setdefault(data["order_id"], []).append(body["event_id"])
                if self.hold_after is not None and len(self.applied) > self.hold_after:
                    self.held += 1
                    hold = True
        if hold:  # applied, but the answer never comes (the sender is killed meanwhile)
            await asyncio.to_thread(self.release.wait, 120)
        return Response(status_code=204)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/oms/orders", self.handle, methods=["POST"])])

    def requests_for(self, key: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r["key"] == key)


@contextlib.contextmanager
def running(receiver: Receiver) -> Iterator[Receiver]:
    app = receiver.app()
    app.add_route("/healthz", lambda _r: PlainTextResponse("ok"))
    try:
        with serving(app) as base:
            receiver.base_url = base
            yield receiver
    finally:
        receiver.release.set()


# --- events --------------------------------------------------------------------------------

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def order_event(
    event_type: str,
    connection_id: str,
    order_id: str,
    version: int = 0,
    *,
    status: str = "AWAITING_SHIPMENT",
    created: datetime = T0,
    ready: bool = True,
    same_second: bool = False,
) -> CloudEvent:
    """An order event as order-ingest publishes it (TikTok's order object in `order`, the
    event id derived from the change as `order_ingest.store` derives it).

    ``same_second``: the version's ``update_time`` stays the previous one's (a second change
    within TikTok's one-second resolution, or the hold ending by time alone).
    """
    update_time = created + timedelta(minutes=version - 1 if same_second else version)
    data: dict[str, Any] = {
        "connection_id": connection_id,
        "shop_id": "7494",
        "order_id": order_id,
        "status": "CANCELLED" if event_type == "order.cancelled" else status,
        "update_time": update_time.isoformat(),
        "fulfillment_type": "FULFILLMENT_BY_SELLER",
        "order": {
            "id": order_id,
            "create_time": int(created.timestamp()),
            "update_time": int(update_time.timestamp()),
            "buyer_email": f"buyer-{order_id}@example.com",
            "recipient_address": {"name": "Jane Doe", "full_address": "591 Lyon Ave"},
            "line_items": [{"id": "1", "sku_id": "s1"}],
            "ready_to_ship": ready,
        },
    }
    event = make_event(event_type, "/order-ingest", order_id, data)
    change = event_id(order_id, int(update_time.timestamp()), data["status"], event_type, ready)
    return event.model_copy(update={"id": str(change)})


def published_order(events: list[CloudEvent]) -> dict[str, list[str]]:
    """Per order, its event ids in publishing order (the order the OMS must see them in)."""
    out: dict[str, list[str]] = {}
    for e in events:
        ids = out.setdefault(e.data["order_id"], [])
        if e.id not in ids:
            ids.append(e.id)
    return out


async def publish(database_url: str, events: list[CloudEvent]) -> None:
    """Through the service's own outbox: its relay publishes them, as the importer's would."""
    engine = create_engine(database_url)
    try:
        async with session_scope(session_factory(engine)) as session:
            await add_events(session, [(ORDER_RECEIVED, e.subject or "", e) for e in events])
    finally:
        await engine.dispose()


async def resend(bootstrap: str, events: list[CloudEvent]) -> None:
    """Straight to Kafka, as a relay resends a batch it had sent before a crash."""
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(ORDER_RECEIVED, encode(e), key=(e.subject or "").encode())
    finally:
        await producer.stop()


async def add_import(
    database_url: str,
    connection_id: str,
    *,
    push_url: str | None,
    push_secret: str | None,
    active: bool = True,
    statuses: tuple[str, ...] = (),
    created_within_days: int | None = None,
) -> str:
    """An order import row (the contract columns; the import API is order-ingest's own)."""
    import_id = str(uuid.uuid4())
    engine = create_engine(database_url)
    try:
        async with session_scope(session_factory(engine)) as session:
            await session.execute(
                text(
                    # next_poll_at far ahead: the importer's poller leaves it alone
                    "INSERT INTO order_imports (id, connection_id, active, push_url,"
                    " push_secret, statuses, created_within_days, next_poll_at)"
                    " VALUES (:id, :c, :a, :u, :s, :st, :days, now() + interval '1 year')"
                ),
                {
                    "id": uuid.UUID(import_id),
                    "c": connection_id,
                    "a": active,
                    "u": push_url,
                    "s": push_secret,
                    "st": list(statuses),
                    "days": created_within_days,
                },
            )
    finally:
        await engine.dispose()
    return import_id


async def start_at_the_end(bootstrap: str, group_id: str, topic: str = ORDER_RECEIVED) -> None:
    """Commit the group's offsets at the topic's end: the app under test skips older events
    (other tests' orders on the shared broker)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        for _ in range(100):
            if partitions:
                break
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return  # a new topic: nothing older to skip
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_end(*assigned)
        offsets = {tp: OffsetAndMetadata(await consumer.position(tp), "") for tp in assigned}
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def wait_for(check: Callable[[], Awaitable[bool]], within: float = 90.0) -> bool:
    """Poll ``check`` until it holds (True) or ``within`` seconds pass (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return await check()


async def fetch(database_url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(database_url)
    try:
        async with session_scope(session_factory(engine)) as session:
            return list((await session.execute(text(sql), params)).all())
    finally:
        await engine.dispose()

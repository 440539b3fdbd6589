"""Helpers of the order tests (the fixtures are in conftest.py): order-ingest against the whole TikTok stack: the real sandbox, a real auth-broker, real
PostgreSQL and Kafka. order-ingest is served over a real socket (the sandbox delivers its
webhooks to it); `Stack` holds the pieces and the helpers the order tests share."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from auth_broker.testing import (
    RunningBroker,
    approve_in_sandbox,
)
from order_ingest.config import Settings
from tiktok_sandbox.seed import US_SHOP_ID
from tiktok_sandbox.testing import RunningSandbox
from tts_common.events import ORDER_RECEIVED, CloudEvent, decode
from tts_common.testing.infra import libpq_dsn

AUTH = {"Authorization": "Bearer dev-api-key"}
SERVICE_SECRET = "order-ingest-test-credential-0123456789"
MUG_RED = "1729592969712207012"


async def wait_for(
    check: Callable[[], Any], *, within: float = 60.0, what: str = "condition"
) -> Any:
    """Re-evaluate `check` (sync or async) until it returns a truthy value; fail after
    `within` seconds with `what`. A condition, never a fixed sleep."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})"[:2000])


class Events:
    """Every order event published from the moment it started (no consumer group)."""

    def __init__(self, bootstrap: str) -> None:
        self.events: list[CloudEvent] = []
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        partitions = None
        for _ in range(200):
            partitions = self._consumer.partitions_for_topic(ORDER_RECEIVED)
            if partitions:
                break
            await self._consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        if not partitions:
            await self._consumer.stop()
            raise AssertionError("the order topic does not exist")
        tps = [TopicPartition(ORDER_RECEIVED, p) for p in sorted(partitions)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:  # resolve the end offsets now: later events are ours
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    assert record.value is not None
                    self.events.append(decode(record.value))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()

    def of(self, order_id: str) -> list[CloudEvent]:
        return [e for e in self.events if e.subject == order_id]

    def distinct(self, connection_id: str | None = None) -> dict[str, CloudEvent]:
        """By event id (a relay resend, at-least-once, is the same event); only those of
        `connection_id` when given (other tests may publish on the shared topic)."""
        return {
            e.id: e
            for e in self.events
            if connection_id is None or e.data.get("connection_id") == connection_id
        }


@dataclass
class Stack:
    sandbox: RunningSandbox
    broker: RunningBroker
    base_url: str  # order-ingest over a real socket
    http: httpx.AsyncClient  # order-ingest, with the dev API key
    outside: httpx.AsyncClient
    database_url: str
    kafka_bootstrap: str
    settings: Settings
    events: Events
    connections: dict[str, str] = field(default_factory=dict)

    async def connect(self, market: str = "US") -> str:
        """A connection the sandbox's seller approved (OAuth through the broker)."""
        if market in self.connections:
            return self.connections[market]
        r = await self.outside.post(
            self.broker.base_url + "/v1/connections",
            json={"name": f"{market}-{uuid.uuid4().hex[:6]}", "market": market},
            headers=self.broker.admin,
        )
        assert r.status_code == 201, r.text
        created = r.json()
        target = await approve_in_sandbox(self.outside, created["authorize_url"], market)
        callback = await self.outside.get(target)
        assert callback.status_code == 200, callback.text
        self.connections[market] = str(created["id"])
        return self.connections[market]

    def subscribe_webhooks(self, region: str = "US") -> None:
        """The shop sends ORDER_STATUS_CHANGE to order-ingest ("Update Shop Webhook 202309")."""
        client = self.sandbox.client(region)
        body = client.call(
            "PUT",
            "/event/202309/webhooks",
            json={
                "event_type": "ORDER_STATUS_CHANGE",
                "address": self.base_url + "/v1/webhooks/tiktok",
            },
        )
        assert body["code"] == 0, body

    async def create_import(self, **fields: Any) -> dict[str, Any]:
        connection = await self.connect(fields.pop("market", "US"))
        body = {"connection_id": connection, "poll_interval_seconds": 3600, **fields}
        r = await self.http.post("/v1/order-imports", json=body)
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    async def run(self, import_id: str, mode: str = "incremental") -> dict[str, Any]:
        """Start a pass and wait for it to finish (its status, by condition)."""
        r = await self.http.post(f"/v1/order-imports/{import_id}/runs", json={"mode": mode})
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]

        async def finished() -> dict[str, Any] | None:
            got = await self.http.get(f"/v1/order-imports/{import_id}/runs/{run_id}")
            body: dict[str, Any] = got.json()
            return body if body["status"] in ("done", "failed") else None

        result: dict[str, Any] = await wait_for(finished, within=300, what=f"run {run_id}")
        assert result["status"] == "done", result
        return result

    def place(self, **over: Any) -> dict[str, Any]:
        """A sandbox order (admin API): the red mug, paid, unless `over` says otherwise."""
        body = {"shop_id": US_SHOP_ID, "line_items": [{"sku_id": MUG_RED}], **over}
        answer = self.sandbox.admin("POST", "/sandbox/v1/orders", body)
        assert answer.get("code") == 0, answer
        order: dict[str, Any] = answer["data"]["order"]
        return order

    def sandbox_order(self, order_id: str) -> dict[str, Any]:
        answer = self.sandbox.admin("GET", f"/sandbox/v1/orders/{order_id}")
        order: dict[str, Any] = answer["data"]["order"]
        return order

    async def order(self, order_id: str) -> dict[str, Any] | None:
        r = await self.http.get(f"/v1/orders/{order_id}")
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(libpq_dsn(self.database_url), timeout=30)

    async def stored_versions(self) -> dict[str, int]:
        conn = await self.db()
        try:
            rows = await conn.fetch("SELECT id, update_time FROM orders")
        finally:
            await conn.close()
        return {r["id"]: r["update_time"] for r in rows}

    async def stored_states(self) -> dict[str, tuple[int, str]]:
        """(update_time, status) per stored order: two changes can share a second."""
        conn = await self.db()
        try:
            rows = await conn.fetch("SELECT id, update_time, status FROM orders")
        finally:
            await conn.close()
        return {r["id"]: (r["update_time"], r["status"]) for r in rows}


StackFactory = Callable[..., contextlib.AbstractAsyncContextManager[Stack]]


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


ALL_STATUSES = (
    "UNPAID",
    "ON_HOLD",
    "AWAITING_SHIPMENT",
    "PARTIALLY_SHIPPING",
    "AWAITING_COLLECTION",
    "IN_TRANSIT",
    "DELIVERED",
    "COMPLETED",
    "CANCELLED",
)
DAY = 86400


def seed_orders(sb: RunningSandbox, count: int, seed: int = 11, max_age_days: int = 40) -> None:
    """`count` orders in the sandbox's own store, across every status and age.

    Placed through the sandbox's order store, then aged: a creation `a + 0.5` days ago and a
    last update `u + 0.25` days ago (u ≤ a), so no order sits near a whole-day boundary and
    a day filter's answer cannot depend on the second the check runs. ON_HOLD orders are
    minutes old (the hold lasts one hour after payment, so an older one would have moved on).
    """
    import random

    rng = random.Random(seed)
    store = sb.state.orders
    shop = sb.state.shop(US_SHOP_ID)
    now = int(sb.state.clock.now_int())
    for n in range(count):
        status = ALL_STATUSES[n % len(ALL_STATUSES)]
        rec = store.place(shop, {"line_items": [{"sku_id": MUG_RED}], "paid": status != "UNPAID"})
        with sb.state.lock:
            doc = rec.doc
            if status == "ON_HOLD":
                created = now - rng.randint(60, 1800)
                updated = created
            else:
                age = rng.randint(0, max_age_days)
                created = now - age * DAY - DAY // 2
                updated = now - rng.randint(0, age) * DAY - DAY // 4
                store._on_hold.discard(doc["id"])
            doc.update(
                status=status,
                create_time=created,
                update_time=updated,
                is_on_hold_order=status in ("UNPAID", "ON_HOLD"),
            )
            if status != "UNPAID":
                doc["paid_time"] = created


def sandbox_orders(sb: RunningSandbox) -> list[dict[str, Any]]:
    """The sandbox's own order documents (a copy, under its lock)."""
    with sb.state.lock:
        return [dict(rec.doc) for rec in sb.state.orders.orders.values()]

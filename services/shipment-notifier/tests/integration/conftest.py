"""shipment-notifier on real PostgreSQL and Kafka with the whole TikTok stack around it: the
real sandbox, a real auth-broker (own database), OAuth approved in the sandbox.

Orders are placed in the sandbox (its fixed mug catalogue) and announced the way order-ingest
does: `order.received` / `order.updated` / `order.cancelled` built from the sandbox's own
"Get Order Detail 202507" answer, so the notifier sees faithful order objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from asgi_lifespan import LifespanManager
from auth_broker.config import Settings as BrokerSettings
from auth_broker.testing import MIGRATIONS as BROKER_MIGRATIONS
from auth_broker.testing import (
    RunningBroker,
    approve_in_sandbox,
    free_port,
    run_broker,
    sandbox_settings,
)
from fastapi import FastAPI
from shipment_notifier.app import NAME, create_app
from shipment_notifier.cli import MIGRATIONS
from shipment_notifier.config import Settings
from tiktok_sandbox.testing import RunningSandbox, SignedClient, install_mug_catalog, run_sandbox
from tts_common.events import (
    ORDER_RECEIVED,
    SHIPMENT_CREATED,
    CloudEvent,
    encode,
    make_event,
)
from tts_common.kafka import ensure_topics, make_consumer, make_producer
from tts_common.migrate import migrate_async
from tts_common.testing.infra import database_url, libpq_dsn, new_database_name
from tts_common.testing.ready import until_ready

AUTH = {"Authorization": "Bearer dev-api-key"}
SERVICE_SECRET = "shipment-notifier-test-credential-0123456789"
MUG_RED = "1729592969712207012"
MUG_BLUE = "1729592969712207013"
SHIP = "POST /fulfillment/202309/packages/{package_id}/ship"
BATCH_SHIP = "POST /fulfillment/202309/packages/ship"
UPDATE = "POST /fulfillment/202309/orders/{order_id}/shipping_info/update"
WRITES = (
    SHIP,
    UPDATE,
    BATCH_SHIP,
    "POST /fulfillment/202309/orders/{order_id}/packages",
    "POST /fulfillment/202309/packages/{package_id}/shipping_info/update",
)
US_CARRIERS = [{"provider": "USPS", "aliases": ["US Postal Service", "USPS Priority Mail"]}]

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], within: float = 60.0
) -> T:
    """Poll `probe` until `check` holds (a condition, not a fixed sleep); fail with the last."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if check(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within:.0f} s; last: {value!r}"[:3000])
        await asyncio.sleep(0.1)


async def skip_history(bootstrap: str, group: str, topics: list[str]) -> None:
    """Commit `group`'s offsets at the topics' current ends: the app under test sees only the
    events this test publishes (the shared topics hold every earlier run's)."""
    await ensure_topics(bootstrap)
    consumer = make_consumer(bootstrap, group)
    await consumer.start()
    try:
        parts = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(t) or [])
        ]
        if not parts:
            await consumer._client.force_metadata_update()
            parts = [
                TopicPartition(t, p)
                for t in topics
                for p in sorted(consumer.partitions_for_topic(t) or [])
            ]
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        await consumer.commit(dict(ends))
    finally:
        await consumer.stop()


@dataclass
class Stack:
    """The real sandbox, a real auth-broker and shipment-notifier (in process, or not)."""

    sandbox: RunningSandbox
    broker: RunningBroker
    app: FastAPI | None
    http: httpx.AsyncClient  # shipment-notifier
    outside: httpx.AsyncClient  # broker and sandbox over real HTTP
    database_url: str
    producer: AIOKafkaProducer
    settings: dict[str, Any]  # the notifier's settings values (for a subprocess too)
    tiktok: SignedClient = field(init=False)

    def __post_init__(self) -> None:
        self.tiktok = self.sandbox.client("US")  # the test's own view of TikTok (reads only)

    async def connect(self, market: str = "US") -> str:
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
        return str(created["id"])

    async def export(self, connection_id: str, **body: Any) -> dict[str, Any]:
        payload = {
            "name": f"us-{uuid.uuid4().hex[:6]}",
            "connection_id": connection_id,
            "active": True,
            "carriers": US_CARRIERS,
            **body,
        }
        r = await self.http.post("/v1/shipment-exports", json=payload)
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    # --- the sandbox ---

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self.sandbox.admin("GET", "/sandbox/v1/stats")["data"]
        return data

    def calls(self) -> dict[str, int]:
        calls: dict[str, int] = self.stats()["calls"]
        return calls

    def ship_calls(self) -> int:
        """Ship Package calls, single or batched (several ready at once go as one batch)."""
        calls = self.calls()
        return calls.get(SHIP, 0) + calls.get(BATCH_SHIP, 0)

    def writes(self) -> int:
        calls = self.calls()
        return sum(calls.get(op, 0) for op in WRITES)

    def place_order(self, **body: Any) -> dict[str, Any]:
        """An order of the US shop (ON_HOLD unless `paid=False`); its detail as the API shows it."""
        payload = {"region": "US", "line_items": [{"sku_id": MUG_RED}], **body}
        r = self.sandbox.admin("POST", "/sandbox/v1/orders", payload)
        assert r.get("code") == 0, r
        return self.order(str(r["data"]["order"]["id"]))

    def place_orders(self, n: int, **body: Any) -> list[str]:
        payload = {"region": "US", "line_items": [{"sku_id": MUG_RED}], **body}
        ids = []
        for _ in range(n):
            r = self.sandbox.admin("POST", "/sandbox/v1/orders", payload)
            assert r.get("code") == 0, r
            ids.append(str(r["data"]["order"]["id"]))
        return ids

    def orders(self, ids: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), 50):
            body = self.tiktok.call(
                "GET", "/order/202507/orders", params={"ids": ",".join(ids[start : start + 50])}
            )
            assert body["code"] == 0, body
            found.extend(body["data"]["orders"])
        return found

    def order(self, order_id: str) -> dict[str, Any]:
        return self.orders([order_id])[0]

    def advance(self, seconds: float = 3601) -> None:
        r = self.sandbox.admin("POST", "/sandbox/v1/clock", {"advance_seconds": seconds})
        assert r.get("code") == 0, r

    def cancel(self, order_id: str) -> None:
        r = self.sandbox.admin("POST", f"/sandbox/v1/orders/{order_id}/cancel", {})
        assert r.get("code") == 0, r

    # --- Kafka ---

    async def publish(self, topic: str, key: str, event: CloudEvent) -> None:
        await self.producer.send_and_wait(topic, encode(event), key=key.encode())

    def order_event(
        self, connection_id: str, order: dict[str, Any], type: str = "order.received"
    ) -> CloudEvent:
        status = str(order["status"])
        start = order.get("paid_time") or order.get("create_time")
        hold = status in ("UNPAID", "ON_HOLD") and start
        data: dict[str, Any] = {
            "connection_id": connection_id,
            "shop_id": self.sandbox.shop_id("US"),
            "order_id": str(order["id"]),
            "status": status,
            "update_time": datetime.fromtimestamp(int(order["update_time"]), UTC).isoformat(),
            "cancellable_until": (
                datetime.fromtimestamp(int(start), UTC) + timedelta(hours=1)
            ).isoformat()
            if hold
            else None,
            "fulfillment_type": order.get("fulfillment_type") or "FULFILLMENT_BY_SELLER",
            "order": order,
        }
        if type == "order.cancelled":
            data["cancel_reason"] = order.get("cancel_reason")
        return make_event(type, "/order-ingest", str(order["id"]), data)

    async def announce(
        self, connection_id: str, order: dict[str, Any], type: str = "order.received"
    ) -> None:
        await self.publish(
            ORDER_RECEIVED, str(order["id"]), self.order_event(connection_id, order, type)
        )

    def shipment_event(self, order_id: str, tracking: str, **over: Any) -> CloudEvent:
        data: dict[str, Any] = {
            "order_id": order_id,
            "tracking_number": tracking,
            "carrier": "US Postal Service",
            "shipped_at": datetime.now(UTC).isoformat(),
            **over,
        }
        return make_event("shipment.created", "/oms", order_id, data)

    async def ship(self, order_id: str, tracking: str, **over: Any) -> CloudEvent:
        event = self.shipment_event(order_id, tracking, **over)
        await self.publish(SHIPMENT_CREATED, order_id, event)
        return event

    # --- the notifier's database ---

    async def shipment(self, **where: str) -> list[dict[str, Any]]:
        conn = await asyncpg.connect(libpq_dsn(self.database_url))
        try:
            clauses = " AND ".join(f"{k} = ${i + 1}" for i, k in enumerate(where))
            rows = await conn.fetch(
                f"SELECT * FROM shipments {'WHERE ' + clauses if clauses else ''} ORDER BY created_at",
                *where.values(),
            )
            return [dict(r) for r in rows]
        finally:
            await conn.close()

    async def until_status(self, order_id: str, status: str, within: float = 60) -> dict[str, Any]:
        rows = await eventually(
            lambda: self.shipment(order_id=order_id),
            lambda rs: any(r["status"] == status for r in rs),
            within,
        )
        return next(r for r in rows if r["status"] == status)


StackFactory = Callable[..., contextlib.AbstractAsyncContextManager[Stack]]


@pytest.fixture
async def broker_database(pg_server_url: str) -> AsyncIterator[str]:
    name = new_database_name("t_ship_broker")
    admin = await asyncpg.connect(libpq_dsn(pg_server_url), timeout=30)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield database_url(pg_server_url, name)
    finally:
        admin = await asyncpg.connect(libpq_dsn(pg_server_url), timeout=30)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def tiktok_stack(fresh_database: str, broker_database: str, kafka_bootstrap: str) -> StackFactory:
    """`async with tiktok_stack(sandbox={...}, settings={...}, in_process=True) as stack:` —
    the sandbox, a broker whose TikTok it is, and shipment-notifier leasing from that broker
    (in process; `in_process=False` leaves starting it to the test, e.g. as a subprocess).
    Consumer groups of its own, at the end of the shared topics."""

    @contextlib.asynccontextmanager
    async def start(
        *,
        sandbox: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        in_process: bool = True,
    ) -> AsyncIterator[Stack]:
        await migrate_async(broker_database, BROKER_MIGRATIONS, "auth-broker")
        await migrate_async(fresh_database, MIGRATIONS, NAME)
        prefix = f"{os.environ.get('TTS_CONSUMER_GROUP_PREFIX', 'test-')}{uuid.uuid4().hex[:8]}-"
        await skip_history(kafka_bootstrap, prefix + NAME, [SHIPMENT_CREATED, ORDER_RECEIVED])
        port = free_port()
        with run_sandbox(
            redirect_url=f"http://127.0.0.1:{port}/v1/oauth/callback", **(sandbox or {})
        ) as sb:
            install_mug_catalog(sb)
            broker_settings = BrokerSettings(
                **sandbox_settings(
                    sb,
                    broker_database,
                    kafka_bootstrap,
                    http_port=port,
                    refresher_enabled=False,
                    service_credentials=f"shipment-notifier:{SERVICE_SECRET}",
                )
            )
            with run_broker(broker_settings) as broker:
                values: dict[str, Any] = {
                    "database_url": fresh_database,
                    "kafka_bootstrap": kafka_bootstrap,
                    "consumer_group_prefix": prefix,
                    "auth_broker_url": broker.base_url,
                    "service_credential": SERVICE_SECRET,
                    "tiktok_open_api_url": sb.base_url,
                    "tiktok_app_key": sb.settings.app_key,
                    "tiktok_app_secret": sb.settings.app_secret,
                    **(settings or {}),
                }
                producer = make_producer(kafka_bootstrap)
                await producer.start()
                try:
                    async with contextlib.AsyncExitStack() as stack:
                        app = None
                        if in_process:
                            app = create_app(Settings(**values))
                            await stack.enter_async_context(
                                LifespanManager(app, startup_timeout=60, shutdown_timeout=60)
                            )
                            transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=app)
                        else:
                            transport = httpx.AsyncHTTPTransport()
                        http = await stack.enter_async_context(
                            httpx.AsyncClient(
                                transport=transport,
                                base_url="http://notifier",
                                headers=AUTH,
                                timeout=60,
                            )
                        )
                        outside = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
                        if app is not None:
                            await until_ready(app)
                        yield Stack(
                            sb, broker, app, http, outside, fresh_database, producer, values
                        )
                finally:
                    await producer.stop()

    return start

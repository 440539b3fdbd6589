"""The consumer seam every service uses, on real Kafka and PostgreSQL.

A handler written the documented way (`on_<event>(session, data)`, flush only, declared in
`create_service_app(consumers=[...])`) applies each event once: a redelivered event and a
batch rolled back and replayed record by record change the database once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from aiokafka import TopicPartition
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.app import Runtime, create_service_app
from tts_common.events import CONNECTION_CHANGED, ConnectionRevoked, encode, make_event
from tts_common.fabric_errors import NonRetriableError
from tts_common.kafka import ensure_topics, make_consumer, make_producer
from tts_common.outbox import OUTBOX_INBOX_DDL
from tts_common.settings import ServiceSettings
from tts_common.subscriptions import Subscription, current_event
from tts_common.testing.infra import libpq_dsn
from tts_common.testing.ready import until_ready

pytestmark = pytest.mark.integration

EFFECTS_DDL = """
-- No unique constraint on purpose: an event applied twice shows up as a second row.
CREATE TABLE revocations (event_id TEXT NOT NULL, connection_id TEXT NOT NULL);
"""


async def on_connection_revoked(session: AsyncSession, data: ConnectionRevoked) -> None:
    """Written the way every service writes a handler: the session, the decoded data, flush."""
    if data.connection_id.startswith("boom-"):
        raise NonRetriableError(f"cannot apply {data.connection_id}")
    await session.execute(
        text("INSERT INTO revocations (event_id, connection_id) VALUES (:e, :c)"),
        {"e": current_event().id, "c": data.connection_id},
    )


async def _sql(url: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(libpq_dsn(url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def _start_group_at_end(bootstrap: str, group: str, topic: str) -> None:
    """Commit the topic's current end offsets for `group`: it sees only what is sent next.

    The topic is shared with every other test; without this a new group would start from
    the earliest record and count their events in its statistics.
    """
    await ensure_topics(bootstrap)
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await producer.partitions_for(topic)]
    finally:
        await producer.stop()
    consumer = make_consumer(bootstrap, group)
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.commit(dict(ends))
    finally:
        await consumer.stop()


@pytest.fixture
async def schema(fresh_database: str) -> AsyncIterator[str]:
    conn = await asyncpg.connect(libpq_dsn(fresh_database))
    try:
        await conn.execute(OUTBOX_INBOX_DDL + EFFECTS_DDL)
    finally:
        await conn.close()
    yield fresh_database


def _app(database_url: str, kafka_bootstrap: str, group: str, **settings: object) -> FastAPI:
    return create_service_app(
        name="seam-test",
        settings=ServiceSettings(
            database_url=database_url, kafka_bootstrap=kafka_bootstrap, **settings
        ),
        consumers=[
            Subscription(
                CONNECTION_CHANGED, {"connection.revoked": on_connection_revoked}, group=group
            )
        ],
    )


async def test_redelivered_and_replayed_events_change_the_database_once(
    schema: str, kafka_bootstrap: str
) -> None:
    run = uuid.uuid4().hex[:8]
    key = f"seam-{run}".encode()  # one key: one partition, fetched in one round
    good = [
        make_event(
            "connection.revoked",
            "/test",
            f"c{i}-{run}",
            {"connection_id": f"c{i}-{run}", "market": "UK", "reason": "test"},
        )
        for i in range(5)
    ]
    bad = make_event(
        "connection.revoked", "/test", None, {"connection_id": f"boom-{run}", "market": "US"}
    )
    # Delivered twice: the same event (same id) before and after the rest.
    records = [good[0], *good[1:3], bad, *good[3:], good[0]]
    group = f"seam-{run}"
    # The app joins its group under this process's TTS_CONSUMER_GROUP_PREFIX.
    group_id = ServiceSettings().consumer_group_prefix + group
    await _start_group_at_end(kafka_bootstrap, group_id, CONNECTION_CHANGED)
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    try:
        for event in records:
            await producer.send_and_wait(CONNECTION_CHANGED, encode(event), key=key)
    finally:
        await producer.stop()

    app = _app(schema, kafka_bootstrap, group=group)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        await until_ready(app)
        rt: Runtime = app.state.runtime

        async def settled() -> bool:
            if not rt.consumers:
                return False
            stats = rt.consumers[0].stats
            return stats.processed + stats.duplicates + stats.dead_lettered >= len(records)

        for _ in range(600):
            if await settled():
                break
            await asyncio.sleep(0.1)
        assert await settled(), rt.consumers[0].stats if rt.consumers else "no consumer"
        stats = rt.consumers[0].stats

    rows = await _sql(
        schema,
        "SELECT connection_id, count(*) AS n FROM revocations"
        " WHERE connection_id LIKE $1 GROUP BY connection_id",
        f"%-{run}",
    )
    applied = {r["connection_id"]: r["n"] for r in rows}
    assert applied == {f"c{i}-{run}": 1 for i in range(5)}
    # The poison record failed its batch, which was rolled back and replayed one by one:
    # the neighbours' effects of the failed attempt were undone, then applied once.
    assert stats.batch_fallbacks >= 1
    assert (stats.processed, stats.duplicates, stats.dead_lettered) == (5, 1, 1)
    inbox = await _sql(
        schema, "SELECT event_id FROM inbox WHERE consumer_group = $1 ORDER BY event_id", group_id
    )
    assert [r["event_id"] for r in inbox] == sorted(e.id for e in good)


async def test_api_only_and_consume_only_modes(schema: str, kafka_bootstrap: str) -> None:
    router = APIRouter()

    @router.get("/v1/thing")
    async def thing() -> dict[str, str]:
        return {"ok": "yes"}

    def build(**settings: object) -> FastAPI:
        return create_service_app(
            name="mode-test",
            settings=ServiceSettings(
                database_url=schema, kafka_bootstrap=kafka_bootstrap, **settings
            ),
            public_routers=[router],
            consumers=[
                Subscription(CONNECTION_CHANGED, {"connection.revoked": on_connection_revoked})
            ],
        )

    api_only = build(run_workers=False)
    async with LifespanManager(api_only, startup_timeout=60, shutdown_timeout=60):
        await until_ready(api_only)
        transport = httpx.ASGITransport(app=api_only)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/v1/thing")).status_code == 200
        names = {t.get_name() for t in api_only.state.runtime.tasks}
        assert not any(n.startswith("consumer:") for n in names) and "outbox-relay" not in names

    consume_only = build(serve_api=False)
    async with LifespanManager(consume_only, startup_timeout=60, shutdown_timeout=60):
        await until_ready(consume_only)  # the consumer has joined: it stops cleanly
        transport = httpx.ASGITransport(app=consume_only)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/v1/thing")).status_code == 404
            assert (await client.get("/healthz")).status_code == 200
        names = {t.get_name() for t in consume_only.state.runtime.tasks}
        prefix = ServiceSettings().consumer_group_prefix
        assert f"consumer:{prefix}mode-test" in names and "outbox-relay" in names

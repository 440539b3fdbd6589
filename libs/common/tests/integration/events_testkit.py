"""Helpers shared by the event-fabric integration tests (not a test module)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.consumer import ConsumerRunner, Handler
from tts_common.db import create_engine, session_factory
from tts_common.events import CloudEvent
from tts_common.kafka import make_admin, make_producer
from tts_common.outbox import OUTBOX_INBOX_DDL
from tts_common.testing.infra import libpq_dsn

EFFECTS_DDL = """
CREATE TABLE widgets (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, event_id TEXT NOT NULL);
-- No unique constraint on purpose: a duplicate effect must show up as a second row.
CREATE TABLE effects (id BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL, seq INT, member TEXT);
"""


async def create_schema(url: str) -> None:
    conn = await asyncpg.connect(libpq_dsn(url))
    try:
        await conn.execute(OUTBOX_INBOX_DDL + EFFECTS_DDL)
    finally:
        await conn.close()


async def fetchval(url: str, sql: str) -> int:
    conn = await asyncpg.connect(libpq_dsn(url))
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def record_effect(
    session: AsyncSession, event: CloudEvent, record: ConsumerRecord[bytes, bytes]
) -> None:
    await session.execute(
        text("INSERT INTO effects (event_id, seq) VALUES (:e, :s)"),
        {"e": event.id, "s": event.data.get("seq")},
    )


async def produce(
    bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes | None]]
) -> None:
    """Send every (value, key) to `topic` and wait for all acks.

    Pipelined, yet in order: aiokafka sends one batch per partition at a time.
    """
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        acks = [await producer.send(topic, value, key=key) for value, key in records]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def running_consumer(
    bootstrap: str, database_url: str, topic: str, handler: Handler, **options: Any
) -> AsyncIterator[ConsumerRunner]:
    """A `ConsumerRunner` (group `g-<topic>`) consuming `topic` until the block ends."""
    engine = create_engine(database_url)
    runner = ConsumerRunner(
        bootstrap, f"g-{topic}", [topic], session_factory(engine), handler, **options
    )
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        runner.stop()
        await asyncio.wait_for(task, 30)
        await engine.dispose()


async def wait_for(
    check: Callable[[], Awaitable[bool]], within: float, interval: float = 0.2
) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(interval)
    return await check()


async def read_topic(bootstrap: str, topic: str, within: float = 20.0) -> list[ConsumerRecord]:
    """Every record currently in ``topic`` (reads up to the end offsets seen at the start)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[ConsumerRecord] = []
        deadline = time.monotonic() + within
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end")
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(records)
        return out
    finally:
        await consumer.stop()


class LagProbe:
    """Committed lag of a consumer group: end offsets minus committed offsets.

    One long-lived plain consumer for the end offsets (aiokafka consumers that
    are stopped right after starting can raise CancelledError from stop()).
    """

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self._bootstrap, self._group, self._topic = bootstrap, group, topic
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        self._admin = make_admin(bootstrap)

    async def __aenter__(self) -> LagProbe:
        await self._consumer.start()
        await self._admin.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._admin.close()
        await self._consumer.stop()

    async def lag(self) -> int:
        committed = await self._admin.list_consumer_group_offsets(self._group)
        parts = self._consumer.partitions_for_topic(self._topic)
        if not parts:
            await self._consumer._client.force_metadata_update()
            parts = self._consumer.partitions_for_topic(self._topic) or set()
        tps = [TopicPartition(self._topic, p) for p in parts]
        ends = await self._consumer.end_offsets(tps)
        lag = 0
        for tp in tps:
            meta = committed.get(tp)
            lag += ends[tp] - (meta.offset if meta is not None and meta.offset >= 0 else 0)
        return lag

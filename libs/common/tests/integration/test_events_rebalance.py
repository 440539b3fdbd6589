"""A member joining mid-stream: revoked partitions are committed first, so nothing is replayed."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import ConsumerRecord
from events_testkit import create_schema, fetchval, produce, wait_for
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.consumer import ConsumerRunner, Handler
from tts_common.db import create_engine, session_factory
from tts_common.events import CloudEvent, encode, make_event
from tts_common.kafka import ensure_topics

pytestmark = pytest.mark.integration

TOTAL = 2000


def _expired(seq: int) -> CloudEvent:
    return make_event(
        "connection.expired", "/test", None, {"connection_id": f"c{seq}", "market": "UK"}
    )


async def test_graceful_rebalance_replays_nothing(
    kafka_bootstrap: str, fresh_database: str, unique_topic: str
) -> None:
    await create_schema(fresh_database)
    await ensure_topics(kafka_bootstrap, [unique_topic], partitions=6)
    await produce(
        kafka_bootstrap,
        unique_topic,
        ((encode(_expired(seq)), f"c{seq}".encode()) for seq in range(TOTAL)),
    )

    engine = create_engine(fresh_database)
    factory = session_factory(engine)

    def handler_for(member: str) -> Handler:
        async def handler(
            session: AsyncSession, event: CloudEvent, record: ConsumerRecord[bytes, bytes]
        ) -> None:
            await session.execute(
                text("INSERT INTO effects (event_id, member) VALUES (:e, :m)"),
                {"e": event.id, "m": member},
            )
            await asyncio.sleep(0.002)  # slow enough for the join to land mid-stream

        return handler

    group = f"g-{uuid.uuid4().hex[:8]}"
    first = ConsumerRunner(
        kafka_bootstrap, group, [unique_topic], factory, handler_for("first"), max_records=100
    )
    second = ConsumerRunner(
        kafka_bootstrap, group, [unique_topic], factory, handler_for("second"), max_records=100
    )
    tasks = [asyncio.create_task(first.run())]
    try:

        async def first_started() -> bool:
            return first.stats.processed >= 200

        assert await wait_for(first_started, within=60)
        tasks.append(asyncio.create_task(second.run()))

        async def all_done() -> bool:
            return await fetchval(fresh_database, "SELECT count(*) FROM effects") >= TOTAL

        assert await wait_for(all_done, within=90)
        await asyncio.sleep(1)  # would-be replays have time to show up
    finally:
        first.stop()
        second.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        await engine.dispose()

    assert await fetchval(fresh_database, "SELECT count(*) FROM effects") == TOTAL
    assert await fetchval(fresh_database, "SELECT count(DISTINCT event_id) FROM effects") == TOTAL
    assert (
        await fetchval(fresh_database, "SELECT count(*) FROM effects WHERE member = 'second'") > 0
    )
    # Work done before the rebalance was committed on revoke: no member saw it again.
    assert first.stats.duplicates + second.stats.duplicates == 0

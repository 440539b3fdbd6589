"""A member joining mid-stream: revoked partitions are committed first, so nothing is replayed.

"Mid-stream" is arranged, not hoped for: the first member's handler stops after
``HOLD_AT`` records, inside a round, until its rebalance listener sees the second
member's join begin a rebalance. The join therefore always lands while the first
member has a round in progress and most of the stream left.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from aiokafka.abc import ConsumerRebalanceListener
from events_testkit import create_schema, fetchval, produce, wait_for
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.consumer import ConsumerRunner, Handler
from tts_common.db import create_engine, session_factory
from tts_common.events import CloudEvent, encode, make_event
from tts_common.kafka import ensure_topics

pytestmark = pytest.mark.integration

TOTAL = 2000
HOLD_AT = 200  # the first member's handler call that waits for the rebalance


class _RebalanceBegun(ConsumerRebalanceListener):
    """Sets ``begun`` when this member is asked to give partitions up."""

    def __init__(self) -> None:
        self.begun = asyncio.Event()

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked:  # the first join also "revokes", an empty set
            self.begun.set()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        return None


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

    rebalance = _RebalanceBegun()
    holding = asyncio.Event()
    calls = {"first": 0, "second": 0}

    def handler_for(member: str) -> Handler:
        async def handler(
            session: AsyncSession, event: CloudEvent, record: ConsumerRecord[bytes, bytes]
        ) -> None:
            await session.execute(
                text("INSERT INTO effects (event_id, member) VALUES (:e, :m)"),
                {"e": event.id, "m": member},
            )
            calls[member] += 1
            if member == "first" and calls[member] == HOLD_AT:
                # Mid-round: this round's records are not committed yet. The
                # listener runs before the runner's revoke waits for this round.
                holding.set()
                await rebalance.begun.wait()

        return handler

    group = f"g-{uuid.uuid4().hex[:8]}"
    first = ConsumerRunner(
        kafka_bootstrap,
        group,
        [unique_topic],
        factory,
        handler_for("first"),
        max_records=100,
        rebalance_listener=rebalance,
    )
    second = ConsumerRunner(
        kafka_bootstrap, group, [unique_topic], factory, handler_for("second"), max_records=100
    )
    tasks = [asyncio.create_task(first.run())]
    try:
        await asyncio.wait_for(holding.wait(), 60)
        tasks.append(asyncio.create_task(second.run()))

        async def all_done() -> bool:
            return await fetchval(fresh_database, "SELECT count(*) FROM effects") >= TOTAL

        assert await wait_for(all_done, within=90)
        await asyncio.sleep(1)  # would-be replays have time to show up
    finally:
        rebalance.begun.set()  # never leave the first member's handler waiting
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
    assert calls["first"] >= HOLD_AT and calls["first"] + calls["second"] == TOTAL

"""Outbox → relay (killed hard, restarted) → Kafka → inbox consumer: exactly 10,000 effects.

The moment of the kill is arranged, not hoped for: the first relay
(``events_relay.py --hold-after``) publishes part of the outbox, then sends one
more batch, has it acknowledged and waits before committing its delete. Killed
there, that batch is both on Kafka and back in the outbox: the second relay sends
it again and the consumer's inbox must absorb the copies.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from events_testkit import create_schema, fetchval, read_topic, record_effect, wait_for
from sqlalchemy import text
from tts_common.consumer import ConsumerRunner
from tts_common.db import create_engine, session_factory, session_scope
from tts_common.events import make_event
from tts_common.kafka import ensure_topics
from tts_common.outbox import add_event, add_events

pytestmark = pytest.mark.integration

TOTAL = 10_000
PER_TRANSACTION = 100
BATCH = 25
RELAY = Path(__file__).with_name("events_relay.py")


def _start_relay(db_url: str, bootstrap: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    # Small batches, one in flight. The child keeps its own copy of the log's
    # file descriptor.
    with log.open("ab") as err:
        return subprocess.Popen(
            [
                sys.executable,
                str(RELAY),
                "--database-url",
                db_url,
                "--bootstrap",
                bootstrap,
                "--batch-size",
                str(BATCH),
                "--pipeline",
                "1",
                "--poll-interval",
                "0.05",
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


async def test_relay_killed_partway_loses_nothing_and_effects_are_exactly_once(
    kafka_bootstrap: str, fresh_database: str, unique_topic: str, tmp_path: Path
) -> None:
    await create_schema(fresh_database)
    await ensure_topics(kafka_bootstrap, [unique_topic])
    engine = create_engine(fresh_database)
    factory = session_factory(engine)

    # Business transactions: each inserts its widgets and their events together.
    for start in range(0, TOTAL, PER_TRANSACTION):
        async with session_scope(factory) as session:
            items = []
            for seq in range(start, start + PER_TRANSACTION):
                event = make_event(
                    "product.deleted",
                    "/test",
                    f"w{seq}",
                    {"feed_id": "f", "product_id": f"p{seq}", "parent_id": f"p{seq}"},
                )
                # `seq` is an extra field: ignored by the model, used by the test's effect.
                event = event.model_copy(update={"data": {**event.data, "seq": seq}})
                await session.execute(
                    text("INSERT INTO widgets (name, event_id) VALUES (:n, :e)"),
                    {"n": f"w{seq}", "e": event.id},
                )
                items.append((unique_topic, f"f:p{seq % 500}", event))
            if start == 0:  # one of them through the single-event call
                await add_event(session, *items.pop())
            await add_events(session, items)
    # A rolled-back business transaction leaves no event behind.
    with pytest.raises(RuntimeError):
        async with session_scope(factory) as session:
            ghost = make_event(
                "product.deleted", "/t", None, {"feed_id": "f", "product_id": "x", "parent_id": "x"}
            )
            await add_event(session, unique_topic, "k", ghost)
            raise RuntimeError("business rule failed")
    assert await fetchval(fresh_database, "SELECT count(*) FROM outbox") == TOTAL

    # First relay: SIGKILL while a sent and acknowledged batch is not yet deleted.
    held = tmp_path / "relay.held"
    hold = ("--hold-after", "2000", "--hold-file", str(held))
    relay = _start_relay(fresh_database, kafka_bootstrap, tmp_path / "relay.log", *hold)
    try:

        async def holding() -> bool:
            return held.exists() or relay.poll() is not None

        assert await wait_for(holding, within=90)
        assert held.exists(), (tmp_path / "relay.log").read_text()[-2000:]
        relay.send_signal(signal.SIGKILL)
        relay.wait(10)
    finally:
        if relay.poll() is None:
            relay.kill()
    left = await fetchval(fresh_database, "SELECT count(*) FROM outbox")
    assert 0 < left <= TOTAL - 2000, f"{left} rows left"

    # Second relay drains the rest and stops cleanly on SIGTERM.
    relay = _start_relay(fresh_database, kafka_bootstrap, tmp_path / "relay.log")
    try:

        async def empty() -> bool:
            return await fetchval(fresh_database, "SELECT count(*) FROM outbox") == 0

        assert await wait_for(empty, within=90)
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(20) == 0, (tmp_path / "relay.log").read_text()[-2000:]
    finally:
        if relay.poll() is None:
            relay.kill()

    published = await read_topic(kafka_bootstrap, unique_topic, within=60)
    types_on_kafka = {r.headers and dict(r.headers).get("ce_type") for r in published}
    assert types_on_kafka == {b"product.deleted"}
    # At-least-once: the held batch reached Kafka before the kill and again after it.
    assert len(published) >= TOTAL + BATCH

    runner = ConsumerRunner(
        kafka_bootstrap, f"g-{uuid.uuid4().hex[:8]}", [unique_topic], factory, record_effect
    )
    task = asyncio.create_task(runner.run())
    try:

        async def consumed_all() -> bool:
            return runner.stats.processed + runner.stats.duplicates >= len(published)

        assert await wait_for(consumed_all, within=90), runner.stats
    finally:
        runner.stop()
        await asyncio.wait_for(task, 30)
        await engine.dispose()

    assert await fetchval(fresh_database, "SELECT count(*) FROM effects") == TOTAL
    assert await fetchval(fresh_database, "SELECT count(DISTINCT event_id) FROM effects") == TOTAL
    assert await fetchval(fresh_database, "SELECT count(DISTINCT seq) FROM effects") == TOTAL
    # Every business row has its effect, and nothing else does.
    assert (
        await fetchval(
            fresh_database,
            "SELECT count(*) FROM widgets w JOIN effects e ON e.event_id = w.event_id",
        )
        == TOTAL
    )
    assert runner.stats.duplicates == len(published) - TOTAL

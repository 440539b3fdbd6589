"""Consumer runner on real Kafka + PostgreSQL: inbox dedup, DLQ, retries, failure isolation."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaTimeoutError
from events_testkit import (
    create_schema,
    fetchval,
    produce,
    read_topic,
    running_consumer,
    wait_for,
)
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.consumer import ConsumerRunner
from tts_common.events import CloudEvent, dlq_topic, encode, make_event
from tts_common.fabric_errors import NonRetriableError, RetriableError
from tts_common.kafka import NEW_GROUP_START_ENV, ensure_topics, make_producer

pytestmark = pytest.mark.integration


def _event(name: str) -> CloudEvent:
    # The "name" travels in `subject`; the handler decides how to behave from it.
    return make_event("connection.revoked", "/test", name, {"connection_id": name, "market": "US"})


@pytest.mark.parametrize("batch_mode", [True, False], ids=["batch", "one-by-one"])
async def test_duplicates_poison_and_failures(
    batch_mode: bool, kafka_bootstrap: str, fresh_database: str, unique_topic: str
) -> None:
    await create_schema(fresh_database)
    await ensure_topics(kafka_bootstrap, [unique_topic], partitions=1)
    calls: Counter[str] = Counter()

    async def handler(
        session: AsyncSession, event: CloudEvent, record: ConsumerRecord[bytes, bytes]
    ) -> None:
        name = event.subject or ""
        calls[name] += 1
        await session.execute(
            text("INSERT INTO effects (event_id, seq) VALUES (:e, 0)"), {"e": name}
        )
        if name == "permanent":
            raise NonRetriableError("order o-1 cannot be shipped")
        if name == "once" and calls[name] == 1:
            raise RetriableError("lock timeout")
        if name == "always":
            raise RuntimeError("database went away")  # unknown kind: retried, then DLQ

    events = {n: _event(n) for n in ["a", "b", "permanent", "once", "always", "last"]}
    values: list[bytes] = [
        encode(events["a"]),
        encode(events["a"]),  # the same event delivered twice
        b"\x00\x01 definitely not a cloud event",
        encode(events["b"]),
        encode(events["permanent"]),
        encode(events["once"]),
        encode(events["always"]),
        encode(events["last"]),
    ]
    await produce(kafka_bootstrap, unique_topic, [(v, b"k") for v in values])

    async with running_consumer(
        kafka_bootstrap,
        fresh_database,
        unique_topic,
        handler,
        max_retries=2,
        backoff_base=0.01,
        backoff_cap=0.05,
        batch_mode=batch_mode,
    ) as runner:

        async def done() -> bool:
            return (
                runner.stats.processed + runner.stats.duplicates + runner.stats.dead_lettered >= 8
            )

        assert await wait_for(done, within=60), runner.stats
        assert await wait_for(lambda: _zero(runner), within=10)

    effects = await _effects(fresh_database)
    # Each applied event exactly once; failed ones left no effect (rolled back).
    assert effects == Counter({"a": 1, "b": 1, "once": 1, "last": 1})
    assert await fetchval(fresh_database, "SELECT count(*) FROM inbox") == 4
    # 1 + max_retries calls for the failure of unknown kind. In batch mode a
    # failed batch is replayed one by one, so records of that batch run again
    # (how many share a batch depends on how the broker hands them out).
    expected = Counter({"a": 1, "b": 1, "permanent": 1, "once": 2, "always": 3, "last": 1})
    if batch_mode:
        assert runner.stats.batch_fallbacks >= 1
        assert calls["once"] == 2 and calls["last"] == 1
        assert calls["always"] in (3, 4)
        assert all(expected[k] <= calls[k] <= 2 for k in ("a", "b", "permanent"))
    else:
        assert calls == expected
    assert runner.stats.retries == 1 + 2
    assert runner.stats.duplicates == 1
    assert runner.stats.dead_lettered == 3

    dead = await read_topic(kafka_bootstrap, dlq_topic(unique_topic))
    assert len(dead) == 3
    by_class = {}
    for rec in dead:
        headers = {k: v.decode() for k, v in rec.headers}
        assert headers["original.topic"] == unique_topic
        assert headers["original.partition"] == "0"
        assert headers["consumer.group"] == f"g-{unique_topic}"
        assert rec.key == b"k"
        by_class[headers["error.class"]] = (rec, headers)
    poison, ph = by_class["PoisonEvent"]
    assert poison.value == values[2] and ph["original.offset"] == "2"
    assert ph["error.retriable"] == "false" and "not JSON" in ph["error.message"]
    perm, hh = by_class["NonRetriableError"]
    assert perm.value == values[4] and hh["original.offset"] == "4"
    assert hh["error.retriable"] == "false"
    always, ah = by_class["RuntimeError"]
    assert always.value == values[6] and ah["error.retriable"] == "true"


async def _zero(runner: ConsumerRunner) -> bool:
    return await runner.lag() == 0


async def _effects(url: str) -> Counter[str]:
    import asyncpg
    from tts_common.testing.infra import libpq_dsn

    conn = await asyncpg.connect(libpq_dsn(url))
    try:
        return Counter(r["event_id"] for r in await conn.fetch("SELECT event_id FROM effects"))
    finally:
        await conn.close()


class _FlakyDlq:
    """A DLQ producer whose first send fails, as when the broker is unreachable."""

    def __init__(self, real: AIOKafkaProducer) -> None:
        self.real = real
        self.failures = 0

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures == 0:
            self.failures += 1
            raise KafkaTimeoutError()
        return await self.real.send(*args, **kwargs)


async def test_unreachable_dlq_rereads_instead_of_skipping(
    kafka_bootstrap: str, fresh_database: str, unique_topic: str
) -> None:
    await create_schema(fresh_database)
    await ensure_topics(kafka_bootstrap, [unique_topic], partitions=1)
    good = [_event("before"), _event("after")]
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    try:
        for value in [encode(good[0]), b"garbage", encode(good[1])]:
            await producer.send_and_wait(unique_topic, value)
        dlq = _FlakyDlq(producer)

        async def handler(
            session: AsyncSession, event: CloudEvent, record: ConsumerRecord[bytes, bytes]
        ) -> None:
            await session.execute(
                text("INSERT INTO effects (event_id) VALUES (:e)"), {"e": event.subject}
            )

        async with running_consumer(
            kafka_bootstrap,
            fresh_database,
            unique_topic,
            handler,
            backoff_cap=0.2,
            dlq_producer=dlq,
        ) as runner:

            async def settled() -> bool:
                return runner.stats.dead_lettered == 1 and await runner.lag() == 0

            assert await wait_for(settled, within=60), runner.stats
    finally:
        await producer.stop()

    assert dlq.failures == 1
    # The poison record was re-read and dead-lettered once the DLQ came back;
    # the event after it was applied exactly once despite the re-read.
    assert await _effects(fresh_database) == Counter({"before": 1, "after": 1})
    dead = await read_topic(kafka_bootstrap, dlq_topic(unique_topic))
    assert [r.value for r in dead] == [b"garbage"]


async def test_database_outage_is_waited_out_not_dead_lettered(
    kafka_bootstrap: str, fresh_database: str, unique_topic: str
) -> None:
    await create_schema(fresh_database)
    await ensure_topics(kafka_bootstrap, [unique_topic], partitions=1)
    await produce(kafka_bootstrap, unique_topic, [(encode(_event(n)), None) for n in ("x", "y")])
    calls: Counter[str] = Counter()

    async def handler(
        session: AsyncSession, event: CloudEvent, record: ConsumerRecord[bytes, bytes]
    ) -> None:
        name = event.subject or ""
        calls[name] += 1
        if calls["x"] <= 6:  # the "database" is down for the first six attempts
            raise ConnectionRefusedError("connection refused")
        await session.execute(text("INSERT INTO effects (event_id) VALUES (:e)"), {"e": name})

    async with running_consumer(
        kafka_bootstrap,
        fresh_database,
        unique_topic,
        handler,
        max_retries=1,
        backoff_base=0.01,
        backoff_cap=0.1,
    ) as runner:

        async def caught_up() -> bool:
            return runner.stats.processed == 2 and await runner.lag() == 0

        assert await wait_for(caught_up, within=60), runner.stats
    # Far more failures than max_retries, yet nothing was dead-lettered.
    assert calls["x"] >= 7
    assert runner.stats.dead_lettered == 0
    assert await _effects(fresh_database) == Counter({"x": 1, "y": 1})


async def test_a_new_group_starts_at_the_configured_time_a_known_one_where_it_left_off(
    kafka_bootstrap: str, fresh_database: str, unique_topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`TTS_KAFKA_NEW_GROUP_START_MS` (what the test plugin sets): a group with no committed
    offset skips what was written before that time; a group with one resumes from it."""
    await create_schema(fresh_database)
    await ensure_topics(kafka_bootstrap, [unique_topic], partitions=2)
    seen: list[str] = []

    async def handler(
        session: AsyncSession, event: CloudEvent, record: ConsumerRecord[bytes, bytes]
    ) -> None:
        seen.append(event.subject or "")

    await produce(
        kafka_bootstrap,
        unique_topic,
        [(encode(_event(f"old-{k.decode()}")), k) for k in (b"a", b"b")],
    )
    start = max(r.timestamp for r in await read_topic(kafka_bootstrap, unique_topic)) + 1
    # The next records are written after `start` (the clock, nothing to be woken by).
    while time.time() * 1000 < start + 1:  # noqa: ASYNC110
        await asyncio.sleep(0.001)
    await produce(
        kafka_bootstrap,
        unique_topic,
        [(encode(_event(f"new-{k.decode()}")), k) for k in (b"a", b"b")],
    )

    monkeypatch.setenv(NEW_GROUP_START_ENV, str(start))
    async with running_consumer(kafka_bootstrap, fresh_database, unique_topic, handler):
        assert await wait_for(lambda: _async(len(seen) >= 2), within=30), seen
    assert sorted(seen) == ["new-a", "new-b"], seen

    # The group has committed now: a start time (even one in the future) no longer applies.
    await produce(kafka_bootstrap, unique_topic, [(encode(_event("later")), b"a")])
    monkeypatch.setenv(NEW_GROUP_START_ENV, str(start + 10**9))
    async with running_consumer(kafka_bootstrap, fresh_database, unique_topic, handler):
        assert await wait_for(lambda: _async("later" in seen), within=30), seen
    assert sorted(seen) == ["later", "new-a", "new-b"], seen


async def _async(value: bool) -> bool:
    return value

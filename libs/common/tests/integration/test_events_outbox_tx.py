"""Outbox writes share the caller's transaction; the relay publishes in order with headers."""

from __future__ import annotations

import asyncio
import gc
from datetime import timedelta

import pytest
from events_testkit import create_schema, fetchval, read_topic, wait_for
from sqlalchemy import text
from tts_common.db import create_engine, session_factory, session_scope
from tts_common.events import CloudEvent, decode, make_event
from tts_common.inbox import mark_seen, prune_inbox
from tts_common.kafka import ensure_topics, make_producer
from tts_common.outbox import OutboxRelay, add_event, add_events, run_relay

pytestmark = pytest.mark.integration


def _event(seq: int) -> CloudEvent:
    event = make_event(
        "shipment.deferred",
        "/test",
        f"o{seq % 7}",
        {"order_id": f"o{seq % 7}", "tracking_number": "T", "until": "2026-11-27T03:00:00Z"},
    )
    return event.model_copy(update={"data": {**event.data, "seq": seq}})


@pytest.mark.parametrize("count", [1, 10, 200], ids=["single", "insert", "copy"])
async def test_rolled_back_transaction_leaves_no_event(fresh_database: str, count: int) -> None:
    await create_schema(fresh_database)
    engine = create_engine(fresh_database)
    try:
        with pytest.raises(RuntimeError):
            # The outbox write is the first statement of the transaction: even
            # the COPY path must run inside it.
            async with session_scope(session_factory(engine)) as session:
                await add_events(session, [("t", "k", _event(i)) for i in range(count)])
                raise RuntimeError("business rule failed")
        assert await fetchval(fresh_database, "SELECT count(*) FROM outbox") == 0
        async with session_scope(session_factory(engine)) as session:
            await add_events(session, [("t", "k", _event(i)) for i in range(count)])
        assert await fetchval(fresh_database, "SELECT count(*) FROM outbox") == count
    finally:
        await engine.dispose()


async def test_event_id_must_be_a_uuid(fresh_database: str) -> None:
    await create_schema(fresh_database)
    engine = create_engine(fresh_database)
    try:
        event = _event(1).model_copy(update={"id": "not-a-uuid"})
        with pytest.raises(ValueError):
            async with session_scope(session_factory(engine)) as session:
                await add_event(session, "t", "k", event)
    finally:
        await engine.dispose()


async def test_relay_keeps_per_key_order_and_sends_headers(
    kafka_bootstrap: str, fresh_database: str, unique_topic: str
) -> None:
    await create_schema(fresh_database)
    await ensure_topics(kafka_bootstrap, [unique_topic])
    engine = create_engine(fresh_database)
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    try:
        factory = session_factory(engine)
        for start in range(0, 1000, 250):
            async with session_scope(factory) as session:
                events = [_event(i) for i in range(start, start + 250)]
                await add_events(session, [(unique_topic, e.subject, e) for e in events])
        async with session_scope(factory) as session:
            await add_event(session, unique_topic, None, _event(1000), {"x-origin": "test"})
        relay = OutboxRelay(engine, producer, batch_size=300, pipeline=2)
        sent = 0
        while (n := await relay.drain_once()) > 0:
            sent += n
        assert sent == 1001
        assert await fetchval(fresh_database, "SELECT count(*) FROM outbox") == 0
    finally:
        await producer.stop()
        await engine.dispose()

    records = await read_topic(kafka_bootstrap, unique_topic)
    assert len(records) == 1001
    seqs_by_key: dict[bytes | None, list[int]] = {}
    partition_of_key: dict[bytes | None, int] = {}
    for rec in sorted(records, key=lambda r: (r.partition, r.offset)):
        event = decode(rec.value)
        assert rec.key == (
            f"o{event.data['seq'] % 7}".encode() if event.data["seq"] < 1000 else None
        )
        headers = dict(rec.headers)
        assert headers["content-type"].startswith(b"application/cloudevents+json")
        assert headers["ce_type"] == b"shipment.deferred"
        seqs_by_key.setdefault(rec.key, []).append(event.data["seq"])
        if rec.key is not None:
            assert partition_of_key.setdefault(rec.key, rec.partition) == rec.partition
        else:
            assert headers["x-origin"] == b"test"
    for key, seqs in seqs_by_key.items():
        assert seqs == sorted(seqs), f"key {key!r} out of order"
    assert len(set(partition_of_key.values())) > 1  # keys spread over partitions


async def test_prune_inbox_forgets_only_old_entries(fresh_database: str) -> None:
    await create_schema(fresh_database)
    engine = create_engine(fresh_database)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO inbox (consumer_group, event_id, processed_at) VALUES"
                    " ('g', 'old', now() - interval '9 days'), ('g', 'new', now())"
                )
            )
        assert await prune_inbox(engine, timedelta(days=8)) == 1
        async with engine.connect() as conn:
            left = (await conn.execute(text("SELECT event_id FROM inbox"))).scalars().all()
        assert left == ["new"]
    finally:
        await engine.dispose()


async def test_mark_seen_returns_each_id_once_per_group(fresh_database: str) -> None:
    await create_schema(fresh_database)
    engine = create_engine(fresh_database)
    factory = session_factory(engine)
    try:
        async with session_scope(factory) as session:
            assert await mark_seen(session, "g", ["a", "b", "a"]) == {"a", "b"}
        with pytest.raises(RuntimeError):
            async with session_scope(factory) as session:
                assert await mark_seen(session, "g", ["b", "c"]) == {"c"}
                raise RuntimeError("handler failed")  # "c" is not marked after all
        async with session_scope(factory) as session:
            assert await mark_seen(session, "g", ["a", "c"]) == {"c"}
            assert await mark_seen(session, "other", ["a"]) == {"a"}  # groups are apart
    finally:
        await engine.dispose()


async def test_run_relay_publishes_until_stopped(
    kafka_bootstrap: str, fresh_database: str, unique_topic: str
) -> None:
    await create_schema(fresh_database)
    await ensure_topics(kafka_bootstrap, [unique_topic])
    engine = create_engine(fresh_database)
    try:
        async with session_scope(session_factory(engine)) as session:
            await add_events(session, [(unique_topic, f"o{i}", _event(i)) for i in range(30)])
    finally:
        await engine.dispose()
    stop = asyncio.Event()
    relay = asyncio.create_task(
        run_relay(fresh_database, kafka_bootstrap, batch_size=7, poll_interval=0.05, stop=stop)
    )

    async def empty() -> bool:
        return await fetchval(fresh_database, "SELECT count(*) FROM outbox") == 0

    try:
        assert await wait_for(empty, within=60)
    finally:
        stop.set()
        published = await asyncio.wait_for(relay, 30)
        gc.unfreeze()  # run_relay froze the objects of this (test) process
    assert published == 30
    assert len(await read_topic(kafka_bootstrap, unique_topic)) == 30

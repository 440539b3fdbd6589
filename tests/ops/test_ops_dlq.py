"""scripts/dlq.py on real Kafka: a dead-lettered record is listed with its reason and replayed
to its original topic with its own key, value and headers (the DLQ's dropped); records of
another consumer group stay where they are."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "scripts/dlq.py"


def dead_header(group: str, topic: str, offset: int) -> list[tuple[str, bytes]]:
    return [
        ("ce_type", b"shipment.created"),
        ("error.class", b"ValidationError"),
        ("error.message", b"unknown carrier"),
        ("error.retriable", b"false"),
        ("original.topic", topic.encode()),
        ("original.partition", b"0"),
        ("original.offset", str(offset).encode()),
        ("consumer.group", group.encode()),
    ]


async def seed(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(t, num_partitions=1, replication_factor=1) for t in (topic, topic + ".dlq")]
        )
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for i, group in enumerate(("notifier", "other", "notifier")):
            await producer.send_and_wait(
                topic + ".dlq",
                f'{{"n": {i}}}'.encode(),
                key=f"order-{i}".encode(),
                headers=dead_header(group, topic, 10 + i),
            )
    finally:
        await producer.stop()


async def replayed(
    bootstrap: str, topic: str, n: int
) -> list[tuple[bytes, bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        out = []
        while len(out) < n:
            batch = await consumer.getmany(tp, timeout_ms=10_000)
            assert batch, f"only {len(out)} of {n} records came back"
            for r in batch[tp]:
                out.append((r.key, r.value, dict(r.headers)))
        assert (await consumer.end_offsets([tp]))[tp] == n, "more records than replayed"
        return out
    finally:
        await consumer.stop()


def dlq(bootstrap: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--bootstrap", bootstrap],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_list_then_replay_one_groups_dead_letters(kafka_bootstrap: str, unique_topic: str) -> None:
    asyncio.run(seed(kafka_bootstrap, unique_topic))
    listed = dlq(kafka_bootstrap, "list", unique_topic + ".dlq")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["group"], r["key"], r["original"]) for r in rows] == [
        ("notifier", "order-0", "0@10"),
        ("other", "order-1", "0@11"),
        ("notifier", "order-2", "0@12"),
    ]
    assert rows[0]["error"] == "ValidationError" and rows[0]["message"] == "unknown carrier"

    refused = dlq(kafka_bootstrap, "replay", unique_topic + ".dlq")
    assert refused.returncode != 0 and "--group" in refused.stderr

    done = dlq(kafka_bootstrap, "replay", unique_topic + ".dlq", "--group", "notifier")
    assert done.returncode == 0, done.stderr
    assert "replayed 2 record(s)" in done.stderr
    back = asyncio.run(replayed(kafka_bootstrap, unique_topic, 2))
    assert [(k, v) for k, v, _ in back] == [(b"order-0", b'{"n": 0}'), (b"order-2", b'{"n": 2}')]
    for _, _, headers in back:
        assert headers == {"ce_type": b"shipment.created"}, "the DLQ's headers are dropped"

"""Kafka client factories and topic bootstrap.

Defaults that matter (aiokafka's own defaults are unsafe for an outbox):
producers are idempotent with ``acks="all"``; consumers never auto-commit.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tts_common.events import ALL_TOPICS, dlq_topic

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 6
_TOPIC_ALREADY_EXISTS = 36


def make_producer(bootstrap: str, **kw: Any) -> AIOKafkaProducer:
    """An idempotent producer (acks=all), batched for throughput. Call ``start()``."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "enable_idempotence": True,
        "acks": "all",
        # aiokafka keeps one request in flight per broker; a short linger and
        # large batches keep that request full instead of sending many tiny ones.
        "linger_ms": 5,
        "max_batch_size": 512 * 1024,
        "max_request_size": 4 * 1024 * 1024,
        "request_timeout_ms": 30_000,
    }
    options.update(kw)
    return AIOKafkaProducer(**options)


def make_consumer(bootstrap: str, group_id: str, *topics: str, **kw: Any) -> AIOKafkaConsumer:
    """A group consumer with manual commits, starting from the earliest offset.

    ``topics`` may be empty when the caller subscribes itself (e.g. with a
    rebalance listener). Call ``start()``.
    """
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        # A new group must see events written before it first joined.
        "auto_offset_reset": "earliest",
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "fetch_max_wait_ms": 100,
    }
    options.update(kw)
    return AIOKafkaConsumer(*topics, **options)


NEW_GROUP_START_ENV = "TTS_KAFKA_NEW_GROUP_START_MS"


def new_group_start_ms() -> int | None:
    """Where a consumer group with no committed offset starts, when not at the earliest:
    the first record written at or after this time (epoch ms, ``TTS_KAFKA_NEW_GROUP_START_MS``).

    Unset in production (a new group must see what was written before it first joined). The
    test plugin (tts_common.testing.fixtures) sets it to the test session's start, so a
    session on a long-lived broker does not read every earlier session's events first; what
    the session itself writes is always read.
    """
    raw = os.environ.get(NEW_GROUP_START_ENV, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{NEW_GROUP_START_ENV} must be epoch milliseconds, got {raw!r}") from None


def make_admin(bootstrap: str, **kw: Any) -> AIOKafkaAdminClient:
    """An admin client. Call ``start()`` and ``close()``."""
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kw)


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[str] = ALL_TOPICS,
    partitions: int = DEFAULT_PARTITIONS,
    *,
    replication_factor: int = 1,
    with_dlq: bool = True,
) -> list[str]:
    """Create ``topics`` (and their ``.dlq`` twins) if missing; return the ones created.

    Idempotent: topics that already exist are left as they are.
    """
    names = list(dict.fromkeys(topics))
    if with_dlq:
        names += [dlq_topic(t) for t in names if not t.endswith(".dlq")]
    admin = make_admin(bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if not missing:
            await _wait_until_led(admin, names)
            return []
        response = await admin.create_topics(
            [NewTopic(n, partitions, replication_factor) for n in missing]
        )
        created = []
        for err in response.topic_errors:
            name, code = err[0], err[1]
            if code == 0:
                created.append(name)
            elif code != _TOPIC_ALREADY_EXISTS:  # lost a race with another creator: fine
                message = err[2] if len(err) > 2 else ""
                raise RuntimeError(f"creating topic {name} failed: error {code} {message}")
        log.info("topics created", extra={"topics": created, "partitions": partitions})
        await _wait_until_led(admin, names)
        return created
    finally:
        await admin.close()


async def _wait_until_led(
    admin: AIOKafkaAdminClient, names: list[str], limit_s: float = 30.0
) -> None:
    """Return once every topic describes cleanly with a leader on each partition.

    A freshly created topic is listed before its partitions have leaders; producing to it
    or describing it in that window fails, so the bootstrap is not done until then.
    """
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        described = await admin.describe_topics(names)
        pending = [
            t["topic"]
            for t in described
            if t["error_code"] != 0
            or not t["partitions"]
            or any(p["leader"] < 0 for p in t["partitions"])
        ]
        if not pending:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"topics without leaders after {limit_s:.0f}s: {pending}")
        await asyncio.sleep(0.2)


async def partition_count(bootstrap: str, topic: str) -> int:
    """Number of partitions of ``topic`` according to the cluster metadata (0 if absent)."""
    admin = make_admin(bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    for t in described:
        if t["topic"] == topic and t["error_code"] == 0:
            return len(t["partitions"])
    return 0

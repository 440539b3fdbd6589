"""Watch a topic from "now" on: the events a test's action publishes, nothing older.

``async with TopicWatcher(bootstrap, topic) as watch`` assigns every partition of ``topic`` (no
consumer group, nothing committed) at its current end, so events published before the watcher
started are never seen; ``await watch.until(check)`` keeps reading until ``check(events)``
holds — a condition, not a sleep — or fails after ``within`` seconds with what it saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from tts_common.events import CloudEvent, decode


class TopicWatcher:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.events: list[CloudEvent] = []
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=100,
        )

    async def __aenter__(self) -> TopicWatcher:
        await self._consumer.start()
        partitions: set[int] | None = None
        for _ in range(100):  # the topic may be created by the app under test a moment later
            partitions = self._consumer.partitions_for_topic(self.topic)
            if partitions:
                break
            # aiokafka has no public call that refreshes the consumer's own metadata
            await self._consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        if not partitions:
            await self._consumer.stop()
            raise RuntimeError(f"topic {self.topic} has no partitions")
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_end(*assigned)
        for tp in assigned:  # pin the end offsets now, before the test acts
            await self._consumer.position(tp)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._consumer.stop()

    async def until(
        self, check: Callable[[list[CloudEvent]], bool], within: float = 60.0
    ) -> list[CloudEvent]:
        """Read until ``check(self.events)`` holds; the events seen so far."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not check(self.events):
            if loop.time() > deadline:
                raise AssertionError(
                    f"{self.topic}: condition not met within {within:.0f} s; saw "
                    f"{[(e.type, e.subject) for e in self.events][:50]}"
                )
            batch = await self._consumer.getmany(timeout_ms=200, max_records=1000)
            for records in batch.values():
                self.events.extend(decode(r.value) for r in records)
        return self.events

    def of(self, **where: Any) -> list[CloudEvent]:
        """The events whose ``data`` has these field values."""
        return [e for e in self.events if all(e.data.get(k) == v for k, v in where.items())]

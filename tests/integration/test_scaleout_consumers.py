"""Scale-out: three `catalog-sync consume` processes in one consumer group over the 6
partitions of `tiktok.product-changed.v1` while product upserts flow; one is killed (SIGKILL)
mid-stream. Every event's effect happens exactly once and in order: each product holds its
last version, and the group's inbox holds every event id once (docs/architecture.md "The
consumer seam": the inbox insert and the effect commit together, the offset after).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import TopicPartition
from tts_common.events import PRODUCT_CHANGED, encode, make_event
from tts_common.kafka import ensure_topics, make_consumer, make_producer
from tts_common.migrate import migrate_async
from tts_common.testing.infra import libpq_dsn

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent
PRODUCTS = 600
VERSIONS = 3  # each product is upserted three times; the last version must win
GROUP = "catalog-sync"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Member:
    """One `catalog-sync consume` process (health and metrics on its own port)."""

    def __init__(self, env: dict[str, str], log: Path, *, api: bool = False) -> None:
        self.port = free_port()
        self.log = log
        args = [str(BIN / "catalog-sync"), "serve", "--no-workers"] if api else None
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                args or [str(BIN / "catalog-sync"), "consume"],
                env=env | {"TTS_HTTP_PORT": str(self.port)},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        if self.popen.poll() is not None:
            raise AssertionError(f"exited {self.popen.returncode}: {self.log.read_text()[-2000:]}")
        try:
            return httpx.get(self.url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def assigned(self) -> bool:
        """The member holds partitions of the product topic (the group has balanced)."""
        text = self.log.read_text(errors="replace")
        return "partitions assigned" in text and PRODUCT_CHANGED in text

    def kill(self) -> None:
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()


def until(what: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


async def skip_history(bootstrap: str, group: str, topic: str) -> None:
    """Commit the group's offsets at the topic's end: only this test's events are read."""
    await ensure_topics(bootstrap)
    consumer = make_consumer(bootstrap, group)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        assert len(parts) == 6
        consumer.assign(parts)
        await consumer.commit(dict(await consumer.end_offsets(parts)))
    finally:
        await consumer.stop()


async def publish(bootstrap: str, feed_id: str, versions: range) -> list[str]:
    """Every product's upserts for `versions`, keyed by product id; the event ids."""
    producer = make_producer(bootstrap)
    await producer.start()
    ids = []
    try:
        for version in versions:
            for i in range(PRODUCTS):
                pid = f"scale-{i:05d}"
                event = make_event(
                    "product.upserted",
                    "e2e/scaleout",
                    pid,
                    {
                        "feed_id": feed_id,
                        "product_id": pid,
                        "parent_id": pid,
                        "attributes": {"product_name": f"Product {i} v{version}", "v": version},
                    },
                )
                ids.append(event.id)
                await producer.send(PRODUCT_CHANGED, encode(event), key=pid.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return ids


async def effects(database: str, source_id: str, group: str) -> tuple[dict[str, str], set[str]]:
    conn = await asyncpg.connect(libpq_dsn(database), timeout=30)
    try:
        rows = await conn.fetch(
            "SELECT product_id, data->>'v' AS v FROM source_products WHERE source_id = $1",
            source_id,
        )
        seen = await conn.fetch("SELECT event_id FROM inbox WHERE consumer_group = $1", group)
    finally:
        await conn.close()
    return {r["product_id"]: r["v"] for r in rows}, {r["event_id"] for r in seen}


@pytest.fixture
def members(tmp_path: Path) -> Iterator[list[Member]]:
    started: list[Member] = []
    yield started
    for m in started:
        m.stop()


async def test_three_consumers_one_killed_every_effect_once(
    fresh_database: str, kafka_bootstrap: str, tmp_path: Path, members: list[Member]
) -> None:
    from catalog_sync.cli import MIGRATIONS

    await migrate_async(fresh_database, MIGRATIONS, "catalog-sync")
    prefix = f"{os.environ.get('TTS_CONSUMER_GROUP_PREFIX', 'test-')}{uuid.uuid4().hex[:8]}-"
    group = prefix + GROUP
    await skip_history(kafka_bootstrap, group, PRODUCT_CHANGED)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTS_")} | {
        "TTS_DATABASE_URL": fresh_database,
        "TTS_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TTS_CONSUMER_GROUP_PREFIX": prefix,
        "PYTHONUNBUFFERED": "1",
    }
    api = Member(env, tmp_path / "api.log", api=True)  # API only: makes the feed
    members.append(api)
    await asyncio.to_thread(until, "the API", api.ready, 90)
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(
            api.url + "/v1/feeds",
            json={"name": "scaleout", "market": "US"},
            headers={"Authorization": "Bearer dev-api-key"},
        )
    assert r.status_code == 201, r.text
    feed_id, source_id = r.json()["id"], r.json()["source_id"]

    consumers = [Member(env, tmp_path / f"consumer-{i}.log") for i in range(3)]
    members.extend(consumers)
    for m in consumers:
        await asyncio.to_thread(until, "a consumer", m.ready, 90)
    await asyncio.to_thread(
        until, "the group to balance", lambda: all(m.assigned() for m in consumers), 90
    )

    first = await publish(kafka_bootstrap, feed_id, range(1, 2))

    async def progressed() -> bool:
        _, seen = await effects(fresh_database, source_id, group)
        return len(seen) >= PRODUCTS // 3

    deadline = time.monotonic() + 120
    while not await progressed():
        assert time.monotonic() < deadline, "no progress before the kill"
        await asyncio.sleep(0.2)
    consumers[1].kill()  # mid-stream: its uncommitted records go to the others
    rest = await publish(kafka_bootstrap, feed_id, range(2, VERSIONS + 1))
    ids = set(first + rest)
    assert len(ids) == PRODUCTS * VERSIONS

    deadline = time.monotonic() + 180
    while True:
        products, seen = await effects(fresh_database, source_id, group)
        if seen >= ids:
            break
        assert time.monotonic() < deadline, f"{len(ids - seen)} events never applied"
        await asyncio.sleep(0.5)

    # Every event applied (the inbox's key allows each id once). Other tests' events on the
    # shared topic may be in the group's inbox too (dead-lettered: no such feed here).
    assert ids <= seen
    assert len(products) == PRODUCTS
    assert set(products.values()) == {str(VERSIONS)}  # in order: the last version won
    assert consumers[0].popen.poll() is None and consumers[2].popen.poll() is None
    # The survivors took the killed member's partitions.
    survivors = "".join(m.log.read_text(errors="replace") for m in (consumers[0], consumers[2]))
    assert survivors.count("partitions assigned") >= 4

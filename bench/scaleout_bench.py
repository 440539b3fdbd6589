"""Scale-out benchmark: catalog-sync's product-changed consumers, 1 process vs 3 in one group.

For each process count: a new database, `catalog-sync serve --no-workers` to make the feed,
N `catalog-sync consume` processes in one consumer group over the topic's 6 partitions, then
EVENTS product upserts (keyed by product id) published at once; measured from the first send
until the group's inbox holds every event id (each committed with its effect). The members
and helpers are those of tests/integration/test_scaleout_consumers.py, which proves the same
setup exactly-once under a SIGKILL.

    uv run python bench/scaleout_bench.py                 # 20,000 events
    uv run python bench/scaleout_bench.py --events 6000   # or TTS_BENCH_SCALEOUT_EVENTS

Writes bench/results/scaleout.json. Needs `eval "$(deploy/local/infra.sh env)"`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "scaleout.json"
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import test_scaleout_consumers as kit  # noqa: E402 (the members and helpers of the test)
from tts_common.events import PRODUCT_CHANGED, encode, make_event  # noqa: E402
from tts_common.kafka import make_producer  # noqa: E402
from tts_common.migrate import migrate_async  # noqa: E402
from tts_common.testing.infra import libpq_dsn  # noqa: E402


async def publish(bootstrap: str, feed_id: str, events: int) -> set[str]:
    producer = make_producer(bootstrap)
    await producer.start()
    ids = set()
    try:
        for i in range(events):
            pid = f"bench-{i % 5000:05d}-{i // 5000}"
            event = make_event(
                "product.upserted",
                "bench/scaleout",
                pid,
                {
                    "feed_id": feed_id,
                    "product_id": pid,
                    "parent_id": pid,
                    "attributes": {"product_name": f"Bench product {i}", "price": "9.99"},
                },
            )
            ids.add(event.id)
            await producer.send(PRODUCT_CHANGED, encode(event), key=pid.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return ids


async def applied(database: str, group: str) -> int:
    conn = await asyncpg.connect(libpq_dsn(database), timeout=30)
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM inbox WHERE consumer_group = $1", group)
        )
    finally:
        await conn.close()


async def one(
    processes: int, events: int, server: str, bootstrap: str, logs: Path
) -> dict[str, Any]:
    name = f"bench_scaleout_{processes}_{uuid.uuid4().hex[:8]}"
    database = make_url(server).set(database=name).render_as_string(hide_password=False)
    from catalog_sync.cli import MIGRATIONS

    await migrate_async(database, MIGRATIONS, "catalog-sync")
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    group = prefix + kit.GROUP
    await kit.skip_history(bootstrap, group, PRODUCT_CHANGED)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTS_")} | {
        "TTS_DATABASE_URL": database,
        "TTS_KAFKA_BOOTSTRAP": bootstrap,
        "TTS_CONSUMER_GROUP_PREFIX": prefix,
        "TTS_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    members: list[kit.Member] = []
    try:
        api = kit.Member(env, logs / f"api-{processes}.log", api=True)
        members.append(api)
        await asyncio.to_thread(kit.until, "the API", api.ready, 90)
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(
                api.url + "/v1/feeds",
                json={"name": "bench", "market": "US"},
                headers={"Authorization": "Bearer dev-api-key"},
            )
        r.raise_for_status()
        feed_id = r.json()["id"]
        # INFO for the consumers: their "partitions assigned" line says the group balanced.
        consumers = [
            kit.Member(env | {"TTS_LOG_LEVEL": "INFO"}, logs / f"consumer-{processes}-{i}.log")
            for i in range(processes)
        ]
        members.extend(consumers)
        for m in consumers:
            await asyncio.to_thread(kit.until, "a consumer", m.ready, 90)
        await asyncio.to_thread(
            kit.until, "the group to balance", lambda: all(m.assigned() for m in consumers), 90
        )
        started = time.perf_counter()
        ids = await publish(bootstrap, feed_id, events)
        published = time.perf_counter() - started
        while True:  # the count is the condition: the inbox commits with each effect
            if await applied(database, group) >= len(ids):
                break
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        for m in members:
            m.stop()
        admin = await asyncpg.connect(libpq_dsn(server), timeout=30)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
    return {
        "processes": processes,
        "events": events,
        "publish_s": round(published, 2),
        "seconds": round(elapsed, 2),
        "events_per_s": round(events / elapsed),
    }


async def run(events: int) -> dict[str, Any]:
    server = os.environ.get(
        "TTS_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:55432/postgres"
    )
    bootstrap = os.environ.get("TTS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    with tempfile.TemporaryDirectory(prefix="scaleout-bench-") as tmp:
        rows = [await one(n, events, server, bootstrap, Path(tmp)) for n in (1, 3)]
    return {
        "benchmark": "scaleout",
        "what": "catalog-sync product.upserted consumers: inbox + upsert per event, 6 partitions",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "results": rows,
        "speedup_3_vs_1": round(rows[1]["events_per_s"] / rows[0]["events_per_s"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=int(os.environ.get("TTS_BENCH_SCALEOUT_EVENTS", "20000"))
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = asyncio.run(run(args.events))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

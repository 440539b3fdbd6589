"""Event fabric benchmark: outbox → Kafka → consumer-with-inbox, beside Kafka's own tool.

Stages, all against the real Kafka and PostgreSQL of ``deploy/local/infra.sh``:

1. write   — N events (≈1 KB each) inserted into the outbox in business
             transactions of ``--tx-size`` events (each with a business row);
2. e2e     — the relay (``tts_common.outbox.run_relay``, the body of
             ``<service> relay``, in its own process) and a
             ``ConsumerRunner`` (inbox + one effect row per event, batch mode)
             run at the same time; measured from the relay's start until the
             consumer committed the last effect. Per-stage
             rates: relay = time until the outbox is empty, consume = time
             until the last effect;
3. kafka   — ``org.apache.kafka.tools.ProducerPerformance`` with the same record
             count and size, acks=all, into a topic with the same partitions.

    uv run python bench/events_bench.py                 # 100,000 events
    uv run python bench/events_bench.py --events 20000  # or TTS_BENCH_EVENTS=20000

Writes ``bench/results/events.json``. Needs ``eval "$(deploy/local/infra.sh env)"``
(or the defaults below) and the Kafka jars from ``deploy/local/kafka.sh fetch``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka import ConsumerRecord
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.consumer import ConsumerRunner
from tts_common.db import create_engine, session_factory, session_scope
from tts_common.events import CloudEvent, encode, make_event
from tts_common.kafka import ensure_topics
from tts_common.outbox import OUTBOX_INBOX_DDL, add_events, outbox_size

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "events.json"
KAFKA_LIBS = ROOT / ".local" / "kafka" / "libs"
DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:55432/postgres"
DEFAULT_KAFKA = "127.0.0.1:9092"
PARTITIONS = 6
# The standalone relay, as ``<service> relay`` runs it: argv = database URL, bootstrap.
RELAY_SCRIPT = """
import asyncio, logging, sys
from tts_common.outbox import run_relay
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
asyncio.run(run_relay(sys.argv[1], sys.argv[2], batch_size=2000, pipeline=3, poll_interval=0.05))
"""

BUSINESS_DDL = """
CREATE TABLE widgets (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE effects (event_id TEXT NOT NULL, parent_id TEXT NOT NULL);
"""


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _admin_sql(server_url: str, sql: str) -> None:
    conn = await asyncpg.connect(_dsn(server_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _event(seq: int, filler: str) -> CloudEvent:
    return make_event(
        "product.upserted",
        "/bench",
        f"feed-1:p{seq % 5000}",
        {
            "feed_id": "feed-1",
            "product_id": f"p{seq}",
            "parent_id": f"p{seq % 5000}",
            "attributes": {"product_name": f"Product {seq}", "description": filler},
        },
    )


def _filler_for(size: int) -> str:
    base = len(encode(_event(50_000, "")))
    return "x" * max(0, size - base)


async def write_stage(factory: Any, topic: str, total: int, tx_size: int, filler: str) -> float:
    started = time.perf_counter()
    for start in range(0, total, tx_size):
        async with session_scope(factory) as session:
            n = min(tx_size, total - start)
            await session.execute(
                text("INSERT INTO widgets (name) SELECT 'w' || g FROM generate_series(1, :n) g"),
                {"n": n},
            )
            events = [_event(seq, filler) for seq in range(start, start + n)]
            await add_events(session, [(topic, e.data["parent_id"], e) for e in events])
    return time.perf_counter() - started


async def effects_batch(
    session: AsyncSession, items: list[tuple[CloudEvent, ConsumerRecord[bytes, bytes]]]
) -> None:
    # Set-based: one statement with two array parameters for the whole batch.
    await session.execute(
        text(
            "INSERT INTO effects (event_id, parent_id)"
            " SELECT unnest(CAST(:e AS text[])), unnest(CAST(:p AS text[]))"
        ),
        {"e": [ev.id for ev, _ in items], "p": [ev.data["parent_id"] for ev, _ in items]},
    )


async def e2e_stage(
    db_url: str, bootstrap: str, factory: Any, engine: Any, topic: str, total: int
) -> dict[str, float]:
    runner = ConsumerRunner(
        bootstrap,
        f"bench-{uuid.uuid4().hex[:8]}",
        [topic],
        factory,
        batch_handler=effects_batch,
        max_records=2000,
        # Throughput over latency: let the broker gather up to 512 KB (or wait
        # 100 ms) per fetch, so each poll round is one large transaction.
        consumer_options={"fetch_min_bytes": 512 * 1024, "fetch_max_wait_ms": 100},
    )
    consumer_task = asyncio.create_task(runner.run())
    await runner.wait_started()
    gc.freeze()  # as a worker's entrypoint does after start-up (see tts_common.consumer)
    log_path = Path(tempfile.gettempdir()) / f"tts-events-bench-relay-{uuid.uuid4().hex[:6]}.log"
    with log_path.open("wb") as log:
        relay = await asyncio.create_subprocess_exec(
            sys.executable, "-c", RELAY_SCRIPT, db_url, bootstrap,
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    # The clock starts when the relay process is up (a deployed relay is long
    # running; interpreter start-up is not part of the event flow).
    ready_deadline = time.perf_counter() + 60
    while b"outbox relay started" not in log_path.read_bytes():
        if relay.returncode is not None or time.perf_counter() > ready_deadline:
            raise RuntimeError(f"relay did not start: {log_path.read_text()[-2000:]}")
        await asyncio.sleep(0.005)
    started = time.perf_counter()
    self_cpu = _self_cpu()
    relay_cpu = _proc_cpu(relay.pid)
    relay_done = consume_done = None
    deadline = started + 600
    log_path.unlink(missing_ok=True)
    try:
        while time.perf_counter() < deadline and consume_done is None:
            await asyncio.sleep(0.05)
            now = time.perf_counter()
            if relay_done is None and await outbox_size(engine) == 0:
                relay_done = now
            if runner.stats.processed >= total:
                consume_done = now
            if consumer_task.done():
                consumer_task.result()
        consumer_cpu = _self_cpu() - self_cpu
        relay_cpu = _proc_cpu(relay.pid) - relay_cpu
    finally:
        relay.terminate()
        await asyncio.wait_for(relay.wait(), 30)
        runner.stop()
        await consumer_task
    if consume_done is None or relay_done is None:
        raise RuntimeError(f"pipeline did not finish: {runner.stats}")
    return {
        "seconds": consume_done - started,
        "relay_seconds": relay_done - started,
        # CPU spent by our two processes only (not Kafka's or PostgreSQL's):
        # a measure of the code's cost that other load on the machine does not skew.
        "relay_cpu_us_per_event": relay_cpu / total * 1e6,
        "consumer_cpu_us_per_event": consumer_cpu / total * 1e6,
        "duplicates": runner.stats.duplicates,
        "dead_lettered": runner.stats.dead_lettered,
    }


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def kafka_tool(bootstrap: str, topic: str, total: int, size: int) -> dict[str, Any]:
    if not any(KAFKA_LIBS.glob("kafka-tools-*.jar")):
        raise SystemExit(f"no Kafka tools jar in {KAFKA_LIBS}: run deploy/local/kafka.sh fetch")
    cmd = [
        "java", "-Xmx512m", "-cp", f"{KAFKA_LIBS}/*",
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic", topic, "--num-records", str(total), "--record-size", str(size),
        "--throughput", "-1",
        "--producer-props", f"bootstrap.servers={bootstrap}", "acks=all",
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True).stdout
    last = [line for line in out.splitlines() if "records sent" in line][-1]
    match = re.search(r"([\d.]+) records/sec \(([\d.]+) MB/sec\)", last)
    if not match:
        raise RuntimeError(f"unexpected ProducerPerformance output: {last}")
    return {
        "records_per_s": float(match.group(1)),
        "mb_per_s": float(match.group(2)),
        "summary": last.strip(),
    }


def machine() -> dict[str, Any]:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        # Other work on the machine during the run skews every number above.
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    server = os.environ.get("TTS_DATABASE_URL", DEFAULT_DB)
    bootstrap = os.environ.get("TTS_KAFKA_BOOTSTRAP", DEFAULT_KAFKA)
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    db_name = f"bench_events_{stamp}_{uuid.uuid4().hex[:6]}"
    db_url = _with_database(server, db_name)
    topic = f"bench.events.{stamp}.{uuid.uuid4().hex[:6]}"
    await _admin_sql(server, f'CREATE DATABASE "{db_name}"')
    engine = create_engine(db_url, pool_size=4)
    try:
        await _admin_sql(db_url, OUTBOX_INBOX_DDL + BUSINESS_DDL)
        await ensure_topics(bootstrap, [topic], partitions=PARTITIONS)
        factory = session_factory(engine)
        filler = _filler_for(args.record_size)
        sample = [0, args.events // 2, args.events - 1]
        record_size = round(sum(len(encode(_event(i, filler))) for i in sample) / len(sample))

        write_s = await write_stage(factory, topic, args.events, args.tx_size, filler)
        print(f"write: {args.events / write_s:,.0f} events/s", file=sys.stderr)
        e2e = await e2e_stage(db_url, bootstrap, factory, engine, topic, args.events)
        e2e_rate = args.events / e2e["seconds"]
        print(f"end to end: {e2e_rate:,.0f} events/s", file=sys.stderr)
        async with engine.connect() as conn:
            effects = (
                await conn.execute(text("SELECT count(DISTINCT event_id) FROM effects"))
            ).scalar_one()
        if effects != args.events:
            raise RuntimeError(f"{effects} effects for {args.events} events")
    finally:
        await engine.dispose()
        await _admin_sql(server, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')

    tool_topic = topic + ".tool"
    await ensure_topics(bootstrap, [tool_topic], partitions=PARTITIONS, with_dlq=False)
    tool = kafka_tool(bootstrap, tool_topic, args.events, record_size)
    print(f"kafka ProducerPerformance: {tool['records_per_s']:,.0f} records/s", file=sys.stderr)
    return {
        "benchmark": "outbox -> kafka -> consumer with inbox",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "events": args.events,
        "record_size_bytes": record_size,
        "partitions": PARTITIONS,
        "end_to_end_events_per_s": round(e2e_rate),
        "target_events_per_s": 20_000,
        "meets_target": e2e_rate >= 20_000,
        "stages": {
            "write_outbox_events_per_s": round(args.events / write_s),
            "relay_events_per_s": round(args.events / e2e["relay_seconds"]),
            "consume_events_per_s": round(args.events / e2e["seconds"]),
            "write_tx_size": args.tx_size,
        },
        "pipeline": {k: round(v, 3) if isinstance(v, float) else v for k, v in e2e.items()},
        "kafka_producer_performance": tool,
        "ratio_end_to_end_to_kafka_tool": round(e2e_rate / tool["records_per_s"], 3),
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=int(os.environ.get("TTS_BENCH_EVENTS", "100000"))
    )
    parser.add_argument("--record-size", type=int, default=1024)
    parser.add_argument("--tx-size", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

"""order-ingest end to end, every process real: webhooks, Kafka latency, a backfill, memory.

Starts the TikTok sandbox (its own process, launched by this script with `--serve-sandbox`:
the mug catalogue installed and the backfill's orders placed in its store before it serves),
the auth-broker (`auth_broker.cli serve`, own database) and `order-ingest serve` (own
database, real Kafka, its own consumer-group prefix), connects the US shop through the
sandbox's OAuth pages and creates one order import, then measures:

(a) **backfill** — the import's first pass walks the sandbox's 100,000 orders ("Get Order
    List 202309", 100 a page, ascending `update_time`). The sandbox's limit is a token bucket
    per (app, shop, operation), here `BACKFILL_QPS` (2 calls/s: a search over 100,000 orders
    costs the sandbox ~0.3 s, so this is a limit it can serve itself). The sustained call
    rate is taken from the sandbox's request log (arrival times) over the middle 90 % of the
    calls; target >= 90 % of the limit. Orders/s and the time until the outbox is drained
    (every `order.received` on Kafka) are recorded beside it.
(b) **webhooks** — the limit raised to 1,000 calls/s; `WEBHOOKS` new orders placed in the
    sandbox, then one signed `ORDER_STATUS_CHANGE` webhook each ("TikTok Shop webhooks
    overview": `Authorization` = hex HMAC-SHA256(app_secret, app_key + body)) POSTed to
    `/v1/webhooks/tiktok` at 200/s on a fixed schedule (open loop: a slow answer does not
    slow the sender). Acknowledgement latency = send to response, p50 / p99; target p99 <=
    50 ms. Webhook -> `order.received` on Kafka = send time to the event's arrival at a
    consumer of `tiktok.order-received.v1` in this process, p50 / p99; target p99 <= 500 ms.
(c) **memory** — order-ingest's peak RSS (`VmHWM`) and the peak `VmRSS` sampled per phase.

    eval "$(deploy/local/infra.sh env)"
    uv run --no-sync python bench/orders_bench.py            # full sizes, ~12 min
    uv run --no-sync python bench/orders_bench.py --quick    # small sizes, no result file
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from auth_broker.testing import approve_in_sandbox, broker_process, free_port, settings_env
from tts_common.events import ORDER_RECEIVED, decode
from tts_common.testing.infra import database_url, libpq_dsn, new_database_name

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "orders.json"
DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:55432/postgres"
DEFAULT_KAFKA = "127.0.0.1:9092"
API = {"Authorization": "Bearer dev-api-key"}
BROKER_ADMIN = {"Authorization": "Bearer dev-admin-key"}
SERVICE_SECRET = "orders-bench-credential-0123456789"
APP_KEY = "6a7sbx0dev1"  # the sandbox's dev app (public dev values)
APP_SECRET = "sandbox-dev-app-secret-0123456789abcdef"
MUG_RED = "1729592969712207012"
SEARCH = "POST /order/202309/orders/search"

BACKFILL_ORDERS = 100_000
BACKFILL_QPS = 2.0
WEBHOOKS = 3000
WEBHOOK_RATE = 200.0
OPEN_QPS = 1000.0
TARGET_ACK_P99_MS = 50.0
TARGET_KAFKA_P99_MS = 500.0
TARGET_RATE_SHARE = 0.90


# --- the sandbox process (this script with --serve-sandbox) ---------------------------------


def serve_sandbox(redirect_url: str, orders: int) -> None:
    """The sandbox with `orders` aged orders placed, served until stdin closes.

    Commands on stdin, one per line, each answered with one JSON line on stdout:
    `qps <calls/s>` (the rate limit of every operation), `place <n>` (n new paid orders;
    answers their ids), `quit`.
    """
    import random

    from tiktok_sandbox.seed import US_SHOP_ID
    from tiktok_sandbox.testing import install_mug_catalog, run_sandbox

    statuses = ("AWAITING_SHIPMENT", "AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED",
                "COMPLETED", "CANCELLED")  # fmt: skip
    with run_sandbox(qps=OPEN_QPS, redirect_url=redirect_url) as sb:
        install_mug_catalog(sb)
        store = sb.state.orders
        shop = sb.state.shop(US_SHOP_ID)
        rng = random.Random(7)
        now = int(sb.state.clock.now_int())
        for n in range(orders):
            rec = store.place(shop, {"line_items": [{"sku_id": MUG_RED}], "paid": True})
            with sb.state.lock:
                created = now - rng.randint(2 * 3600, 30 * 86400)
                rec.doc.update(
                    status=statuses[n % len(statuses)],
                    create_time=created,
                    paid_time=created,
                    update_time=created + rng.randint(0, now - created),
                    is_on_hold_order=False,
                )
                store._on_hold.discard(rec.doc["id"])
        print(orjson.dumps({"base_url": sb.base_url}).decode(), flush=True)
        for line in sys.stdin:
            command, _, arg = line.strip().partition(" ")
            if command == "qps":
                sb.state.ratelimiter.set_qps(float(arg))
                print(orjson.dumps({"qps": float(arg)}).decode(), flush=True)
            elif command == "place":
                ids = [
                    store.place(shop, {"line_items": [{"sku_id": MUG_RED}], "paid": True}).doc["id"]
                    for _ in range(int(arg))
                ]
                print(orjson.dumps({"ids": ids}).decode(), flush=True)
            elif command == "quit":
                break


class SandboxProcess:
    def __init__(self, redirect_url: str, orders: int, log: Path) -> None:
        self._log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-sandbox", redirect_url, "--orders", str(orders)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self.base_url = str(self._answer()["base_url"])

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the sandbox process exited ({self.proc.poll()}); see its log")
        answer: dict[str, Any] = orjson.loads(line)
        return answer

    def command(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.command("quit")
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._log.close()


# --- process helpers -------------------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}; see {log}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not ready; see {log}")
        time.sleep(0.2)


@contextlib.contextmanager
def process(
    cmd: list[str], env: dict[str, str], log: Path, ready: str
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_http(ready, proc, log)
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


class RssSampler:
    """VmRSS of a process every 0.2 s while a phase runs (the phase's peak)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, RuntimeError):
                self.peak_kb = max(self.peak_kb, _status_kb(self.pid, "VmRSS"))
            self._stop.wait(0.2)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return round(self.peak_kb / 1024, 1)


async def admin_sql(server: str, sql: str) -> None:
    conn = await asyncpg.connect(libpq_dsn(server), timeout=30)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def fetchval(db_url: str, sql: str) -> Any:
    conn = await asyncpg.connect(libpq_dsn(db_url), timeout=30)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def skip_history(bootstrap: str, groups: list[str]) -> None:
    """Commit the order topic's current end for order-ingest's (fresh) consumer groups: they
    must not replay every order event other runs ever wrote there."""
    for group in groups:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            parts = [TopicPartition(ORDER_RECEIVED, p)
                     for p in (consumer.partitions_for_topic(ORDER_RECEIVED) or set())]  # fmt: skip
            if not parts:
                await consumer._client.force_metadata_update()
                parts = [TopicPartition(ORDER_RECEIVED, p)
                         for p in (consumer.partitions_for_topic(ORDER_RECEIVED) or set())]  # fmt: skip
            if parts:
                consumer.assign(parts)
                ends = await consumer.end_offsets(parts)
                await consumer.commit(dict(ends.items()))
        finally:
            await consumer.stop()


class Arrivals:
    """`order.received` events from now on, with their arrival time (monotonic) per order."""

    def __init__(self, bootstrap: str) -> None:
        self.seen: dict[str, float] = {}
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
            fetch_max_wait_ms=10,
        )  # fmt: skip
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        parts = self._consumer.partitions_for_topic(ORDER_RECEIVED) or set()
        for _ in range(100):
            if parts:
                break
            await self._consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
            parts = self._consumer.partitions_for_topic(ORDER_RECEIVED) or set()
        tps = [TopicPartition(ORDER_RECEIVED, p) for p in sorted(parts)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=50)
            now = time.monotonic()
            for records in batch.values():
                for record in records:
                    event = decode(record.value)
                    if event.type == "order.received" and event.subject:
                        self.seen.setdefault(event.subject, now)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered
    return {
        "p50": round(statistics.median(ordered), 2),
        "p99": round(q[98] if len(q) > 98 else ordered[-1], 2),
        "max": round(ordered[-1], 2),
    }


def sustained(times: list[float], share: float = 0.9) -> dict[str, Any]:
    """Calls/s over the middle `share` of the calls (ramp-up and tail left out), and overall."""
    times = sorted(times)
    n = len(times)
    if n < 10:
        return {"calls": n}
    lo = int(n * (1 - share) / 2)
    hi = n - 1 - lo
    span = times[hi] - times[lo]
    per_second = Counter(int(t - times[0]) for t in times)
    return {
        "calls": n,
        "first_to_last_s": round(times[-1] - times[0], 2),
        "overall_per_s": round((n - 1) / (times[-1] - times[0]), 3),
        "middle_share": share,
        "middle_per_s": round((hi - lo) / span, 3) if span > 0 else None,
        "busiest_second": max(per_second.values()),
    }


# --- the phases ------------------------------------------------------------------------------


class Stack:
    def __init__(self, sandbox: SandboxProcess, broker: str, orders: str, db_url: str) -> None:
        self.sandbox = sandbox
        self.broker = broker
        self.orders = orders
        self.db_url = db_url
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(120, connect=10))

    async def sb(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        r = await self.http.request(method, self.sandbox.base_url + path, **kw)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        if body.get("code") != 0:
            raise RuntimeError(f"sandbox {path}: {body}")
        data: dict[str, Any] = body["data"]
        return data

    async def oi(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        r = await self.http.request(method, self.orders + path, headers=API, **kw)
        if r.status_code != expect:
            raise RuntimeError(f"order-ingest {method} {path}: {r.status_code} {r.text[:500]}")
        return r.json()

    async def connect(self) -> str:
        r = await self.http.post(
            self.broker + "/v1/connections",
            json={"name": "orders-bench", "market": "US"},
            headers=BROKER_ADMIN,
        )
        r.raise_for_status()
        created = r.json()
        target = await approve_in_sandbox(self.http, created["authorize_url"], "US")
        page = await self.http.get(target)
        if page.status_code != 200:
            raise RuntimeError(f"OAuth callback answered {page.status_code}: {page.text[:300]}")
        return str(created["id"])


async def backfill(stack: Stack, connection: str, orders: int) -> dict[str, Any]:
    """The import's first pass over every order in the sandbox, at BACKFILL_QPS."""
    await asyncio.to_thread(stack.sandbox.command, f"qps {BACKFILL_QPS}")
    await stack.sb("DELETE", "/sandbox/v1/stats")
    since = time.time()
    started = time.perf_counter()
    created = await stack.oi(
        "POST", "/v1/order-imports", expect=201,
        json={"connection_id": connection, "poll_interval_seconds": 86400,
              "description": "orders bench"},
    )  # fmt: skip
    import_id = created["id"]
    run: dict[str, Any] = {}
    last = -1
    while True:
        runs = await stack.oi("GET", f"/v1/order-imports/{import_id}/runs")
        items = runs if isinstance(runs, list) else runs.get("items", [])
        if items:
            run = items[-1] if len(items) == 1 else min(items, key=lambda r: r["created_at"])
            if run["status"] in ("done", "failed"):
                break
            if run["orders_seen"] // 10_000 != last // 10_000:
                print(f"  … {run['orders_seen']:,} orders", flush=True)
            last = run["orders_seen"]
        await asyncio.sleep(0.5)
    wall = time.perf_counter() - started
    while await fetchval(stack.db_url, "SELECT count(*) FROM outbox") > 0:  # noqa: ASYNC110
        await asyncio.sleep(0.2)  # another process's table: polled
    drained = time.perf_counter() - started
    log = await stack.sb("GET", "/sandbox/v1/requests", params={"operation": SEARCH,
                                                                  "since": since})  # fmt: skip
    stats = await stack.sb("GET", "/sandbox/v1/stats")
    times = sorted(r["at"] for r in log["requests"])
    limited = stats.get("rate_limited", {}).get(SEARCH, 0)
    rate = sustained(times)
    # The log has every arrival, 429s included: the served calls are the others.
    served = len(times) - limited
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    rate["served"] = served
    rate["served_per_s"] = round((served - 1) / span, 3) if span > 0 and served > 1 else None
    stored = await fetchval(stack.db_url, "SELECT count(*) FROM orders")
    return {
        "orders_in_sandbox": orders,
        "orders_stored": stored,
        "run": {
            k: run.get(k)
            for k in ("status", "mode", "pages", "orders_seen", "orders_changed", "error")
        },
        "limit_calls_per_s": BACKFILL_QPS,
        "search_calls": rate,
        "rate_share_of_limit": round((rate.get("served_per_s") or 0) / BACKFILL_QPS, 3),
        "rate_limited_429": limited,
        "wall_s": round(wall, 1),
        "orders_per_s": round(stored / wall, 1) if wall else None,
        "until_outbox_drained_s": round(drained, 1),
    }


class RawPost:
    """A lean HTTP/1.1 keep-alive client for the load: persistent connections, one request in
    flight on each, more opened (up to `limit`) when all are busy.

    httpx's connection pool spends time linear in its waiting requests on every assignment;
    at 200 requests/s with a backlog that made the *client* the bottleneck (it measured its
    own queue, not the server). This one costs a write and a few reads per request.
    """

    def __init__(self, url: str, limit: int = 256) -> None:
        parsed = httpx.URL(url)
        self.host, self.port = parsed.host, parsed.port or 80
        self.limit = limit
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.opened = 0
        self.freed = asyncio.Condition()

    async def _acquire(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with self.freed:
            while not self.idle and self.opened >= self.limit:
                await self.freed.wait()
            if self.idle:
                return self.idle.pop()
            self.opened += 1
        try:
            return await asyncio.open_connection(self.host, self.port)
        except BaseException:
            async with self.freed:
                self.opened -= 1
                self.freed.notify()
            raise

    async def _release(
        self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None
    ) -> None:
        async with self.freed:
            if conn is None:
                self.opened -= 1
            else:
                self.idle.append(conn)
            self.freed.notify()

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        reader, writer = await self._acquire()
        try:
            head = [f"POST {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                    f"Content-Length: {len(body)}"]  # fmt: skip
            head += [f"{k}: {v}" for k, v in headers.items()]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
        except BaseException:
            writer.close()
            await self._release(None)
            raise
        await self._release((reader, writer))
        return status

    async def close(self) -> None:
        for _, writer in self.idle:
            writer.close()


async def webhooks(
    stack: Stack, bootstrap: str, count: int, rate: float, shop_id: str
) -> dict[str, Any]:
    """`count` signed webhooks at `rate`/s: acknowledgement and webhook -> Kafka latency.

    Open loop: each webhook has its send time; its acknowledgement latency runs from that
    time (so a backlog on either side is counted, never hidden) to the answer."""
    from tiktok_sandbox.webhook_signing import encode_payload, sign_webhook

    await asyncio.to_thread(stack.sandbox.command, f"qps {OPEN_QPS}")
    placed = await asyncio.to_thread(stack.sandbox.command, f"place {count}")
    ids: list[str] = placed["ids"]
    arrivals = Arrivals(bootstrap)
    await arrivals.start()
    before = await server_side(stack, "POST", "/v1/webhooks/tiktok")
    sent: dict[str, float] = {}
    acks: list[float] = []
    statuses: Counter[int | str] = Counter()
    client = RawPost(stack.orders)
    try:
        # Warm connections (and order-ingest's) before the clock starts.
        for _ in range(16):
            await client._release(await client._acquire())

        async def one(order_id: str, at: float) -> None:
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            ts = int(time.time())
            body = encode_payload(
                "ORDER_STATUS_CHANGE", uuid.uuid4().hex, shop_id, ts,
                {"order_id": order_id, "order_status": "ON_HOLD", "is_on_hold_order": True,
                 "update_time": ts},
            )  # fmt: skip
            headers = {"Authorization": sign_webhook(APP_KEY, APP_SECRET, body),
                       "Content-Type": "application/json"}  # fmt: skip
            sent[order_id] = at
            try:
                status = await client.post("/v1/webhooks/tiktok", body, headers)
            except OSError as exc:
                statuses[type(exc).__name__] += 1
                return
            acks.append((time.monotonic() - at) * 1000)
            statuses[status] += 1

        start = time.monotonic() + 0.5
        began = time.perf_counter()
        await asyncio.gather(*(one(oid, start + i / rate) for i, oid in enumerate(ids)))
        send_wall = time.perf_counter() - began - 0.5
    finally:
        await client.close()
    deadline = time.monotonic() + 120
    while len(set(ids) & set(arrivals.seen)) < len(ids) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)  # the reader task fills `seen`; a poll keeps the deadline simple
    await arrivals.stop()
    kafka = [(arrivals.seen[o] - sent[o]) * 1000 for o in ids if o in arrivals.seen]
    server = await server_side(stack, "POST", "/v1/webhooks/tiktok")
    server = {k: round(server[k] - before.get(k, 0), 3) for k in server}
    return {
        "webhooks": count,
        "target_rate_per_s": rate,
        "achieved_rate_per_s": round(count / send_wall, 1) if send_wall > 0 else None,
        "answers": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        "ack_ms": percentiles(acks),
        # order-ingest's own view (`http_request_duration_seconds`): time inside the app,
        # from the request's arrival at the ASGI middleware to the answer.
        "server_side": {
            "requests": int(server.get("count", 0)),
            "mean_ms": round(server["sum"] / server["count"] * 1000, 2)
            if server.get("count")
            else None,
            "share_within_50ms": round(server.get("le_0.05", 0) / server["count"], 3)
            if server.get("count")
            else None,
        },
        "webhook_to_kafka_ms": percentiles(kafka),
        "order_received_seen": len(kafka),
        "missing": len(ids) - len(kafka),
    }


async def server_side(stack: Stack, method: str, route: str) -> dict[str, float]:
    """Count, sum and the 50 ms bucket of a route's latency histogram in `/metrics`."""
    r = await stack.http.get(stack.orders + "/metrics")
    out: dict[str, float] = {}
    labels = f'method="{method}",route="{route}"'
    for line in r.text.splitlines():
        if labels not in line and f'le="0.05",{labels}' not in line:
            continue
        name, _, value = line.rpartition(" ")
        if name.startswith("http_request_duration_seconds_count"):
            out["count"] = float(value)
        elif name.startswith("http_request_duration_seconds_sum"):
            out["sum"] = float(value)
        elif name.startswith("http_request_duration_seconds_bucket") and 'le="0.05"' in name:
            out["le_0.05"] = float(value)
    return out


def verdict(value: float | None, target: float, *, at_most: bool = False) -> dict[str, Any]:
    passed = value is not None and (value <= target if at_most else value >= target)
    return {"value": value, "target": target, "at_most" if at_most else "at_least": True,
            "passed": passed}  # fmt: skip


def targets(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    a = result.get("a_backfill")
    if a:
        out["a_backfill_rate_share_of_limit"] = verdict(a["rate_share_of_limit"], TARGET_RATE_SHARE)
        out["a_every_order_stored"] = {"value": a["orders_stored"],
                                       "passed": a["orders_stored"] == a["orders_in_sandbox"]}  # fmt: skip
    b = result.get("b_webhooks")
    if b:
        out["b_ack_p99_ms"] = verdict(b["ack_ms"]["p99"], TARGET_ACK_P99_MS, at_most=True)
        out["b_webhook_to_kafka_p99_ms"] = verdict(
            b["webhook_to_kafka_ms"]["p99"], TARGET_KAFKA_P99_MS, at_most=True
        )
        out["b_every_webhook_accepted"] = {"value": b["answers"],
                                           "passed": set(b["answers"]) == {"200"}}  # fmt: skip
        out["b_every_order_on_kafka"] = {"value": b["missing"], "passed": b["missing"] == 0}
    return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    server = os.environ.get("TTS_DATABASE_URL", DEFAULT_DB)
    bootstrap = os.environ.get("TTS_KAFKA_BOOTSTRAP", DEFAULT_KAFKA)
    work = Path(tempfile.mkdtemp(prefix="orders-bench-"))
    orders_db, broker_db = new_database_name("bench_orders"), new_database_name("bench_ob")
    orders_url, broker_url = database_url(server, orders_db), database_url(server, broker_db)
    for name in (orders_db, broker_db):
        await admin_sql(server, f'CREATE DATABASE "{name}"')
    prefix = f"bench-orders-{uuid.uuid4().hex[:8]}-"
    await skip_history(bootstrap, [prefix + "order-ingest", prefix + "order-ingest-push"])
    result: dict[str, Any] = {
        "benchmark": "order-ingest: sandbox + auth-broker + order-ingest serve, real Kafka and"
        " PostgreSQL",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "load_average_at_start_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }
    broker_port, orders_port = free_port(), free_port()
    broker_base = f"http://127.0.0.1:{broker_port}"
    orders_base = f"http://127.0.0.1:{orders_port}"
    print(f"placing {args.orders:,} orders in the sandbox …", flush=True)
    sandbox = await asyncio.to_thread(
        SandboxProcess, f"{broker_base}/v1/oauth/callback", args.orders, work / "sandbox.log"
    )
    try:
        sandbox_url = sandbox.base_url
        broker_env = settings_env(
            database_url=broker_url, kafka_bootstrap=bootstrap, log_level="WARNING",
            tiktok_app_key=APP_KEY, tiktok_app_secret=APP_SECRET,
            tiktok_open_api_url=sandbox_url, tiktok_auth_url=sandbox_url,
            tiktok_us_authorize_url=sandbox_url, tiktok_global_authorize_url=sandbox_url,
            service_credentials=f"order-ingest:{SERVICE_SECRET}", refresher_enabled=False,
            consumer_group_prefix=prefix,
        )  # fmt: skip
        orders_env = settings_env(
            database_url=orders_url, kafka_bootstrap=bootstrap, log_level="WARNING",
            auth_broker_url=broker_base, service_credential=SERVICE_SECRET,
            tiktok_open_api_url=sandbox_url, tiktok_app_key=APP_KEY,
            tiktok_app_secret=APP_SECRET, consumer_group_prefix=prefix,
            worker_idle_seconds=0.05,
            # The bench's client keeps its connections; a webhook sender (TikTok) does too.
            http_keep_alive_seconds=75,
        )  # fmt: skip
        migrate = [sys.executable, "-m", "auth_broker.cli", "migrate"]
        await asyncio.to_thread(
            subprocess.run, migrate, env=broker_env, check=True, stdout=subprocess.DEVNULL
        )
        with (
            broker_process(broker_env, broker_port, work / "broker.log"),
            process(
                [sys.executable, "-m", "order_ingest.cli", "serve", "--port", str(orders_port)],
                orders_env, work / "order-ingest.log", orders_base + "/readyz",
            ) as orders_proc,
        ):  # fmt: skip
            pid = orders_proc.pid
            stack = Stack(sandbox, broker_base, orders_base, orders_url)
            try:
                result["order_ingest_rss_mb_at_start"] = round(_status_kb(pid, "VmRSS") / 1024, 1)
                connection = await stack.connect()
                from tiktok_sandbox.seed import US_SHOP_ID

                with RssSampler(pid) as rss:
                    print("(a) backfill …", flush=True)
                    result["a_backfill"] = await backfill(stack, connection, args.orders)
                result["a_backfill"]["order_ingest_peak_rss_mb"] = rss.peak_mb
                with RssSampler(pid) as rss:
                    print("(b) webhooks …", flush=True)
                    result["b_webhooks"] = await webhooks(
                        stack, bootstrap, args.webhooks, args.rate, US_SHOP_ID
                    )
                result["b_webhooks"]["order_ingest_peak_rss_mb"] = rss.peak_mb
                result["c_order_ingest_peak_rss_mb"] = round(_status_kb(pid, "VmHWM") / 1024, 1)
            finally:
                await stack.http.aclose()
        tail = (work / "order-ingest.log").read_text(errors="replace").splitlines()[-8:]
        if any(line.strip() for line in tail):
            result["order_ingest_log_tail"] = tail
    finally:
        await asyncio.to_thread(sandbox.close)
        for name in (orders_db, broker_db):
            with contextlib.suppress(Exception):
                await admin_sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result["load_average_at_end_1_5_15"] = [round(x, 2) for x in os.getloadavg()]
    result["targets"] = targets(result)
    result["meets_targets"] = all(t["passed"] for t in result["targets"].values())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--serve-sandbox", default="", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="small sizes; no result file")
    parser.add_argument("--orders", type=int, default=BACKFILL_ORDERS)
    parser.add_argument("--webhooks", type=int, default=WEBHOOKS)
    parser.add_argument("--rate", type=float, default=WEBHOOK_RATE, help="webhooks per second")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.serve_sandbox:
        serve_sandbox(args.serve_sandbox, args.orders)
        return 0
    if args.quick:
        args.orders = min(args.orders, 3000)
        args.webhooks = min(args.webhooks, 600)
    result = asyncio.run(run(args))
    out = args.out or (None if args.quick else RESULTS)
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        print(f"written {out}")
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""catalog-sync's delta export to TikTok Shop, end to end, with every process real.

Starts the TikTok sandbox (`python -m tiktok_sandbox`, `SANDBOX_QPS=200`), the auth-broker
(`auth_broker.cli serve`, own database) and `catalog-sync serve` (own database, real Kafka,
its own consumer-group prefix) as their own processes, plus a small image server (another
process: every URL answers a distinct PNG, so every product's picture is its own upload),
connects one UK shop through the sandbox's OAuth pages, then measures:

(a) **initial sync** — 10,000 parents / 50,000 variants (5 per parent, one picture each)
    uploaded to a new feed and exported by one run. The sandbox's limit is a token bucket
    per (app, shop, operation) refilling at `SANDBOX_QPS` (200/s, one second of burst), so
    "the limit" is 200 Create Product calls/s (and, beside it, 200 image uploads/s: another
    operation, another bucket). The sustained create rate is taken from the sandbox's
    request log (arrival times, `GET /sandbox/v1/requests`) over the middle 90 % of the
    creates; 429s are counted by the sandbox (`rate_limited`) and in the run's API-call log
    (`GET /v1/feeds/{id}/runs/{run}/calls`, status 429). Targets: >= 95 % of the limit,
    <= 1 % of the calls answered 429.
(b) **no-change rerun** — 100,000 parents / 500,000 variants bulk-seeded into the sandbox
    (`POST /sandbox/v1/shops/{id}/products:bulk-seed`, live and approved), the same rows
    uploaded to a feed with `adopt_existing: true`; a first run adopts them (Search Products
    by seller SKU, then one edit each: recorded, not targeted), then the measured rerun:
    <= 15 s and zero write calls (the sandbox's counters).
(c) **event-driven latency** — an event-driven feed of 1,000 parents, exported; then 1,000
    `product.upserted` events at 20/s on `tiktok.product-changed.v1`, each changing one
    variant's price of another parent; latency = the sandbox's arrival time of that
    product's Update Price call - the event's send time. p50 / p99, target p99 <= 2 s.
(d) **memory** — catalog-sync's peak RSS (`VmHWM`, and `VmRSS` sampled per phase) <= 1 GB.

    eval "$(deploy/local/infra.sh env)"
    uv run --no-sync python bench/catalog_export_bench.py            # full sizes, ~25 min
    uv run --no-sync python bench/catalog_export_bench.py --quick    # small sizes, no result file
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
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
from tiktok_sandbox.seed import UK_SHOP_ID
from tts_common.events import CONNECTION_CHANGED, PRODUCT_CHANGED, encode, make_event
from tts_common.kafka import make_producer
from tts_common.testing.infra import database_url, libpq_dsn, new_database_name

ROOT = Path(__file__).resolve().parents[1]


def _default(name: str) -> object:
    """catalog-sync's default for a setting (what the bench's process runs with)."""
    from catalog_sync.config import Settings

    return Settings.model_fields[name].default


RESULTS = ROOT / "bench" / "results" / "catalog_export.json"
DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:55432/postgres"
DEFAULT_KAFKA = "127.0.0.1:9092"
API = {"Authorization": "Bearer dev-api-key"}
BROKER_ADMIN = {"Authorization": "Bearer dev-admin-key"}
SERVICE_SECRET = "catalog-export-bench-credential-0123456789"
APP_KEY = "6a7sbx0dev1"  # the sandbox's dev app (public dev values)
APP_SECRET = "sandbox-dev-app-secret-0123456789abcdef"

PHASES = {"a": "a_initial_sync", "b": "b_no_change_rerun", "c": "c_event_latency"}
QPS = 200.0
TARGET_RATE_SHARE = 0.95
TARGET_429_SHARE = 0.01
TARGET_RERUN_S = 15.0
TARGET_P99_S = 2.0
TARGET_RSS_MB = 1024.0
IDLE_SAMPLE_S = 5.0

# TikTok operations as the sandbox counts them (docs/sandbox.md).
CREATE = "POST /product/202309/products"
EDIT = "PUT /product/202509/products/{product_id}"
PARTIAL_EDIT = "POST /product/202509/products/{product_id}/partial_edit"
PRICE = "POST /product/202309/products/{product_id}/prices/update"
INVENTORY = "POST /product/202309/products/{product_id}/inventory/update"
DELETE = "DELETE /product/202309/products"
UPLOAD = "POST /product/202309/images/upload"
SEARCH = "POST /product/202502/products/search"
WRITES = (CREATE, EDIT, PARTIAL_EDIT, PRICE, INVENTORY, DELETE, UPLOAD)
PRICE_PATH = re.compile(r"/product/202309/products/(\d+)/prices/update")

# The UK shop of the sandbox: its sales warehouse, leaves of the v1 tree (Mugs, Candles,
# Vase & Fillers) and its authorized sample brand.
UK_WAREHOUSE = "7068517275539720101"
CATEGORIES = ("600042", "854152", "700655")
BRAND = "7082427311584347905"
COLORS = ("Red", "Blue", "Black", "White", "Green", "Grey", "Pink", "Navy")

Row = dict[str, str]


# --- rows and the equivalent Create Product bodies ---------------------------------------------


def rows_of(tag: str, parents: int, variants: int, images: str, pictures: int) -> Iterator[Row]:
    """`parents` products of `variants` rows; picture k of `pictures` distinct URLs (0: one
    per parent)."""
    for i in range(parents):
        parent = f"{tag}-{i:06d}"
        picture = parent if pictures == 0 else f"{tag}-pic-{i % pictures}"
        shared = {
            "parent_id": parent,
            "product_name": f"Bench product {tag} {i}",
            "description": f"<p>Generated product {i} of {tag}: a sturdy, useful thing.</p>",
            "category_id": CATEGORIES[i % len(CATEGORIES)],
            "brand_id": BRAND,
            "images": f"{images}/img/{picture}.png",
            "package_weight": "1.5",
            "package_weight_unit": "KILOGRAM",
            "package_length": "20",
            "package_width": "15",
            "package_height": "10",
            "package_dimension_unit": "CENTIMETER",
        }
        for k in range(variants):
            row = {
                **shared,
                "product_id": f"{parent}-{k}",
                "sku.price": f"{10 + i % 500}.{k}9",
                "sku.currency": "GBP",
                "sku.quantity": str(5 + k),
            }
            if variants > 1:
                row["sku.sales_attribute.Color"] = COLORS[k]
            yield row


def create_body(rows: list[Row]) -> dict[str, Any]:
    """What a seller's other tool would have listed for these rows (Create Product 202309)."""
    main = rows[0]
    return {
        "title": main["product_name"],
        "description": main["description"],
        "category_id": main["category_id"],
        "brand_id": main["brand_id"],
        "main_images": [{"uri": "seeded-" + main["parent_id"]}],
        "package_weight": {"value": main["package_weight"], "unit": "KILOGRAM"},
        "package_dimensions": {
            "length": main["package_length"],
            "width": main["package_width"],
            "height": main["package_height"],
            "unit": "CENTIMETER",
        },
        "skus": [
            {
                "seller_sku": r["product_id"],
                "sales_attributes": (
                    [{"name": "Color", "value_name": r["sku.sales_attribute.Color"]}]
                    if "sku.sales_attribute.Color" in r
                    else []
                ),
                "price": {"amount": r["sku.price"], "currency": "GBP"},
                "inventory": [{"warehouse_id": UK_WAREHOUSE, "quantity": int(r["sku.quantity"])}],
            }
            for r in rows
        ],
    }


def write_ndjson(path: Path, rows: Iterator[Row]) -> int:
    n = 0
    with path.open("wb") as f:
        for row in rows:
            f.write(orjson.dumps(row) + b"\n")
            n += 1
    return n


# --- the image server (its own process) ---------------------------------------------------------


def _png(name: str) -> bytes:
    """A valid 64x64 PNG whose bytes differ per `name` (a tEXt chunk): a picture of its own."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\x20\x80\xc0" * 64 for _ in range(64))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0))
        + chunk(b"tEXt", b"Comment\x00" + name.encode())
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def serve_images(port: int) -> None:
    """`--serve-images PORT`: answer `/img/<name>.png` with its own PNG (and `/healthz`)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def image(request: Request) -> Response:
        return Response(_png(request.path_params["name"]), media_type="image/png")

    async def health(request: Request) -> Response:
        return Response(b"ok")

    app = Starlette(routes=[Route("/img/{name}", image), Route("/healthz", health)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- processes -----------------------------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid: int) -> float:
    return sum(cpu_split(pid))


class CpuMeter:
    """CPU seconds (user, system) each named process spent while the block ran."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.spent: dict[str, dict[str, float]] = {}

    def __enter__(self) -> CpuMeter:
        self._start = {n: cpu_split(p) for n, p in self.pids.items()}
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError):
                user, system = cpu_split(pid)
                u0, s0 = self._start[name]
                self.spent[name] = {
                    "user_s": round(user - u0, 1),
                    "system_s": round(system - s0, 1),
                    "share_of_one_core": round((user - u0 + system - s0) / wall, 2),
                }


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def python_pid(launcher: int, marker: bytes, within: float = 30) -> int:
    """The Python process under `launcher` (`uv run` stays as the parent) running `marker`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        todo, seen = [launcher], []
        while todo:
            pid = todo.pop()
            seen.append(pid)
            todo += _children(pid)
        for pid in seen:
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if b"python" in os.path.basename(cmd[0]) and any(marker in c for c in cmd):
                    return pid
        time.sleep(0.1)
    raise RuntimeError(f"no python process running {marker!r} under {launcher}")


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


PROFILE_DIR: Path | None = None  # --profile: py-spy samples catalog-sync during each run


@contextlib.contextmanager
def profiled(pid: int, name: str) -> Iterator[None]:
    """py-spy (when `--profile DIR`) records `pid` while the block runs: DIR/<name>.txt in
    collapsed-stack form (flamegraph.pl / speedscope read it). Only samples holding the GIL
    (`--gil`): a socket write waiting for the CPU on a busy machine is not the process's CPU."""
    if PROFILE_DIR is None or shutil.which("py-spy") is None:
        yield
        return
    out = PROFILE_DIR / f"{name}.txt"
    spy = subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "--gil",
         "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(timeout=60)


async def admin_sql(server: str, sql: str) -> None:
    conn = await asyncpg.connect(libpq_dsn(server), timeout=30)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def skip_history(bootstrap: str, group: str) -> None:
    """Commit the current end of the topics catalog-sync consumes for its (fresh) group: it
    must not replay every event other test runs ever wrote there (a new group starts from
    the earliest offset)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        parts = [
            TopicPartition(topic, p)
            for topic in (PRODUCT_CHANGED, CONNECTION_CHANGED)
            for p in (consumer.partitions_for_topic(topic) or set())
        ]
        if not parts:
            await consumer._client.force_metadata_update()
            parts = [
                TopicPartition(topic, p)
                for topic in (PRODUCT_CHANGED, CONNECTION_CHANGED)
                for p in (consumer.partitions_for_topic(topic) or set())
            ]
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        if ends:
            await consumer.commit(dict(ends.items()))
    finally:
        await consumer.stop()


# --- the stack -----------------------------------------------------------------------------------


class Stack:
    """The sandbox, the broker, catalog-sync and the image server, with HTTP helpers."""

    def __init__(
        self, sandbox: str, broker: str, catalog: str, images: str, pid: int,
        pids: dict[str, int],
    ) -> None:  # fmt: skip
        self.pids = pids  # process name -> pid, for the CPU accounting
        self.sandbox = sandbox
        self.broker = broker
        self.catalog = catalog
        self.images = images
        self.pid = pid
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(600, connect=10))

    async def aclose(self) -> None:
        await self.http.aclose()

    async def sb(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        r = await self.http.request(method, self.sandbox + path, **kw)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        if body.get("code") != 0:
            raise RuntimeError(f"sandbox {path}: {body}")
        data: dict[str, Any] = body["data"]
        return data

    async def cs(self, method: str, path: str, expect: int = 200, **kw: Any) -> Any:
        r = await self.http.request(method, self.catalog + path, headers=API, **kw)
        if r.status_code != expect:
            raise RuntimeError(f"catalog-sync {method} {path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content and r.headers.get("content-type", "").endswith("json") else r

    async def connect(self) -> str:
        r = await self.http.post(
            self.broker + "/v1/connections",
            json={"name": "export-bench", "market": "UK"},
            headers=BROKER_ADMIN,
        )
        r.raise_for_status()
        created = r.json()
        target = await approve_in_sandbox(self.http, created["authorize_url"], "UK")
        page = await self.http.get(target)
        if page.status_code != 200:
            raise RuntimeError(f"OAuth callback answered {page.status_code}: {page.text[:300]}")
        return str(created["id"])

    async def stats(self) -> dict[str, Any]:
        return await self.sb("GET", "/sandbox/v1/stats")

    async def reset_stats(self) -> None:
        await self.sb("DELETE", "/sandbox/v1/stats")

    async def feed(self, name: str, connection: str, **settings: Any) -> dict[str, Any]:
        body = {"name": name, "market": "UK", "connection_id": connection, "active": True,
                "warehouse_id": UK_WAREHOUSE, **settings}  # fmt: skip
        feed: dict[str, Any] = await self.cs("POST", "/v1/feeds", expect=201, json=body)
        for path in ("taxonomies/categories", "taxonomies/brands"):
            await self.cs("GET", f"/v1/feeds/{feed['id']}/{path}")
        for category in CATEGORIES:
            await self.cs("GET", f"/v1/feeds/{feed['id']}/schema", params={"category_id": category})
        return feed

    async def upload(self, feed_id: str, path: Path) -> dict[str, Any]:
        def chunks() -> Iterator[bytes]:
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    yield chunk

        r = await self.http.put(
            f"{self.catalog}/v1/feeds/{feed_id}/products",
            params={"format": "ndjson"},
            content=_aiter(chunks()),
            headers={**API, "Content-Length": str((await asyncio.to_thread(path.stat)).st_size)},
        )
        if r.status_code != 200:
            raise RuntimeError(f"upload answered {r.status_code}: {r.text[:500]}")
        report: dict[str, Any] = r.json()
        if report["refused"]:
            raise RuntimeError(f"upload refused rows: {report['problems'][:3]}")
        return report

    async def run(self, feed_id: str, within: float = 7200) -> dict[str, Any]:
        """Queue a run and wait for its end (polled every 0.25 s); adds `wall_s`."""
        started = time.perf_counter()
        queued = await self.cs("POST", f"/v1/feeds/{feed_id}/runs", expect=202, json={})
        return await self.wait_run(feed_id, queued["id"], started, within)

    async def wait_run(
        self, feed_id: str, run_id: str, started: float, within: float = 7200
    ) -> dict[str, Any]:
        deadline = time.monotonic() + within
        last = -1
        while True:
            run: dict[str, Any] = await self.cs("GET", f"/v1/feeds/{feed_id}/runs/{run_id}")
            if run["status"] not in ("queued", "running"):
                run["wall_s"] = round(time.perf_counter() - started, 2)
                return run
            done = run["progress"]["done"]
            if done // 5000 != last // 5000:
                print(f"  … {done:,}/{run['progress']['total']:,}", flush=True)
            last = done
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run_id} still {run['status']} after {within} s")
            await asyncio.sleep(0.25)

    async def call_log(self, feed_id: str, run_id: str) -> list[dict[str, Any]]:
        r = await self.cs("GET", f"/v1/feeds/{feed_id}/runs/{run_id}/calls")
        return [orjson.loads(line) for line in r.content.splitlines() if line]

    async def requests(self, operation: str, since: float) -> list[dict[str, Any]]:
        data = await self.sb(
            "GET", "/sandbox/v1/requests", params={"operation": operation, "since": since}
        )
        out: list[dict[str, Any]] = data["requests"]
        return out


async def _aiter(it: Iterator[bytes]) -> Any:
    for chunk in it:
        yield chunk


def writes(calls: dict[str, int]) -> dict[str, int]:
    return {op: n for op, n in calls.items() if op in WRITES and n}


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
    full = [per_second[s] for s in range(1, int(times[-1] - times[0]))]  # whole seconds
    return {
        "calls": n,
        "first_to_last_s": round(times[-1] - times[0], 2),
        "overall_per_s": round((n - 1) / (times[-1] - times[0]), 1),
        "middle_share": share,
        "middle_per_s": round((hi - lo) / span, 1) if span > 0 else None,
        "busiest_second": max(per_second.values()),
        "quietest_whole_second": min(full) if full else None,
    }


# --- (a) initial sync ----------------------------------------------------------------------------


async def initial_sync(
    stack: Stack, connection: str, work: Path, parents: int, variants: int
) -> dict[str, Any]:
    path = work / "initial.ndjson"
    rows = write_ndjson(path, rows_of("init", parents, variants, stack.images, pictures=0))
    feed = await stack.feed("bench-initial", connection, log_api_calls=True)
    report = await stack.upload(feed["id"], path)
    await stack.reset_stats()
    # What catalog-sync spends doing nothing (its loops poll: runs, event passes, the outbox,
    # consumers): a run at a low rate (a busy machine) counts it per product too.
    idle0, idle_t0 = cpu_seconds(stack.pid), time.monotonic()
    await asyncio.sleep(IDLE_SAMPLE_S)
    idle_share = (cpu_seconds(stack.pid) - idle0) / (time.monotonic() - idle_t0)
    since = time.time()
    cpu0 = cpu_seconds(stack.pid)
    print(f"(a) initial sync of {parents:,} parents / {rows:,} variants", flush=True)
    with (
        RssSampler(stack.pid) as rss,
        profiled(stack.pid, "a_initial_sync"),
        CpuMeter(stack.pids) as meter,
    ):
        run = await stack.run(feed["id"])
    cpu = cpu_seconds(stack.pid) - cpu0
    run_s = time.time() - since
    stats = await stack.stats()
    creates = [e["at"] for e in await stack.requests(CREATE, since)]
    uploads = [e["at"] for e in await stack.requests(UPLOAD, since)]
    log = await stack.call_log(feed["id"], run["id"])
    logged = Counter(e["operation"] for e in log)
    logged_429 = Counter(e["operation"] for e in log if e.get("status") == 429)
    total_calls = sum(stats["calls"].values())
    limited = stats["total_rate_limited"]
    create_rate = sustained(creates)
    out = {
        "parents": parents,
        "variants": rows,
        "upload_rows_per_s": round(rows / report["duration_s"]) if report["duration_s"] else None,
        "run": {k: run[k] for k in ("status", "reason", "counts", "progress", "duration_s")}
        | {"wall_s": run["wall_s"]},
        "limit": {
            "sandbox_qps": QPS,
            "what": "a token bucket per (app, shop, operation) refilling at SANDBOX_QPS with one"
            " second of burst: 200 Create Product calls/s, and separately 200 image uploads/s,"
            " 200 searches/s...; the write rate is judged on Create Product",
        },
        "creates": create_rate,
        "image_uploads": sustained(uploads),
        "writes_per_s_all_operations": round(
            (len(creates) + len(uploads)) / max(1e-9, create_rate.get("first_to_last_s", 1)), 1
        ),
        "sandbox_calls": stats["calls"],
        "sandbox_rate_limited": stats["rate_limited"],
        "sandbox_429_share": round(limited / total_calls, 5) if total_calls else None,
        "call_log_entries": len(log),
        "call_log_by_operation": dict(logged),
        "call_log_429": dict(logged_429),
        "call_log_429_share": round(sum(logged_429.values()) / len(log), 5) if log else None,
        "duplicate_seller_skus": stats["duplicate_seller_skus"],
        "products_in_shop": stats["products_by_shop"],
        "catalog_sync_cpu_s": round(cpu, 1),
        "catalog_sync_cpu_ms_per_product": round(cpu * 1000 / parents, 2),
        "catalog_sync_idle_cpu_share_of_one_core": round(idle_share, 3),
        "catalog_sync_cpu_ms_per_product_beyond_idle": round(
            max(0.0, cpu - idle_share * run_s) * 1000 / parents, 2
        ),
        "cpu_by_process": meter.spent,
        "catalog_sync_peak_rss_mb": rss.peak_mb,
    }
    print(
        f"    creates {create_rate.get('middle_per_s')}/s sustained, 429 share "
        f"{out['sandbox_429_share']}, run {run['status']} in {run['wall_s']} s",
        flush=True,
    )
    return out


# --- (b) no-change rerun -------------------------------------------------------------------------


async def seed_sandbox(stack: Stack, shop_id: str, path: Path, batch: int = 5000) -> dict[str, Any]:
    """The rows' products into the sandbox, live and approved, in NDJSON requests of `batch`."""
    started = time.perf_counter()
    seeded = 0
    lines: list[bytes] = []
    group: list[Row] = []

    async def send() -> None:
        nonlocal seeded, lines
        data = await stack.sb(
            "POST", f"/sandbox/v1/shops/{shop_id}/products:bulk-seed", content=b"\n".join(lines)
        )
        if data["refused"]:
            raise RuntimeError(f"bulk seed refused products: {data['problems'][:3]}")
        seeded += data["seeded"]
        lines = []

    with path.open("rb") as f:
        for raw in f:
            row = orjson.loads(raw)
            if group and row["parent_id"] != group[0]["parent_id"]:
                lines.append(orjson.dumps(create_body(group)))
                group = []
                if len(lines) >= batch:
                    await send()
            group.append(row)
    if group:
        lines.append(orjson.dumps(create_body(group)))
    if lines:
        await send()
    seconds = time.perf_counter() - started
    return {"products": seeded, "seconds": round(seconds, 1), "per_s": round(seeded / seconds)}


async def rerun(
    stack: Stack, connection: str, shop_id: str, work: Path, parents: int, variants: int,
    pictures: int,
) -> dict[str, Any]:  # fmt: skip
    path = work / "large.ndjson"
    rows = write_ndjson(path, rows_of("big", parents, variants, stack.images, pictures))
    print(f"(b) seeding {parents:,} products / {rows:,} SKUs into the sandbox", flush=True)
    seed = await seed_sandbox(stack, shop_id, path)
    print(f"    seeded in {seed['seconds']} s; uploading", flush=True)
    feed = await stack.feed("bench-rerun", connection, adopt_existing=True)
    t0 = time.perf_counter()
    report = await stack.upload(feed["id"], path)
    upload_s = time.perf_counter() - t0
    await stack.reset_stats()
    print("    first run (adopt)", flush=True)
    with RssSampler(stack.pid) as rss_adopt:
        adopt = await stack.run(feed["id"])
    adopt_stats = await stack.stats()
    await stack.reset_stats()
    print(f"    adopted in {adopt['wall_s']} s; the no-change rerun", flush=True)
    cpu0 = cpu_seconds(stack.pid)
    with (
        RssSampler(stack.pid) as rss,
        profiled(stack.pid, "b_rerun"),
        CpuMeter(stack.pids) as meter,
    ):
        again = await stack.run(feed["id"])
    cpu = cpu_seconds(stack.pid) - cpu0
    stats = await stack.stats()
    print(
        f"    rerun {again['status']} in {again['wall_s']} s (run {again['duration_s']} s), "
        f"write calls {writes(stats['calls'])}",
        flush=True,
    )
    return {
        "parents": parents,
        "variants": rows,
        "distinct_pictures": pictures,
        "sandbox_bulk_seed": seed,
        "upload": {"seconds": round(upload_s, 1), "new": report["new"]},
        "adopt_run": {k: adopt[k] for k in ("status", "reason", "counts", "progress", "duration_s")}
        | {
            "wall_s": adopt["wall_s"],
            "sandbox_calls": adopt_stats["calls"],
            "sandbox_rate_limited": adopt_stats["rate_limited"],
            "catalog_sync_peak_rss_mb": rss_adopt.peak_mb,
        },
        "rerun": {k: again[k] for k in ("status", "reason", "counts", "progress", "duration_s")}
        | {
            "wall_s": again["wall_s"],
            "sandbox_calls": stats["calls"],
            "write_calls": sum(writes(stats["calls"]).values()),
            "catalog_sync_cpu_s": round(cpu, 1),
            "cpu_by_process": meter.spent,
            "variants_per_s": round(rows / again["wall_s"]),
            "catalog_sync_peak_rss_mb": rss.peak_mb,
        },
    }


# --- (c) event-driven latency --------------------------------------------------------------------


async def tiktok_ids(db_url: str, feed_id: str) -> dict[str, str]:
    """TikTok product id -> parent id, from catalog-sync's `tiktok_products`."""
    conn = await asyncpg.connect(libpq_dsn(db_url))
    try:
        rows = await conn.fetch(
            "SELECT parent_id, tiktok_product_id FROM tiktok_products"
            " WHERE feed_id = $1 AND status = 'live'",
            feed_id,
        )
    finally:
        await conn.close()
    return {r["tiktok_product_id"]: r["parent_id"] for r in rows}


async def event_latency(
    stack: Stack, connection: str, work: Path, db_url: str, bootstrap: str, events: int,
    rate: float, variants: int,
) -> dict[str, Any]:  # fmt: skip
    path = work / "events.ndjson"
    write_ndjson(path, rows_of("evt", events, variants, stack.images, pictures=20))
    feed = await stack.feed("bench-events", connection, event_driven=True)
    print(f"(c) event-driven feed of {events:,} parents: waiting for its export", flush=True)
    await stack.upload(feed["id"], path)  # the upload is an event: exported by event runs
    deadline = time.monotonic() + 1800
    while len(await tiktok_ids(db_url, feed["id"])) < events:
        if time.monotonic() > deadline:
            raise RuntimeError("the event-driven feed was not exported within 30 min")
        await asyncio.sleep(0.5)
    while True:  # and no run still active
        runs = await stack.cs("GET", f"/v1/feeds/{feed['id']}/runs", params={"limit": 5})
        if all(r["status"] not in ("queued", "running") for r in runs):
            break
        await asyncio.sleep(0.25)
    ids = await tiktok_ids(db_url, feed["id"])
    await stack.reset_stats()
    since = time.time()
    sent: dict[str, float] = {}
    producer = make_producer(bootstrap)
    await producer.start()
    print(f"    {events:,} product.upserted events at {rate}/s", flush=True)
    cpu0 = cpu_seconds(stack.pid)
    try:
        with RssSampler(stack.pid) as rss:
            start = time.perf_counter()
            for row in rows_of("evt", events, variants, stack.images, pictures=20):
                if not row["product_id"].endswith("-0"):
                    continue
                n = len(sent)
                await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
                attrs = {**row, "sku.price": f"{200 + n % 300}.{n % 100:02d}"}
                event = make_event(
                    "product.upserted",
                    "/bench/pim",
                    row["parent_id"],
                    {"feed_id": feed["id"], "product_id": row["product_id"],
                     "parent_id": row["parent_id"], "attributes": attrs},
                )  # fmt: skip
                sent[row["parent_id"]] = time.time()
                await producer.send_and_wait(PRODUCT_CHANGED, encode(event),
                                             key=row["parent_id"].encode())  # fmt: skip
            send_s = time.perf_counter() - start
            arrived: dict[str, float] = {}
            deadline = time.monotonic() + 120
            while len(arrived) < len(sent) and time.monotonic() < deadline:
                for e in await stack.requests(PRICE, since):
                    m = PRICE_PATH.match(e["path"])
                    parent = ids.get(m.group(1)) if m else None
                    if parent is not None and parent not in arrived:
                        arrived[parent] = e["at"]
                if len(arrived) < len(sent):
                    await asyncio.sleep(0.5)
    finally:
        await producer.stop()
    cpu = cpu_seconds(stack.pid) - cpu0
    stats = await stack.stats()
    runs = await stack.cs("GET", f"/v1/feeds/{feed['id']}/runs", params={"limit": 500})
    event_runs = [r for r in runs if datetime.fromisoformat(r["created_at"]).timestamp() >= since]
    latencies = sorted(arrived[p] - sent[p] for p in arrived)

    def pct(p: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 3)

    out = {
        "events": len(sent),
        "rate_per_s": rate,
        "send_seconds": round(send_s, 1),
        "price_calls_seen": len(arrived),
        "missing": len(sent) - len(arrived),
        "latency_s": {
            "p50": pct(0.5),
            "p90": pct(0.9),
            "p99": pct(0.99),
            "max": round(latencies[-1], 3) if latencies else None,
            "min": round(latencies[0], 3) if latencies else None,
        },
        "event_runs": len(event_runs),
        "parents_per_run": round(
            sum(r["progress"]["total"] for r in event_runs) / max(1, len(event_runs)), 1
        ),
        "sandbox_calls": stats["calls"],
        "write_calls": writes(stats["calls"]),
        "catalog_sync_cpu_s": round(cpu, 1),
        "catalog_sync_peak_rss_mb": rss.peak_mb,
        "settings": {
            "TTS_EVENT_BATCH_SECONDS": f"{_default('event_batch_seconds')} (default)",
            "TTS_RUN_POLL_SECONDS": f"{_default('run_poll_seconds')} (default)",
        },
    }
    print(f"    latency {out['latency_s']}", flush=True)
    return out


# --- the run -------------------------------------------------------------------------------------


def verdict(value: float | None, target: float, *, at_most: bool = False) -> dict[str, Any]:
    if value is None:
        return {"value": None, "target": target, "passed": False}
    passed = value <= target if at_most else value >= target
    return {"value": value, "target": target, "passed": passed}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load = os.getloadavg()
    server = os.environ.get("TTS_DATABASE_URL", DEFAULT_DB)
    bootstrap = os.environ.get("TTS_KAFKA_BOOTSTRAP", DEFAULT_KAFKA)
    work = Path(tempfile.mkdtemp(prefix="catalog-export-bench-"))
    catalog_db = new_database_name("bench_export")
    broker_db = new_database_name("bench_export_broker")
    catalog_url, broker_url = database_url(server, catalog_db), database_url(server, broker_db)
    for name in (catalog_db, broker_db):
        await admin_sql(server, f'CREATE DATABASE "{name}"')
    prefix = f"bench-export-{uuid.uuid4().hex[:8]}-"
    await skip_history(bootstrap, prefix + "catalog-sync")
    result: dict[str, Any] = {
        "benchmark": "catalog-sync delta export: sandbox + auth-broker + catalog-sync serve,"
        " real Kafka and PostgreSQL",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
    }
    sandbox_port, broker_port, catalog_port, image_port = (free_port() for _ in range(4))
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    broker_base = f"http://127.0.0.1:{broker_port}"
    sandbox_env = {
        **os.environ,
        "SANDBOX_QPS": str(QPS),
        "SANDBOX_AUDIT_DELAY_SECONDS": "1",
        "SANDBOX_REDIRECT_URL": f"{broker_base}/v1/oauth/callback",
    }
    broker_env = settings_env(
        database_url=broker_url,
        kafka_bootstrap=bootstrap,
        log_level="WARNING",
        tiktok_app_key=APP_KEY,
        tiktok_app_secret=APP_SECRET,
        tiktok_open_api_url=sandbox_url,
        tiktok_auth_url=sandbox_url,
        tiktok_us_authorize_url=sandbox_url,
        tiktok_global_authorize_url=sandbox_url,
        service_credentials=f"catalog-sync:{SERVICE_SECRET}",
        refresher_enabled=False,
        consumer_group_prefix=prefix,
    )
    catalog_env = settings_env(
        database_url=catalog_url,
        kafka_bootstrap=bootstrap,
        log_level="WARNING",
        auth_broker_url=broker_base,
        service_credential=SERVICE_SECRET,
        tiktok_open_api_url=sandbox_url,
        tiktok_app_key=APP_KEY,
        tiktok_app_secret=APP_SECRET,
        run_concurrency=args.concurrency,
        tiktok_qps=args.client_qps,
        consumer_group_prefix=prefix,
        **{k: v for k, v in (kv.split("=", 1) for kv in args.catalog_env)},
    )
    result["catalog_sync_settings"] = {
        "TTS_RUN_CONCURRENCY": args.concurrency,
        "TTS_TIKTOK_QPS": args.client_qps,
        **{f"TTS_{k.upper()}": v for k, v in (kv.split("=", 1) for kv in args.catalog_env)},
    }
    logs = work
    try:
        migrate = [sys.executable, "-m", "auth_broker.cli", "migrate"]
        await asyncio.to_thread(
            subprocess.run, migrate, env=broker_env, check=True, stdout=subprocess.DEVNULL
        )
        with (
            process(
                [sys.executable, "-m", "tiktok_sandbox", "--port", str(sandbox_port),
                 "--log-level", "warning"],
                sandbox_env, logs / "sandbox.log", sandbox_url + "/healthz",
            ) as sandbox_proc,
            process(
                [sys.executable, __file__, "--serve-images", str(image_port)],
                dict(os.environ), logs / "images.log", f"http://127.0.0.1:{image_port}/healthz",
            ) as image_proc,
            broker_process(broker_env, broker_port, logs / "broker.log") as broker_proc,
            process(
                ["uv", "run", "--no-sync", "catalog-sync", "serve", "--port", str(catalog_port)],
                catalog_env, logs / "catalog-sync.log", f"http://127.0.0.1:{catalog_port}/readyz",
            ) as catalog_proc,
        ):  # fmt: skip
            pid = python_pid(catalog_proc.pid, b"catalog-sync")
            stack = Stack(
                sandbox_url,
                broker_base,
                f"http://127.0.0.1:{catalog_port}",
                f"http://127.0.0.1:{image_port}",
                pid,
                {
                    "catalog_sync": pid,
                    "sandbox": sandbox_proc.pid,
                    "auth_broker": broker_proc.process.pid,
                    "image_server": image_proc.pid,
                },
            )
            try:
                result["catalog_sync_rss_mb_at_start"] = round(_status_kb(pid, "VmRSS") / 1024, 1)
                connection = await stack.connect()
                shop_id = UK_SHOP_ID
                phases = set(args.phases.split(","))
                marks: dict[str, dict[str, Any]] = {}

                def mark(phase: str) -> None:
                    marks[PHASES[phase]] = {
                        "at": datetime.now(UTC).isoformat(timespec="seconds"),
                        "load_average_at_start_1_5_15": [round(x, 2) for x in os.getloadavg()],
                    }

                if "a" in phases:
                    mark("a")
                    result["a_initial_sync"] = await initial_sync(
                        stack, connection, work, args.initial_parents, args.variants
                    )
                if "b" in phases:
                    mark("b")
                    result["b_no_change_rerun"] = await rerun(
                        stack, connection, shop_id, work, args.rerun_parents, args.variants,
                        args.pictures,
                    )  # fmt: skip
                if "c" in phases:
                    mark("c")
                    result["c_event_latency"] = await event_latency(
                        stack, connection, work, catalog_url, bootstrap, args.events,
                        args.event_rate, args.event_variants,
                    )  # fmt: skip
                for key in PHASES.values():
                    if key in result:
                        result[key]["measured"] = marks[key]
                result["catalog_sync_peak_rss_mb"] = round(_status_kb(pid, "VmHWM") / 1024, 1)
                result["sandbox_peak_rss_mb"] = round(
                    _status_kb(sandbox_proc.pid, "VmHWM") / 1024, 1
                )
            finally:
                await stack.aclose()
        tail = (logs / "catalog-sync.log").read_text(errors="replace").splitlines()[-8:]
        if any(line.strip() for line in tail):
            result["catalog_sync_log_tail"] = tail
    finally:
        for name in (catalog_db, broker_db):
            with contextlib.suppress(Exception):
                await admin_sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")
    result["targets"] = targets(result)
    result["meets_targets"] = all(t["passed"] for t in result["targets"].values())
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start_1_5_15": [round(x, 2) for x in load],
        "load_average_at_end_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }
    return result


def targets(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    a = result.get("a_initial_sync")
    if a:
        out["a_create_rate_share_of_limit"] = verdict(
            round((a["creates"].get("middle_per_s") or 0) / QPS, 3), TARGET_RATE_SHARE
        )
        out["a_429_share_sandbox"] = verdict(a["sandbox_429_share"], TARGET_429_SHARE, at_most=True)
        out["a_429_share_call_log"] = verdict(
            a["call_log_429_share"], TARGET_429_SHARE, at_most=True
        )
        out["a_run_succeeded"] = {"value": a["run"]["status"], "passed": a["run"]["status"]
                                  == "succeeded" and a["run"]["counts"].get("create", {}).get("ok")
                                  == a["parents"]}  # fmt: skip
    b = result.get("b_no_change_rerun")
    if b:
        out["b_rerun_seconds"] = verdict(b["rerun"]["wall_s"], TARGET_RERUN_S, at_most=True)
        out["b_rerun_write_calls"] = verdict(b["rerun"]["write_calls"], 0, at_most=True)
    c = result.get("c_event_latency")
    if c:
        out["c_latency_p99_s"] = verdict(c["latency_s"]["p99"], TARGET_P99_S, at_most=True)
        out["c_every_event_priced"] = {"value": c["missing"], "passed": c["missing"] == 0}
    if "catalog_sync_peak_rss_mb" in result:
        out["d_catalog_sync_peak_rss_mb"] = verdict(
            result["catalog_sync_peak_rss_mb"], TARGET_RSS_MB, at_most=True
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-images", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="small sizes; no result file")
    parser.add_argument("--phases", default="a,b,c")
    parser.add_argument("--initial-parents", type=int, default=10_000)
    parser.add_argument("--rerun-parents", type=int, default=100_000)
    parser.add_argument("--variants", type=int, default=5)
    parser.add_argument("--pictures", type=int, default=100, help="distinct pictures in (b)")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--event-rate", type=float, default=20.0)
    parser.add_argument("--event-variants", type=int, default=2)
    parser.add_argument(
        "--client-qps", type=float, default=QPS, help="TTS_TIKTOK_QPS (the client's pace)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=64,
        help="TTS_RUN_CONCURRENCY: products in flight; 200 calls/s x 100-300 ms in flight each",
    )
    parser.add_argument(
        "--catalog-env", action="append", default=[], help="name=value: another TTS_ setting"
    )
    parser.add_argument("--profile", type=Path, default=None, help="py-spy output directory")
    parser.add_argument(
        "--merge", action="store_true", help="keep the other phases of an existing result file"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory and logs")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.serve_images:
        serve_images(args.serve_images)
        return 0
    if args.profile is not None:
        global PROFILE_DIR
        PROFILE_DIR = args.profile
        args.profile.mkdir(parents=True, exist_ok=True)
    if args.quick:
        args.initial_parents = min(args.initial_parents, 600)
        args.rerun_parents = min(args.rerun_parents, 2000)
        args.events = min(args.events, 60)
    result = asyncio.run(run(args))
    out = args.out or (None if args.quick else RESULTS)
    if args.merge and out is not None and out.exists():
        # Phases measured by an earlier invocation (`--phases b` then `--phases a,c`) are kept;
        # each phase records its own timestamp and the machine's load.
        earlier = orjson.loads(out.read_bytes())
        for key in PHASES.values():
            if key not in result and key in earlier:
                result[key] = earlier[key]
        peaks = [earlier.get("catalog_sync_peak_rss_mb"), result.get("catalog_sync_peak_rss_mb")]
        result["catalog_sync_peak_rss_mb"] = max(p for p in peaks if p is not None)
        result["invocations"] = [*earlier.get("invocations", [earlier["timestamp"]]),
                                 result["timestamp"]]  # fmt: skip
        result["targets"] = targets(result)
        result["meets_targets"] = all(t["passed"] for t in result["targets"].values())
    text = orjson.dumps(result, option=orjson.OPT_INDENT_2).decode()
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        print(f"written {out}")
    return 0 if result["meets_targets"] else 1


if __name__ == "__main__":
    sys.exit(main())

"""Token leases of the auth-broker under concurrency, and refresh storms.

Starts the TikTok sandbox (`python -m tiktok_sandbox`) and the real auth-broker
(`python -m auth_broker.cli serve`, after `migrate`) as their own processes on a throw-away
database, authorizes one US connection through the sandbox's OAuth pages (as a seller
would), then:

1. **valid token** — `POST /internal/v1/connections/{id}/token` with a service credential,
   at concurrency 1 and 50 (`--concurrency`), each caller on its own keep-alive connection.
   Every answer must be 200 and carry the stored token. Two load generators: a lean raw
   HTTP/1.1 client (`--leases`, `--repeat` runs per level; the target is judged on it) and
   httpx.AsyncClient (`--httpx-leases`), which costs more CPU per request than the broker
   and so measures mostly itself at concurrency 50 on 2 cores.
   Target: p99 <= 50 ms at concurrency 50, every run.
2. **stale-token storm** — `--storm` leases at once, all reporting the current token as
   rejected by TikTok (`stale_token_sha256`, docs/auth-broker.md): exactly one sandbox
   refresh per round, and every caller gets the one new token.
3. **expiry storm** — a second broker on the same database whose
   `TTS_LEASE_MIN_VALIDITY_SECONDS` is the sandbox's token lifetime minus a few seconds, so
   the stored token falls due a few seconds after each refresh; once it has, `--storm` leases
   arrive at once: exactly one refresh per expiry, one new token for everyone.

The sandbox counts refreshes (`GET /sandbox/v1/stats` → `token_refreshes`). The load
generator shares the machine's cores with the broker, the sandbox and PostgreSQL: the JSON
records the CPU seconds per lease of the broker process and of this one, and this process's
own garbage-collector pauses (frozen after start-up, as the services do, so they stay short).

    uv run python bench/lease_bench.py [--leases 10000] [--repeat 3] [--strict]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from auth_broker.testing import (
    BrokerProcess,
    approve_in_sandbox,
    broker_process,
    free_port,
    settings_env,
)
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "lease.json"
DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:55432/postgres"
DEFAULT_KAFKA = "127.0.0.1:9092"
SERVICE_SECRET = "dev-service-credential"  # the dev default of TTS_SERVICE_CREDENTIALS
ADMIN_KEY = "dev-admin-key"  # the dev default of TTS_ADMIN_API_KEYS
TARGET_P99_MS = 50.0
TARGET_CONCURRENCY = 50
# Sandbox access-token lifetime, and how long after a refresh the storm broker finds it due.
TOKEN_TTL_S = 3600
STORM_GAP_S = 6
T = TypeVar("T")


# -- processes ----------------------------------------------------------------------------
def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def sandbox(port: int, redirect: str) -> Iterator[str]:
    env = {
        **os.environ,
        "SANDBOX_QPS": "0",
        "SANDBOX_ACCESS_TOKEN_TTL_SECONDS": str(TOKEN_TTL_S),
        "SANDBOX_REDIRECT_URL": redirect,
    }
    cmd = [sys.executable, "-m", "tiktok_sandbox", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("sandbox did not start")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def broker_env(database_url: str, kafka: str, sandbox_url: str, **extra: Any) -> dict[str, str]:
    return settings_env(
        database_url=database_url,
        kafka_bootstrap=kafka,
        log_level="WARNING",
        tiktok_open_api_url=sandbox_url,
        tiktok_auth_url=sandbox_url,
        tiktok_us_authorize_url=sandbox_url,
        tiktok_global_authorize_url=sandbox_url,
        **extra,
    )


async def admin_sql(server_url: str, sql: str) -> None:
    dsn = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


# -- load ---------------------------------------------------------------------------------
class GcPauses:
    """This process's collector pauses while a measurement runs (they delay every caller)."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append(time.perf_counter() - self._started)

    def __enter__(self) -> GcPauses:
        gc.collect()
        gc.freeze()
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def summary(self) -> dict[str, Any]:
        return {
            "count": len(self.pauses),
            "max_ms": round(max(self.pauses, default=0.0) * 1000, 2),
        }


def summary(latencies: list[float], elapsed: float, errors: int) -> dict[str, Any]:
    ordered = sorted(latencies) or [0.0]

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

    return {
        "requests": len(latencies) + errors,
        "errors": errors,
        "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1),
        "latency_ms": {
            "p50": pct(0.50),
            "p90": pct(0.90),
            "p99": pct(0.99),
            "max": round(ordered[-1] * 1000, 2),
        },
    }


async def fire(
    call: Callable[[], Awaitable[T]],
    total: int,
    concurrency: int,
    check: Callable[[T], bool],
) -> tuple[list[float], int, float]:
    """`total` calls by `concurrency` callers that start together; (latencies, errors, seconds)."""
    latencies: list[float] = []
    errors = 0
    remaining = total
    gate = asyncio.Event()

    async def caller() -> None:
        nonlocal remaining, errors
        await gate.wait()
        while remaining > 0:
            remaining -= 1
            started = time.perf_counter()
            answer = await call()
            took = time.perf_counter() - started
            if check(answer):
                latencies.append(took)
            else:
                errors += 1

    tasks = [asyncio.create_task(caller()) for _ in range(concurrency)]
    await asyncio.sleep(0)  # every caller is waiting on the gate
    started = time.perf_counter()
    gate.set()
    await asyncio.gather(*tasks)
    return latencies, errors, time.perf_counter() - started


class RawLeaser:
    """A lean keep-alive HTTP/1.1 client for the lease call: pre-built request bytes and a
    Content-Length read, a few tens of microseconds of CPU per request. httpx costs about as
    much CPU per request as the broker, and on 2 cores that CPU is taken from the broker."""

    def __init__(self, port: int, connection_id: str, body: dict[str, str] | None = None) -> None:
        self.port = port
        payload = json.dumps(body).encode() if body is not None else b""
        typed = "Content-Type: application/json\r\n" if body is not None else ""
        self.request = (
            f"POST /internal/v1/connections/{connection_id}/token HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {SERVICE_SECRET}\r\n"
            f"{typed}Content-Length: {len(payload)}\r\n\r\n"
        ).encode() + payload
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def __call__(self) -> tuple[int, bytes]:
        if self.idle:
            reader, writer = self.idle.pop()
        else:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(self.request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = await reader.readexactly(length)
        self.idle.append((reader, writer))
        return int(head[9:12]), body

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def port_of(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1])


class Bench:
    def __init__(self, http: httpx.AsyncClient, sandbox_url: str, connection_id: str) -> None:
        self.http = http
        self.sandbox_url = sandbox_url
        self.connection_id = connection_id
        self.headers = {"Authorization": f"Bearer {SERVICE_SECRET}"}

    def lease(self, base: str) -> Awaitable[httpx.Response]:
        url = f"{base}/internal/v1/connections/{self.connection_id}/token"
        return self.http.post(url, headers=self.headers)

    async def refreshes(self) -> int:
        stats = (await self.http.get(self.sandbox_url + "/sandbox/v1/stats")).json()
        return int(stats["data"]["token_refreshes"])

    async def current(self, base: str) -> dict[str, Any]:
        r = await self.lease(base)
        r.raise_for_status()
        lease: dict[str, Any] = r.json()
        return lease

    async def valid_leases(
        self, broker: BrokerProcess, total: int, concurrency: int, client: str
    ) -> dict[str, Any]:
        token = (await self.current(broker.base_url))["access_token"]
        raw = RawLeaser(port_of(broker.base_url), self.connection_id)

        def raw_ok(answer: tuple[int, bytes]) -> bool:
            return answer[0] == 200 and json.loads(answer[1])["access_token"] == token

        def httpx_ok(r: httpx.Response) -> bool:
            return r.status_code == 200 and r.json()["access_token"] == token

        server_cpu, client_cpu = proc_cpu(broker.process.pid), self_cpu()
        with GcPauses() as pauses:
            try:
                if client == "raw":
                    latencies, errors, elapsed = await fire(raw, total, concurrency, raw_ok)
                else:
                    call = lambda: self.lease(broker.base_url)  # noqa: E731
                    latencies, errors, elapsed = await fire(call, total, concurrency, httpx_ok)
            finally:
                raw.close()
        server_cpu = proc_cpu(broker.process.pid) - server_cpu
        client_cpu = self_cpu() - client_cpu
        return {
            "client": client,
            "concurrency": concurrency,
            **summary(latencies, elapsed, errors),
            "broker_cpu_ms_per_lease": round(server_cpu * 1000 / total, 3),
            "client_cpu_ms_per_lease": round(client_cpu * 1000 / total, 3),
            "client_gc_pauses": pauses.summary(),
        }

    async def storm(
        self, base: str, total: int, stale: bool, old_token: str
    ) -> tuple[dict[str, Any], str]:
        """`total` leases at once; (result, the token they were handed)."""
        before = await self.refreshes()
        tokens: set[str] = set()
        body = {"stale_token_sha256": sha256(old_token)} if stale else None
        raw = RawLeaser(port_of(base), self.connection_id, body)

        def check(answer: tuple[int, bytes]) -> bool:
            if answer[0] != 200:
                return False
            tokens.add(json.loads(answer[1])["access_token"])
            return True

        try:
            latencies, errors, elapsed = await fire(raw, total, total, check)
        finally:
            raw.close()
        refreshes = await self.refreshes() - before
        new = next(iter(tokens)) if len(tokens) == 1 else ""
        return {
            "leases": total,
            "errors": errors,
            "sandbox_refreshes": refreshes,
            "distinct_tokens_handed_out": len(tokens),
            "old_token_handed_out": old_token in tokens,
            "exactly_one_refresh": refreshes == 1
            and len(tokens) == 1
            and old_token not in tokens
            and errors == 0,
            "latency_ms": summary(latencies, elapsed, errors)["latency_ms"],
        }, new


async def authorize(http: httpx.AsyncClient, base: str) -> str:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    r = await http.post(
        base + "/v1/connections", json={"name": "lease bench", "market": "US"}, headers=admin
    )
    r.raise_for_status()
    created = r.json()
    callback = await approve_in_sandbox(http, created["authorize_url"], "US")
    page = await http.get(callback)
    if page.status_code != 200:
        raise RuntimeError(f"OAuth callback answered {page.status_code}")
    return str(created["id"])


async def run(args: argparse.Namespace, logs: Path) -> dict[str, Any]:
    server = os.environ.get("TTS_DATABASE_URL", DEFAULT_DB)
    kafka = os.environ.get("TTS_KAFKA_BOOTSTRAP", DEFAULT_KAFKA)
    db_name = f"lease_bench_{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}_{os.getpid()}"
    db_url = make_url(server).set(database=db_name).render_as_string(hide_password=False)
    await admin_sql(server, f'CREATE DATABASE "{db_name}"')
    broker_port, storm_port, sandbox_port = free_port(), free_port(), free_port()
    redirect = f"http://127.0.0.1:{broker_port}/v1/oauth/callback"
    report: dict[str, Any] = {}
    try:
        with sandbox(sandbox_port, redirect) as sandbox_url:
            env = broker_env(db_url, kafka, sandbox_url)
            migrate = [sys.executable, "-m", "auth_broker.cli", "migrate"]
            await asyncio.to_thread(
                subprocess.run, migrate, env=env, check=True, stdout=subprocess.DEVNULL
            )
            most = max(args.concurrency)
            limits = httpx.Limits(max_connections=most, max_keepalive_connections=most)
            async with httpx.AsyncClient(timeout=60, limits=limits) as http:
                with broker_process(env, broker_port, logs / "broker.log") as broker:
                    connection_id = await authorize(http, broker.base_url)
                    bench = Bench(http, sandbox_url, connection_id)
                    for client in ("raw", "httpx"):
                        await bench.valid_leases(broker, args.warmup, most, client)
                    levels = []
                    for c in args.concurrency:
                        for _ in range(args.repeat):
                            levels.append(await bench.valid_leases(broker, args.leases, c, "raw"))
                    for c in args.concurrency:
                        levels.append(
                            await bench.valid_leases(broker, args.httpx_leases, c, "httpx")
                        )
                    report["valid_token"] = levels
                    token = (await bench.current(broker.base_url))["access_token"]
                    stale_rounds = []
                    for _ in range(args.rounds):
                        result, token = await bench.storm(broker.base_url, args.storm, True, token)
                        stale_rounds.append(result)
                    report["stale_token_storm"] = stale_rounds
                    expires_at = (await bench.current(broker.base_url))["expires_at"]
                storm_env = broker_env(
                    db_url,
                    kafka,
                    sandbox_url,
                    lease_min_validity_seconds=TOKEN_TTL_S - STORM_GAP_S,
                    refresher_enabled=False,
                )
                with broker_process(storm_env, storm_port, logs / "storm-broker.log") as storm:
                    expiry_rounds = []
                    for _ in range(args.rounds):
                        # Due once fewer than TOKEN_TTL_S - STORM_GAP_S seconds remain (+1:
                        # `expires_at` is whole seconds).
                        due = expires_at - (TOKEN_TTL_S - STORM_GAP_S) + 1
                        await asyncio.sleep(max(0.0, due - time.time()))
                        result, token = await bench.storm(storm.base_url, args.storm, False, token)
                        expiry_rounds.append(result)
                        # The next expiry is STORM_GAP_S after this refresh.
                        expires_at = (await bench.current(storm.base_url))["expires_at"]
                    report["expiry_storm"] = expiry_rounds
    finally:
        await admin_sql(server, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    return report


def machine() -> dict[str, Any]:
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
        "python": platform.python_version(),
        "platform": platform.platform(),
        # Other work on the machine during the run skews every number.
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leases", type=int, default=10_000, help="per raw-client run")
    parser.add_argument("--repeat", type=int, default=3, help="raw-client runs per level")
    parser.add_argument("--httpx-leases", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, TARGET_CONCURRENCY])
    parser.add_argument("--storm", type=int, default=50, help="leases arriving at once")
    parser.add_argument("--rounds", type=int, default=3, help="storms of each kind")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    loop = "asyncio"
    runner: Callable[[Awaitable[dict[str, Any]]], dict[str, Any]] = asyncio.run  # type: ignore[assignment]
    try:
        import uvloop

        runner = uvloop.run  # type: ignore[assignment]
        loop = "uvloop"
    except ImportError:
        pass
    load_before = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lease-bench-") as tmp:
        logs = Path(tmp)
        try:
            result = runner(run(args, logs))
        except Exception:
            for log in sorted(logs.glob("*.log")):
                sys.stderr.write(f"--- {log.name}\n{log.read_text()[-4000:]}\n")
            raise
        troubled = [
            log.name
            for log in logs.glob("*.log")
            if "Traceback" in log.read_text() or '"ERROR"' in log.read_text()
        ]
    at_target = [
        r
        for r in result["valid_token"]
        if r["concurrency"] == TARGET_CONCURRENCY and r["client"] == "raw"
    ]
    storms = result["stale_token_storm"] + result["expiry_storm"]
    checks = {
        "p99_at_concurrency_50_within_target": bool(at_target)
        and all(r["latency_ms"]["p99"] <= TARGET_P99_MS and r["errors"] == 0 for r in at_target),
        "exactly_one_refresh_per_expiry": all(s["exactly_one_refresh"] for s in storms),
        "broker_logs_without_errors": not troubled,
    }
    report = {
        "benchmark": "auth-broker token leases",
        "target": {
            "p99_ms_at_concurrency_50": TARGET_P99_MS,
            "refreshes_per_expiry": 1,
        },
        "passed": all(checks.values()),
        "checks": checks,
        **result,
        "setup": {
            "server": "python -m auth_broker.cli serve (uvicorn, 1 process, h11), "
            "TTS_LOG_LEVEL=WARNING, default pool (TTS_DB_POOL_SIZE=10)",
            "clients": f"in this process on {loop}, keep-alive, one connection per concurrent "
            "caller: 'raw' = pre-built HTTP/1.1 requests over asyncio streams, 'httpx' = "
            "httpx.AsyncClient; both share the cores with the broker, sandbox and PostgreSQL",
            "raw_leases_per_run": args.leases,
            "httpx_leases_per_level": args.httpx_leases,
            "warmup_leases": args.warmup,
            "storm_leases_at_once": args.storm,
            "sandbox_access_token_ttl_s": TOKEN_TTL_S,
            "expiry_storm_broker_min_validity_s": TOKEN_TTL_S - STORM_GAP_S,
        },
        "machine": {**machine(), "load_average_1_before": load_before[0]},
        "wall_seconds": round(time.perf_counter() - started, 1),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 1 if args.strict and not report["passed"] else 0


if __name__ == "__main__":
    sys.exit(main())

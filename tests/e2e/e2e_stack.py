"""The whole stack as real processes on free ports: the sandbox and every service, each
`<service> serve` with its own database on the shared PostgreSQL and Kafka.

What `deploy/local/supervisord.conf` runs, with other ports and databases, so an end-to-end
test never touches the stack other people run on the default ports. Each process logs to a
file of its own (the tests read them for secrets).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiokafka import TopicPartition
from sqlalchemy.engine import make_url
from tts_common.events import ALL_TOPICS
from tts_common.kafka import ensure_topics, make_consumer

BIN = Path(sys.executable).parent
SERVICES = ("auth-broker", "catalog-sync", "order-ingest", "shipment-notifier")
# Every consumer group the services join (the service's name, plus order-ingest's push).
GROUPS = (*SERVICES, "order-ingest-push")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    name: str
    port: int
    log: Path
    popen: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class E2EStack:
    sandbox: str
    urls: dict[str, str]
    databases: dict[str, str]
    group_prefix: str
    logs: dict[str, Path] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)


async def _skip_history(bootstrap: str, groups: list[str]) -> None:
    """Commit each group's offsets at the topics' current ends: the stack sees only the events
    of this run (the shared topics hold every earlier run's, of other sandboxes)."""
    await ensure_topics(bootstrap)
    for group in groups:
        consumer = make_consumer(bootstrap, group)
        await consumer.start()
        try:
            await consumer._client.force_metadata_update()
            parts = [
                TopicPartition(t, p)
                for t in ALL_TOPICS
                for p in sorted(consumer.partitions_for_topic(t) or [])
            ]
            consumer.assign(parts)
            await consumer.commit(dict(await consumer.end_offsets(parts)))
        finally:
            await consumer.stop()


def skip_history(bootstrap: str, groups: list[str]) -> None:
    """`_skip_history` from sync or async callers alike (its own loop, in a thread)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _skip_history(bootstrap, groups)).result()


def _wait(proc: Proc, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}): {_tail(proc.log)}")
        try:
            r = httpx.get(proc.url + path, timeout=2)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.2)
    raise RuntimeError(f"{proc.name} not ready on {proc.url}{path}: {last}\n{_tail(proc.log)}")


def _tail(path: Path) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-20:])
    except OSError:
        return ""


def _start(name: str, args: list[str], env: dict[str, str], logs: Path, port: int) -> Proc:
    log = logs / f"{name}.log"
    out = log.open("wb")
    popen = subprocess.Popen(
        args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    out.close()
    return Proc(name, port, log, popen)


def _stop(proc: Proc) -> None:
    if proc.popen.poll() is None:
        proc.popen.terminate()
        try:
            proc.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            proc.popen.wait()


@contextlib.contextmanager
def run_stack(
    pg_server_url: str,
    kafka_bootstrap: str,
    logs: Path,
    *,
    sandbox_env: dict[str, str] | None = None,
    service_env: dict[str, dict[str, str]] | None = None,
) -> Iterator[E2EStack]:
    """Start the sandbox, then every service (`serve` migrates first); stop them all after."""
    logs.mkdir(parents=True, exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TTS_", "SANDBOX_"))}
    base["PYTHONUNBUFFERED"] = "1"
    group_prefix = f"{os.environ.get('TTS_CONSUMER_GROUP_PREFIX', 'e2e-')}{uuid.uuid4().hex[:8]}-"
    skip_history(kafka_bootstrap, [group_prefix + g for g in GROUPS])
    ports = {name: free_port() for name in ("tiktok-sandbox", *SERVICES)}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    sandbox = urls.pop("tiktok-sandbox")
    tag = uuid.uuid4().hex[:10]
    databases = {
        name: make_url(pg_server_url)
        .set(drivername="postgresql+asyncpg", database=f"e2e_{name.replace('-', '_')}_{tag}")
        .render_as_string(hide_password=False)
        for name in SERVICES
    }
    stack = E2EStack(sandbox, urls, databases, group_prefix)
    procs: list[Proc] = []
    try:
        env = base | {"SANDBOX_REDIRECT_URL": f"{urls['auth-broker']}/v1/oauth/callback"}
        env |= sandbox_env or {}
        sb = _start(
            "tiktok-sandbox",
            [str(BIN / "tiktok-sandbox"), "--port", str(ports["tiktok-sandbox"])],
            env,
            logs,
            ports["tiktok-sandbox"],
        )
        procs.append(sb)
        _wait(sb, "/sandbox/v1/stats", 60)
        for name in SERVICES:
            env = base | {
                "TTS_HTTP_PORT": str(ports[name]),
                "TTS_DATABASE_URL": databases[name],
                "TTS_KAFKA_BOOTSTRAP": kafka_bootstrap,
                "TTS_CONSUMER_GROUP_PREFIX": group_prefix,
                "TTS_TIKTOK_OPEN_API_URL": sandbox,
                "TTS_LOG_JSON": "true",
            }
            if name == "auth-broker":
                env |= {
                    "TTS_TIKTOK_AUTH_URL": sandbox,
                    "TTS_TIKTOK_US_AUTHORIZE_URL": sandbox,
                    "TTS_TIKTOK_GLOBAL_AUTHORIZE_URL": sandbox,
                }
            else:
                env["TTS_AUTH_BROKER_URL"] = urls["auth-broker"]
            env |= (service_env or {}).get(name, {})
            proc = _start(name, [str(BIN / name), "serve"], env, logs, ports[name])
            procs.append(proc)
            _wait(proc, "/readyz", 120)
        stack.procs = {p.name: p for p in procs}
        stack.logs = {p.name: p.log for p in procs}
        yield stack
    finally:
        for proc in reversed(procs):
            _stop(proc)

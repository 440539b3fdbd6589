"""Test helpers: run the broker over real HTTP, in a thread or as a separate process.

- `run_broker(settings, clock=...)`: uvicorn in a background thread on `settings.http_port`.
- `broker_process(env, port, log_path)`: `python -m auth_broker.cli serve` as a subprocess,
  its stdout/stderr written to `log_path` (tests search it for leaked secrets).
- `settings_env(**values)`: the `TTS_*` environment for a subprocess.
- `sandbox_settings(sandbox, database_url, kafka_bootstrap, **overrides)`: settings values
  that point every TikTok host of the broker at a running sandbox.
- `ShiftableClock()`: a broker clock the test moves forward.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin

import httpx
import uvicorn
from aiokafka import AIOKafkaConsumer
from tts_common.events import CONNECTION_CHANGED, CloudEvent, decode

from auth_broker.app import create_app
from auth_broker.config import Settings
from auth_broker.context import utcnow

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class ShiftableClock:
    """A broker clock for tests: real UTC time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def admin_headers(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.admin_keys()[0]}"}


def service_headers(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {next(iter(settings.service_credential_map()))}"}


class _SandboxApp(Protocol):
    @property
    def app_key(self) -> str: ...
    @property
    def app_secret(self) -> str: ...
    @property
    def service_id(self) -> str: ...


class SandboxLike(Protocol):
    """What the broker needs of `tiktok_sandbox.testing.RunningSandbox` (not a dependency)."""

    @property
    def base_url(self) -> str: ...
    @property
    def settings(self) -> _SandboxApp: ...


def sandbox_settings(
    sandbox: SandboxLike, database_url: str, kafka_bootstrap: str, **overrides: Any
) -> dict[str, Any]:
    """Settings values for a broker whose TikTok is `sandbox` (as its app), plus `overrides`.

    Values, not a `Settings`: they feed `Settings(**values)` for an in-process broker and
    `settings_env(**values)` for a broker subprocess alike.
    """
    app = sandbox.settings
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap": kafka_bootstrap,
        "tiktok_app_key": app.app_key,
        "tiktok_app_secret": app.app_secret,
        "tiktok_service_id": app.service_id,
        "tiktok_open_api_url": sandbox.base_url,
        "tiktok_auth_url": sandbox.base_url,
        "tiktok_us_authorize_url": sandbox.base_url,
        "tiktok_global_authorize_url": sandbox.base_url,
    }
    return values | overrides


@dataclass
class RunningBroker:
    base_url: str
    settings: Settings

    @property
    def admin(self) -> dict[str, str]:
        return admin_headers(self.settings)

    @property
    def service(self) -> dict[str, str]:
        return service_headers(self.settings)


def _wait_ready(base_url: str, alive: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"broker at {base_url} exited during start-up")
        try:
            r = httpx.get(base_url + "/readyz", timeout=2)
            if r.status_code == 200:
                return
            last = r.text
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.1)
    raise RuntimeError(f"broker at {base_url} not ready after {timeout}s: {last}")


@contextlib.contextmanager
def run_broker(
    settings: Settings, *, clock: Callable[[], datetime] = utcnow, ready_timeout: float = 30
) -> Iterator[RunningBroker]:
    """Serve the broker (already migrated database) in a thread until the block ends."""
    app = create_app(settings, clock=clock)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, name=f"auth-broker-{settings.http_port}", daemon=True
    )
    thread.start()
    base_url = f"http://127.0.0.1:{settings.http_port}"
    try:
        _wait_ready(base_url, thread.is_alive, ready_timeout)
        yield RunningBroker(base_url, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def settings_env(**values: Any) -> dict[str, str]:
    """`TTS_<NAME>` variables for a subprocess (on top of a copy of this environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTS_")}
    for key, value in values.items():
        if value is None:
            continue
        raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        env[f"TTS_{key.upper()}"] = str(raw).lower() if isinstance(raw, bool) else str(raw)
    return env


@dataclass
class BrokerProcess:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path


@contextlib.contextmanager
def broker_process(
    env: Mapping[str, str], port: int, log_path: Path, ready_timeout: float = 60
) -> Iterator[BrokerProcess]:
    """`auth-broker serve` in its own process (own event loop, pool and lock waits)."""
    log_file = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "auth_broker.cli", "serve", "--no-migrate", "--port", str(port)],
        env=dict(env),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base_url, lambda: proc.poll() is None, ready_timeout)
        yield BrokerProcess(base_url, proc, log_path)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        log_file.close()


_APPROVE_RE = re.compile(r'id="approve-(?P<region>[A-Z]+)" href="(?P<href>[^"]+)"')


async def approve_in_sandbox(http: httpx.AsyncClient, authorize_url: str, region: str) -> str:
    """Play the seller: open the authorize page, click approve; return TikTok's redirect target."""
    page = await http.get(authorize_url)
    page.raise_for_status()
    links = {m["region"]: html.unescape(m["href"]) for m in _APPROVE_RE.finditer(page.text)}
    if region not in links:
        raise AssertionError(f"no approve link for {region} on the authorize page")
    approve = await http.get(urljoin(authorize_url, links[region]), follow_redirects=False)
    if approve.status_code != 302:
        raise AssertionError(f"approve answered {approve.status_code}, expected a redirect")
    return approve.headers["location"]


async def wait_for_connection_event(
    bootstrap: str, connection_id: str, event_type: str, within: float = 30
) -> CloudEvent:
    """Consume `tiktok.connection-changed.v1` from the start until the event shows up."""
    consumer = AIOKafkaConsumer(
        CONNECTION_CHANGED,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    event = decode(record.value)
                    if event.subject == connection_id and event.type == event_type:
                        return event
    finally:
        await consumer.stop()
    raise AssertionError(f"{event_type} for {connection_id} not on Kafka within {within}s")

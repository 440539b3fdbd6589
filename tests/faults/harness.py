"""The fault harness: its own Kafka and PostgreSQL, the sandbox and every service as real
processes, and the faults injected into them by process control (docs/reliability.md).

Nothing here touches the Kafka and PostgreSQL other people's tests share: the harness runs
deploy/local/kafka.sh and postgres.sh with its own `TTS_LOCAL_DIR`, ports and data folders,
and signals only the processes it started itself (their pids are kept here).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "local"
BIN = Path(sys.executable).parent
PG_BIN = Path(os.environ.get("TTS_PG_BIN", "/usr/lib/postgresql/15/bin"))
# CI-check runs use these; never take them even when free.
RESERVED_PORTS = {19092, 19093, 55433, 8101, 8102, 8103, 8104, 8180, 9092, 9093, 55432}

# Secrets the services hold: none of them may appear in any log (docs/reliability.md).
APP_SECRET = "faults-app-secret-" + uuid.uuid4().hex
ADMIN_KEY = "faults-admin-key-" + uuid.uuid4().hex
SERVICE_SECRET = "faults-service-credential-" + uuid.uuid4().hex
API_KEY = "faults-api-key-" + uuid.uuid4().hex
PUSH_SECRET = "faults-push-secret-" + uuid.uuid4().hex
SECRETS = (APP_SECRET, ADMIN_KEY, SERVICE_SECRET, API_KEY, PUSH_SECRET)


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


def wait_until(what: str, check: Callable[[], bool], within: float, every: float = 0.2) -> float:
    """Poll `check` until it holds; the seconds it took. A deadline, not a sleep: raises after
    `within` seconds, saying what was awaited."""
    start = time.monotonic()
    deadline = start + within
    while True:
        try:
            if check():
                return time.monotonic() - start
        except (httpx.HTTPError, OSError):
            pass
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {within:.0f}s")
        time.sleep(every)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Infra:
    """A Kafka broker and a PostgreSQL server of the harness's own, started with the local
    scripts (docs/local-infra.md) under a private `TTS_LOCAL_DIR`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.kafka_port = free_port()
        self.controller_port = free_port()
        self.pg_port = free_port()
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("TTS_KAFKA_BOOTSTRAP", "TTS_DATABASE_URL")
        }
        self.env |= {
            "TTS_LOCAL_DIR": str(root),
            "TTS_KAFKA_PORT": str(self.kafka_port),
            "TTS_KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "TTS_PG_PORT": str(self.pg_port),
            "TTS_KAFKA_HEAP": "384m",
        }
        self.bootstrap = f"127.0.0.1:{self.kafka_port}"
        self.pg_server_url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.pg_port}/postgres"

    def _script(self, script: str, action: str, timeout: float = 180) -> None:
        proc = subprocess.run(
            ["bash", str(DEPLOY / script), action],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{script} {action} failed ({proc.returncode}): {proc.stderr}")

    def up(self) -> None:
        # The jars are the shared checkout's (read-only use): a link, so no second fetch.
        shared = REPO / ".local" / "kafka" / "libs"
        (self.root / "kafka").mkdir(parents=True, exist_ok=True)
        libs = self.root / "kafka" / "libs"
        if shared.is_dir() and not libs.exists():
            libs.symlink_to(shared)
        self.kafka_start()
        self.pg_start()

    # --- Kafka -------------------------------------------------------------------------

    def kafka_pid(self) -> int | None:
        pidfile = self.root / "kafka" / "kafka.pid"
        try:
            return int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def kafka_start(self) -> None:
        self._script("kafka.sh", "start")

    def kafka_kill(self) -> None:
        """SIGKILL our broker (by the pid our kafka.sh wrote in our own folder)."""
        pid = self.kafka_pid()
        if pid is None:
            raise RuntimeError("no pid file for the harness's Kafka")
        os.kill(pid, signal.SIGKILL)
        wait_until("kafka gone", lambda: not _alive(pid), 30)

    # --- PostgreSQL --------------------------------------------------------------------

    def pg_data(self) -> Path:
        moved = self.root / "pg" / "data-location"
        if moved.exists():
            return Path(moved.read_text().strip())
        return self.root / "pg" / "data"

    def _pg_ctl(self, *args: str) -> None:
        cmd = [str(PG_BIN / "pg_ctl"), "-D", str(self.pg_data()), *args]
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, capture_output=True, check=True, timeout=120)

    def pg_start(self) -> None:
        self._script("postgres.sh", "start")

    def pg_stop_immediate(self) -> None:
        """`pg_ctl stop -m immediate` on our data folder: no checkpoint, crash recovery next."""
        self._pg_ctl("stop", "-m", "immediate", "-w")

    def down(self) -> None:
        for script in ("kafka.sh", "postgres.sh"):
            try:
                self._script(script, "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        data = self.pg_data()
        if not data.is_relative_to(self.root):
            shutil.rmtree(data.parent, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@dataclass
class Proc:
    """One service process the harness started: restartable, killable by its own pid."""

    name: str
    args: list[str]
    env: dict[str, str]
    port: int
    log: Path
    ready_path: str = "/readyz"
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.starts += 1

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def ready(self) -> bool:
        if not self.alive():
            return False
        try:
            return httpx.get(self.url + self.ready_path, timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, within: float = 120) -> float:
        def check() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited: {tail(self.log)}")
            return self.ready()

        return wait_until(f"{self.name} ready", check, within)

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(30)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)


@dataclass
class Stack:
    """The sandbox, two auth-brokers, order-ingest (a second member on demand),
    shipment-notifier and catalog-sync, each a `serve` process on a free port."""

    infra: Infra
    logs: Path
    token_ttl: int
    sandbox_qps: float
    procs: dict[str, Proc] = field(default_factory=dict)
    extras: dict[str, dict[str, str]] = field(default_factory=dict)

    def database(self, name: str) -> str:
        return self.infra.pg_server_url.rsplit("/", 1)[0] + "/" + name.replace("-", "_")

    @property
    def sandbox(self) -> str:
        return self.procs["tiktok-sandbox"].url

    def url(self, name: str) -> str:
        return self.procs[name].url

    def _service_env(self, name: str, port: int, extra: dict[str, str]) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("TTS_", "SANDBOX_"))}
        db = name.split("#")[0]
        env = base | {
            "PYTHONUNBUFFERED": "1",
            "TTS_HTTP_PORT": str(port),
            "TTS_DATABASE_URL": self.database(db),
            "TTS_KAFKA_BOOTSTRAP": self.infra.bootstrap,
            "TTS_TIKTOK_OPEN_API_URL": self.sandbox,
            "TTS_TIKTOK_APP_SECRET": APP_SECRET,
            "TTS_LOG_JSON": "true",
            # Hashes only (docs/architecture.md, API keys): the key itself never in the env.
            "TTS_API_KEYS": f"faults|*|sha256:{hashlib.sha256(API_KEY.encode()).hexdigest()}",
        }
        if db == "auth-broker":
            env |= {
                "TTS_TIKTOK_AUTH_URL": self.sandbox,
                "TTS_TIKTOK_US_AUTHORIZE_URL": self.sandbox,
                "TTS_TIKTOK_GLOBAL_AUTHORIZE_URL": self.sandbox,
                "TTS_ADMIN_API_KEYS": ADMIN_KEY,
                "TTS_SERVICE_CREDENTIALS": f"faults:{SERVICE_SECRET}",
            }
        else:
            env |= {
                "TTS_AUTH_BROKER_URL": self.url("auth-broker"),
                "TTS_SERVICE_CREDENTIAL": SERVICE_SECRET,
            }
        return env | extra

    def add(self, name: str, extra: dict[str, str] | None = None) -> Proc:
        """Start `name` (`service#n` for a further replica of the same service)."""
        port = free_port()
        binary = name.split("#")[0]
        proc = Proc(
            name,
            [str(BIN / binary), "serve"],
            self._service_env(name, port, extra or self.extras.get(binary, {})),
            port,
            self.logs / f"{name.replace('#', '-')}.log",
        )
        self.procs[name] = proc
        proc.start()
        return proc

    def start(self, service_env: dict[str, dict[str, str]]) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.extras = service_env
        port = free_port()
        broker_port = free_port()
        sandbox_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("TTS_", "SANDBOX_"))
        } | {
            "PYTHONUNBUFFERED": "1",
            "SANDBOX_APP_SECRET": APP_SECRET,
            "SANDBOX_REDIRECT_URL": f"http://127.0.0.1:{broker_port}/v1/oauth/callback",
            "SANDBOX_QPS": str(self.sandbox_qps),
            "SANDBOX_ACCESS_TOKEN_TTL_SECONDS": str(self.token_ttl),
            "SANDBOX_AUDIT_DELAY_SECONDS": "0",
        }
        sandbox = Proc(
            "tiktok-sandbox",
            [str(BIN / "tiktok-sandbox"), "--port", str(port)],
            sandbox_env,
            port,
            self.logs / "tiktok-sandbox.log",
            ready_path="/sandbox/v1/stats",
        )
        self.procs["tiktok-sandbox"] = sandbox
        sandbox.start()
        sandbox.wait_ready(60)
        # Broker A migrates; broker B (the second replica) starts on the migrated database.
        a = Proc(
            "auth-broker",
            [str(BIN / "auth-broker"), "serve"],
            {},
            broker_port,
            self.logs / "auth-broker.log",
        )
        a.env = self._service_env("auth-broker", broker_port, service_env.get("auth-broker", {}))
        self.procs["auth-broker"] = a
        a.start()
        a.wait_ready()
        self.add("auth-broker#2").wait_ready()
        for name in ("order-ingest", "shipment-notifier", "catalog-sync"):
            self.add(name).wait_ready()

    def all_ready(self) -> bool:
        return all(p.ready() for p in self.procs.values() if p.alive() or p.name in CORE)

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()


CORE = ("tiktok-sandbox", "auth-broker", "auth-broker#2", "order-ingest", "shipment-notifier")

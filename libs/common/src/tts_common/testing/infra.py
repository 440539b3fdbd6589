"""Find (or start) the real Kafka and PostgreSQL that integration tests run against.

Order of preference, for each of Kafka and PostgreSQL independently:

1. an explicit endpoint in the environment (``TTS_KAFKA_BOOTSTRAP`` / ``TTS_DATABASE_URL``), as set by
   ``eval "$(deploy/local/infra.sh env)"`` or by CI;
2. testcontainers, when a Docker engine answers ``docker info``;
3. the project's own Docker-free scripts (``deploy/local/infra.sh up``), stopped again at the end
   only if this test session was the one that started them.

Nothing here is pytest-specific, so the resolution rules can be unit-tested without a server.
"""

from __future__ import annotations

import os
import shutil
import string
import subprocess
import uuid
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.engine import make_url

Component = Literal["kafka", "postgres"]

KAFKA_ENV = "TTS_KAFKA_BOOTSTRAP"
DATABASE_ENV = "TTS_DATABASE_URL"
# Set to 1 to leave servers started by a test session running afterwards (faster re-runs).
KEEP_ENV = "TTS_TEST_KEEP_INFRA"
# Override where the repository (and so deploy/local/) lives, e.g. for an installed wheel.
REPO_ENV = "TTS_REPO_ROOT"

KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
POSTGRES_IMAGE = "postgres:16-alpine"
SCRIPT_TIMEOUT_S = 300


# str.isalnum() accepts non-ASCII letters, which Kafka and unquoted SQL identifiers reject.
_TOPIC_CHARS = frozenset(string.ascii_letters + string.digits + "._-")
_IDENT_CHARS = frozenset(string.ascii_lowercase + string.digits + "_")


class InfraUnavailableError(RuntimeError):
    """Raised when no Kafka/PostgreSQL could be found or started for the tests."""


def new_topic_name(prefix: str = "test") -> str:
    """A topic name no other test (or earlier run) uses; valid for Kafka's [a-zA-Z0-9._-] rule."""
    safe = "".join(ch if ch in _TOPIC_CHARS else "-" for ch in prefix)[:100]
    return f"{safe}.{uuid.uuid4().hex[:12]}"


def new_database_name(prefix: str = "test") -> str:
    """A lower-case PostgreSQL identifier that needs no quoting (max 63 bytes)."""
    safe = "".join(ch if ch in _IDENT_CHARS else "_" for ch in prefix.lower())[:30]
    return f"{safe}_{uuid.uuid4().hex[:16]}"


def database_url(server_url: str, database: str) -> str:
    """The same server URL pointing at another database (asyncpg SQLAlchemy form)."""
    url = make_url(server_url).set(drivername="postgresql+asyncpg", database=database)
    return url.render_as_string(hide_password=False)


def libpq_dsn(sqlalchemy_url: str) -> str:
    """A ``postgresql://`` DSN for asyncpg/libpq from a SQLAlchemy URL such as ``postgresql+asyncpg://``."""
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


def docker_available(run: Callable[..., Any] = subprocess.run) -> bool:
    """True when a Docker engine answers (the CLI alone is not enough: no engine runs on CI)."""
    if shutil.which("docker") is None:
        return False
    try:
        result = run(["docker", "info"], capture_output=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return bool(result.returncode == 0)


def find_repo_root(start: Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The checkout holding ``deploy/local/infra.sh``: from the environment, else walking up."""
    env = os.environ if env is None else env
    if env.get(REPO_ENV):
        return Path(env[REPO_ENV])
    here = (start or Path(__file__)).resolve()
    for candidate in [here, *here.parents]:
        if (candidate / "deploy" / "local" / "infra.sh").is_file():
            return candidate
    for candidate in [Path.cwd(), *Path.cwd().parents]:
        if (candidate / "deploy" / "local" / "infra.sh").is_file():
            return candidate
    raise InfraUnavailableError(
        f"deploy/local/infra.sh not found above {here} or the working directory; "
        f"set {REPO_ENV}, or set {KAFKA_ENV} and {DATABASE_ENV}"
    )


@dataclass
class LocalScripts:
    """Drives deploy/local/*.sh and remembers which servers this process started."""

    repo_root: Path
    started: set[Component] = field(default_factory=set)
    _up_done: bool = False

    def _script(self, name: str) -> str:
        return str(self.repo_root / "deploy" / "local" / name)

    def _running(self, component: Component) -> bool:
        # status exits 0 only when *our* server runs and answers (or, for PostgreSQL, when the
        # URL in the environment answers); anything else means `up` will start it.
        result = subprocess.run(
            [self._script(f"{component}.sh"), "status"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        return result.returncode == 0

    def up(self) -> None:
        """Run ``infra.sh up`` once per process, recording what was not already running."""
        if self._up_done:
            return
        components: tuple[Component, ...] = ("kafka", "postgres")
        was_running = {c: self._running(c) for c in components}
        result = subprocess.run(
            [self._script("infra.sh"), "up"],
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT_S,
            check=False,
        )
        if result.returncode != 0:
            raise InfraUnavailableError(
                f"deploy/local/infra.sh up failed (exit {result.returncode}):\n{result.stderr[-4000:]}"
            )
        self.started = {c for c, running in was_running.items() if not running}
        self._up_done = True

    def stop_started(self) -> None:
        """Stop only what :meth:`up` started; others' servers keep running."""
        for component in sorted(self.started):
            subprocess.run(
                [self._script(f"{component}.sh"), "stop"],
                capture_output=True,
                timeout=120,
                check=False,
            )
        self.started.clear()

    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{os.environ.get('TTS_KAFKA_PORT', '9092')}"

    def postgres_url(self) -> str:
        result = subprocess.run(
            [self._script("postgres.sh"), "url"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.strip()


@dataclass
class InfraResolver:
    """Session-wide owner of whatever endpoints the tests use, and of their clean-up."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    docker_check: Callable[[], bool] = docker_available
    repo_root: Path | None = None
    _docker: bool | None = None
    _local: LocalScripts | None = None
    _containers: ExitStack = field(default_factory=ExitStack)

    def source(self, component: Component) -> Literal["env", "docker", "local"]:
        """Which of the three sources will provide ``component`` (first one that applies)."""
        if self.env.get(KAFKA_ENV if component == "kafka" else DATABASE_ENV):
            return "env"
        if self._docker is None:
            self._docker = self.docker_check()
        return "docker" if self._docker else "local"

    def _local_scripts(self) -> LocalScripts:
        if self._local is None:
            self._local = LocalScripts(self.repo_root or find_repo_root())
        self._local.up()
        return self._local

    def kafka_bootstrap(self) -> str:
        match self.source("kafka"):
            case "env":
                return self.env[KAFKA_ENV]
            case "docker":
                # Imported lazily: testcontainers pulls in the docker SDK, unused on most machines.
                from testcontainers.community.kafka import KafkaContainer

                kafka = self._containers.enter_context(KafkaContainer(KAFKA_IMAGE).with_kraft())
                return str(kafka.get_bootstrap_server())
            case _:
                return self._local_scripts().kafka_bootstrap()

    def postgres_url(self) -> str:
        match self.source("postgres"):
            case "env":
                return self.env[DATABASE_ENV]
            case "docker":
                from testcontainers.community.postgres import PostgresContainer

                pg = self._containers.enter_context(
                    PostgresContainer(POSTGRES_IMAGE, driver="asyncpg")
                )
                return str(pg.get_connection_url())
            case _:
                return self._local_scripts().postgres_url()

    def close(self) -> None:
        """Stop containers and locally started servers; never touch servers found running."""
        self._containers.close()
        if self._local is not None and self.env.get(KEEP_ENV) != "1":
            self._local.stop_started()

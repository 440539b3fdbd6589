"""deploy/local scripts: start, idempotent re-start, status codes, stop — on private ports and folders.

Each test runs its own broker/server in a temporary TTS_LOCAL_DIR on free ports, so it never
touches the shared servers on 9092/55432 that other test sessions use.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tts_common.testing.infra import find_repo_root

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = find_repo_root()
LOCAL = REPO / "deploy" / "local"


def _free_ports(count: int) -> list[int]:
    """Distinct free ports: all sockets stay open until every port is picked."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _run(
    env: dict[str, str], script: str, *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LOCAL / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def private_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTS_")}
    kafka, controller, pg = _free_ports(3)
    env.update(
        TTS_LOCAL_DIR=str(tmp_path / "local"),
        TTS_KAFKA_PORT=str(kafka),
        TTS_KAFKA_CONTROLLER_PORT=str(controller),
        TTS_PG_PORT=str(pg),
    )
    # Reuse the already fetched jars instead of copying 50 MB per test.
    shared_libs = REPO / ".local" / "kafka" / "libs"
    if (shared_libs / ".version").is_file():
        (tmp_path / "local" / "kafka").mkdir(parents=True)
        (tmp_path / "local" / "kafka" / "libs").symlink_to(shared_libs)
    try:
        yield env
    finally:
        # Whatever happened, leave no broker or server behind.
        _run(env, "kafka.sh", "stop", timeout=120)
        _run(env, "postgres.sh", "stop", timeout=120)
        pg_fallback = tmp_path / "local" / "pg" / "data-location"
        if pg_fallback.is_file():
            shutil.rmtree(Path(pg_fallback.read_text().strip()).parent, ignore_errors=True)


def test_kafka_script_lifecycle(private_env: dict[str, str]) -> None:
    port = int(private_env["TTS_KAFKA_PORT"])
    assert _run(private_env, "kafka.sh", "status").returncode == 3

    started = _run(private_env, "kafka.sh", "start")
    assert started.returncode == 0, started.stderr
    assert _answers(port)
    assert _run(private_env, "kafka.sh", "status").returncode == 0

    again = _run(private_env, "kafka.sh", "start")
    assert again.returncode == 0 and "already running" in again.stderr

    stopped = _run(private_env, "kafka.sh", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not _answers(port)
    assert _run(private_env, "kafka.sh", "status").returncode == 3
    assert _run(private_env, "kafka.sh", "stop").returncode == 0, "stop must be safe to repeat"


def test_kafka_refuses_a_port_taken_by_someone_else(private_env: dict[str, str]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(private_env["TTS_KAFKA_PORT"])))
        squatter.listen()
        result = _run(private_env, "kafka.sh", "start")
    assert result.returncode == 1
    assert f"port {private_env['TTS_KAFKA_PORT']} is already in use" in result.stderr


def test_postgres_script_lifecycle(private_env: dict[str, str]) -> None:
    port = private_env["TTS_PG_PORT"]
    started = _run(private_env, "postgres.sh", "start")
    assert started.returncode == 0, started.stderr
    url = _run(private_env, "postgres.sh", "url").stdout.strip()
    assert url == f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"

    databases = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            port,
            "-U",
            "postgres",
            "-tAXc",
            "select datname from pg_database order by 1",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.split()
    assert {"auth_broker", "catalog_sync", "order_ingest", "shipment_notifier"} <= set(databases)

    assert _run(private_env, "postgres.sh", "start").returncode == 0
    assert _run(private_env, "postgres.sh", "stop").returncode == 0
    assert _run(private_env, "postgres.sh", "status").returncode == 3
    assert not _answers(int(port))

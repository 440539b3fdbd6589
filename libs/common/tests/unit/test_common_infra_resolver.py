"""How the test infrastructure is chosen, and that only servers the tests started get stopped."""

from __future__ import annotations

import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tts_common.testing.infra import (
    InfraResolver,
    InfraUnavailableError,
    LocalScripts,
    database_url,
    docker_available,
    find_repo_root,
    libpq_dsn,
    new_database_name,
    new_topic_name,
)

KAFKA_TOPIC_RE = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
PG_IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _never_docker() -> bool:
    raise AssertionError("docker must not be probed when the environment names the server")


def test_environment_wins_without_probing_docker() -> None:
    env = {
        "TTS_KAFKA_BOOTSTRAP": "broker.example:9092",
        "TTS_DATABASE_URL": "postgresql+asyncpg://u@db.example:5432/postgres",
    }
    resolver = InfraResolver(env=env, docker_check=_never_docker)
    assert resolver.kafka_bootstrap() == "broker.example:9092"
    assert resolver.postgres_url() == env["TTS_DATABASE_URL"]


@pytest.mark.parametrize(("docker", "expected"), [(True, "docker"), (False, "local")])
def test_docker_then_local_scripts(docker: bool, expected: str) -> None:
    calls: list[int] = []

    def check() -> bool:
        calls.append(1)
        return docker

    resolver = InfraResolver(env={}, docker_check=check)
    assert resolver.source("kafka") == expected
    assert resolver.source("postgres") == expected
    assert len(calls) == 1, "docker info is slow: probe once per session"


def test_each_component_resolves_independently() -> None:
    resolver = InfraResolver(
        env={"TTS_DATABASE_URL": "postgresql://x/y"}, docker_check=lambda: False
    )
    assert resolver.source("postgres") == "env"
    assert resolver.source("kafka") == "local"


def test_docker_available_needs_a_running_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda _name: "/usr/bin/docker")

    def engine_down(*_args: Any, **_kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        return subprocess.CompletedProcess(["docker", "info"], 1, b"", b"Cannot connect")

    def engine_hangs(*_args: Any, **_kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        raise subprocess.TimeoutExpired(["docker", "info"], 15)

    def engine_up(*_args: Any, **_kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        return subprocess.CompletedProcess(["docker", "info"], 0, b"ok", b"")

    assert docker_available(engine_down) is False
    assert docker_available(engine_hangs) is False
    assert docker_available(engine_up) is True


def test_docker_available_without_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda _name: None)
    assert docker_available() is False


@pytest.mark.parametrize("prefix", ["test", "test.test_x[param-1/2 ü]", "a" * 400])
def test_topic_names_are_legal_and_unique(prefix: str) -> None:
    names = {new_topic_name(prefix) for _ in range(50)}
    assert len(names) == 50
    assert all(KAFKA_TOPIC_RE.match(n) for n in names), names


@pytest.mark.parametrize("prefix", ["t_test_ok", "T-Weird Name[1]", "x" * 200])
def test_database_names_need_no_quoting(prefix: str) -> None:
    assert PG_IDENT_RE.match(new_database_name(prefix))


def test_url_conversions_keep_credentials_and_host() -> None:
    server = "postgresql+asyncpg://user:s3cret@db.local:6543/postgres"
    assert database_url(server, "t_1") == "postgresql+asyncpg://user:s3cret@db.local:6543/t_1"
    assert libpq_dsn(server) == "postgresql://user:s3cret@db.local:6543/postgres"
    # A plain libpq URL from the environment gains the asyncpg driver.
    assert database_url("postgresql://p@h:1/postgres", "d").startswith("postgresql+asyncpg://")


def _fake_repo(tmp_path: Path, running: dict[str, bool]) -> Path:
    """A checkout whose deploy/local scripts only record how they were called."""
    local = tmp_path / "deploy" / "local"
    local.mkdir(parents=True)
    calls = tmp_path / "calls.log"
    for component, is_running in running.items():
        script = local / f"{component}.sh"
        script.write_text(
            "#!/usr/bin/env bash\n"
            f'echo "{component} $1" >> {calls}\n'
            f'if [ "$1" = status ]; then exit {0 if is_running else 3}; fi\n'
            'if [ "$1" = url ]; then echo postgresql+asyncpg://postgres@127.0.0.1:55432/postgres; fi\n'
        )
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    infra = local / "infra.sh"
    infra.write_text(f'#!/usr/bin/env bash\necho "infra $1" >> {calls}\n')
    infra.chmod(infra.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def _calls(repo: Path) -> list[str]:
    return (repo / "calls.log").read_text().splitlines()


def test_local_scripts_stop_only_what_they_started(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path, {"kafka": False, "postgres": True})
    scripts = LocalScripts(repo)
    scripts.up()
    scripts.up()  # a second fixture asking again must not re-run the scripts
    assert scripts.started == {"kafka"}
    assert _calls(repo).count("infra up") == 1

    scripts.stop_started()
    assert "kafka stop" in _calls(repo)
    assert "postgres stop" not in _calls(repo)


def test_keep_env_leaves_started_servers_running(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path, {"kafka": False, "postgres": False})
    resolver = InfraResolver(
        env={"TTS_TEST_KEEP_INFRA": "1"}, docker_check=lambda: False, repo_root=repo
    )
    assert resolver.postgres_url() == "postgresql+asyncpg://postgres@127.0.0.1:55432/postgres"
    resolver.close()
    assert not any(line.endswith(" stop") for line in _calls(repo))


def test_failed_infra_script_raises_with_its_output(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path, {"kafka": False, "postgres": False})
    infra = repo / "deploy" / "local" / "infra.sh"
    infra.write_text("#!/usr/bin/env bash\necho 'port 9092 is already in use' >&2\nexit 1\n")
    with pytest.raises(InfraUnavailableError, match="port 9092 is already in use"):
        LocalScripts(repo).up()


def test_find_repo_root(tmp_path: Path) -> None:
    repo = _fake_repo(tmp_path, {"kafka": True, "postgres": True})
    nested = repo / "libs" / "common" / "src"
    nested.mkdir(parents=True)
    assert find_repo_root(nested, env={}) == repo
    assert find_repo_root(nested, env={"TTS_REPO_ROOT": "/elsewhere"}) == Path("/elsewhere")

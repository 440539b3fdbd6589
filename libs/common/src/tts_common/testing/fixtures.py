"""Pytest fixtures for tests against real Kafka and PostgreSQL.

Registered for the whole repository by the root ``conftest.py``
(``pytest_plugins = ["tts_common.testing.fixtures"]``). See ``tts_common.testing.infra`` for how
the servers are found or started, and docs/local-infra.md for the scripts behind it.

- ``kafka_bootstrap`` (session): ``"host:port"`` of a working broker.
- ``pg_server_url`` (session): server-level ``postgresql+asyncpg://`` URL (a superuser may create
  databases through it).
- ``fresh_database`` (function, async): URL of a new, empty database, dropped after the test.
- ``unique_topic`` (function): a topic name nobody else uses (the broker auto-creates topics).
- ``captured_logs`` (function): every log record from DEBUG up, as the production JSON formatter
  (with its redaction) writes it — for tests proving secrets never reach the logs.

Importing this plugin gives the test process its own ``TTS_CONSUMER_GROUP_PREFIX`` (unless one is
set): two test runs sharing a broker never join, and split, one another's consumer groups.
Subprocesses a test starts inherit it, so they still share their groups with the test's apps.
It also sets ``TTS_KAFKA_NEW_GROUP_START_MS`` to the session's start
(``tts_common.kafka.new_group_start_ms``): the services' new groups skip the records earlier
sessions left on the broker, and read everything this session writes.
"""

from __future__ import annotations

import io
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import pytest_asyncio

from tts_common.kafka import NEW_GROUP_START_ENV
from tts_common.logging import JsonFormatter
from tts_common.testing.infra import (
    InfraResolver,
    database_url,
    libpq_dsn,
    new_database_name,
    new_topic_name,
)

os.environ.setdefault("TTS_CONSUMER_GROUP_PREFIX", f"test-{uuid.uuid4().hex[:8]}-")
# And its groups start at the session's start, not at the earliest record: on a broker kept
# between runs, a new group would first read (and dead-letter) every earlier run's events.
os.environ.setdefault(NEW_GROUP_START_ENV, str(int(time.time() * 1000)))


@pytest.fixture(scope="session")
def _tts_infra() -> Iterator[InfraResolver]:
    resolver = InfraResolver()
    try:
        yield resolver
    finally:
        resolver.close()


@pytest.fixture(scope="session")
def kafka_bootstrap(_tts_infra: InfraResolver) -> str:
    """Bootstrap servers of a real Kafka broker for this test session."""
    return _tts_infra.kafka_bootstrap()


@pytest.fixture(scope="session")
def pg_server_url(_tts_infra: InfraResolver) -> str:
    """Server-level SQLAlchemy URL (asyncpg driver) of a real PostgreSQL for this session."""
    return _tts_infra.postgres_url()


@pytest_asyncio.fixture
async def fresh_database(pg_server_url: str, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A new empty database for one test; its ``postgresql+asyncpg://`` URL. Dropped afterwards."""
    name = new_database_name(f"t_{request.node.name}")
    admin = await asyncpg.connect(libpq_dsn(pg_server_url), timeout=30)
    try:
        # The name is generated from [a-z0-9_] only, so quoting it is enough to make it safe.
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield database_url(pg_server_url, name)
    finally:
        admin = await asyncpg.connect(libpq_dsn(pg_server_url), timeout=30)
        try:
            # FORCE: a pool the test forgot to dispose must not keep the database alive.
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def unique_topic(request: pytest.FixtureRequest) -> str:
    """A fresh topic name, prefixed by the test's name to make broker logs readable."""
    return new_topic_name(f"test.{request.node.name}")


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every log record of this process from DEBUG up, formatted (and redacted) as in production."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter("test"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)

"""Readiness end to end: a generated 10,000-row feed with planted defects, uploaded as NDJSON
over HTTP to catalog-sync (in process, real PostgreSQL and Kafka) whose taxonomy cache holds
a synthetic UK taxonomy, yields exactly the expected readiness numbers and issues — the same
as the analyzer run in memory on the same rows (tests/unit/test_catalog_readiness.py).

Readiness reads the taxonomy cache only: catalog-sync's TikTok and auth-broker hosts point at
a listener that counts connections, and none is made.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from asgi_lifespan import LifespanManager
from catalog_sync.app import NAME, create_app
from catalog_sync.cli import MIGRATIONS
from catalog_sync.config import Settings
from catalog_sync.readiness import (
    ISSUE_FIELDS,
    ReadinessReport,
    Status,
    group_by_parent,
    iter_issues,
    render_issues_json,
)
from catalog_sync.testing import (
    INVITE,
    check_report,
    expected_issues,
    generate,
    issue_keys,
    make_analyzer,
    seed_taxonomy_cache,
)
from tts_common.db import create_engine, session_factory, session_scope
from tts_common.migrate import migrate_async
from tts_common.testing.ready import until_ready

pytestmark = pytest.mark.integration

AUTH = {"Authorization": "Bearer dev-api-key"}


@dataclass
class Tripwire:
    """A TCP listener standing in for TikTok and the auth-broker: it counts connections."""

    url: str = ""
    connections: int = 0


@pytest.fixture
async def tripwire() -> AsyncIterator[Tripwire]:
    wire = Tripwire()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        wire.connections += 1
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    wire.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield wire


@pytest.fixture
async def http(
    fresh_database: str, kafka_bootstrap: str, tripwire: Tripwire
) -> AsyncIterator[httpx.AsyncClient]:
    """conftest's `client`, with every TikTok and auth-broker call going to the tripwire."""
    await migrate_async(fresh_database, MIGRATIONS, NAME)
    settings = Settings(
        database_url=fresh_database,
        kafka_bootstrap=kafka_bootstrap,
        auth_broker_url=tripwire.url,
        tiktok_open_api_url=tripwire.url,
    )
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        await until_ready(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://catalog", headers=AUTH, timeout=300
        ) as client:
            client.database_url = fresh_database  # type: ignore[attr-defined]
            yield client


async def _seed(database_url: str, connection_id: str) -> None:
    engine = create_engine(database_url)
    try:
        async with session_scope(session_factory(engine)) as session:
            await seed_taxonomy_cache(session, connection_id)
    finally:
        await engine.dispose()


async def test_generated_feed_over_http_yields_exactly_the_planted_defects(
    http: httpx.AsyncClient, tripwire: Tripwire
) -> None:
    generated = generate()
    connection_id = str(uuid.uuid4())  # never called: readiness reads the cache only
    await _seed(http.database_url, connection_id)  # type: ignore[attr-defined]
    r = await http.post(
        "/v1/feeds", json={"name": "uk-generated", "market": "UK", "connection_id": connection_id}
    )
    assert r.status_code == 201, r.text
    feed_id = r.json()["id"]

    r = await http.put(f"/v1/feeds/{feed_id}/products?format=ndjson", content=generated.ndjson())
    assert r.status_code == 200, r.text
    upload = r.json()
    assert (upload["rows_read"], upload["new"], upload["refused"]) == (10_000, 10_000, 0)

    r = await http.get(f"/v1/feeds/{feed_id}/readiness")
    assert r.status_code == 200, r.text
    report = ReadinessReport.model_validate(r.json())
    check_report(report, generated)

    # Value for value what the analyzer says in memory over the rows as generated: intake
    # (every value a string, rows of a parent in upload order) and the pipeline (no export
    # mappings: rows pass through) change nothing the analysis sees.
    memory = make_analyzer()
    results = [memory.add(group) for group in group_by_parent(generated.rows)]
    assert report == memory.report()

    r = await http.get(f"/v1/feeds/{feed_id}/issues")
    assert r.status_code == 200, r.text
    listed = r.json()
    assert issue_keys(listed) == expected_issues(generated)
    assert listed == render_issues_json(iter_issues(results))  # messages and order too

    r = await http.get(f"/v1/feeds/{feed_id}/issues", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text
    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0] == list(ISSUE_FIELDS)
    assert [dict(zip(ISSUE_FIELDS, row, strict=True)) for row in table[1:]] == listed

    # One category: only its products are judged.
    r = await http.get(f"/v1/feeds/{feed_id}/readiness", params={"category_id": INVITE})
    invite = ReadinessReport.model_validate(r.json())
    assert (invite.products, invite.ready, invite.status) == (6, 0, Status.RED)

    assert tripwire.connections == 0  # neither TikTok nor the auth-broker was asked

"""catalog-sync booted in-process on real PostgreSQL and Kafka, with an authenticated client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from catalog_sync.app import NAME, create_app
from catalog_sync.cli import MIGRATIONS
from catalog_sync.config import Settings
from tts_common.migrate import migrate_async
from tts_common.testing.ready import until_ready

AUTH = {"Authorization": "Bearer dev-api-key"}


@pytest.fixture
async def client(fresh_database: str, kafka_bootstrap: str) -> AsyncIterator[httpx.AsyncClient]:
    """A migrated catalog-sync, ready (consumers joined), and a client with the dev API key.

    `client.database_url` names the service's database for direct checks.
    """
    await migrate_async(fresh_database, MIGRATIONS, NAME)
    app = create_app(Settings(database_url=fresh_database, kafka_bootstrap=kafka_bootstrap))
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        await until_ready(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://catalog", headers=AUTH, timeout=120
        ) as http:
            http.database_url = fresh_database  # type: ignore[attr-defined]
            yield http

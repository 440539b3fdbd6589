"""catalog-sync booted in-process on real PostgreSQL and Kafka, with an authenticated client;
and the whole TikTok stack around it (the real sandbox, a real auth-broker) for the tests that
call TikTok."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from auth_broker.config import Settings as BrokerSettings
from auth_broker.testing import MIGRATIONS as BROKER_MIGRATIONS
from auth_broker.testing import (
    RunningBroker,
    approve_in_sandbox,
    free_port,
    run_broker,
    sandbox_settings,
)
from catalog_sync.app import NAME, create_app
from catalog_sync.cli import MIGRATIONS
from catalog_sync.config import Settings
from fastapi import FastAPI
from tiktok_sandbox.testing import RunningSandbox, run_sandbox
from tts_common.migrate import migrate_async
from tts_common.testing.infra import database_url, libpq_dsn, new_database_name
from tts_common.testing.ready import until_ready

AUTH = {"Authorization": "Bearer dev-api-key"}
SERVICE_SECRET = "catalog-sync-test-credential-0123456789"


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


# --- the TikTok stack: sandbox + auth-broker + catalog-sync ---------------------------------


@dataclass
class Stack:
    """The real sandbox, a real auth-broker (own database) and catalog-sync (in process)."""

    sandbox: RunningSandbox
    broker: RunningBroker
    app: FastAPI
    http: httpx.AsyncClient  # catalog-sync (ASGI)
    outside: httpx.AsyncClient  # broker and sandbox over real HTTP
    database_url: str  # catalog-sync's
    kafka_bootstrap: str = ""

    async def connect(self, market: str) -> str:
        """A connection the sandbox's seller approved (OAuth through the broker)."""
        r = await self.outside.post(
            self.broker.base_url + "/v1/connections",
            json={"name": f"{market}-{uuid.uuid4().hex[:6]}", "market": market},
            headers=self.broker.admin,
        )
        assert r.status_code == 201, r.text
        created = r.json()
        await self._approve(created["authorize_url"], market)
        return str(created["id"])

    async def reauthorize(self, connection_id: str, market: str) -> None:
        """The seller authorizes the connection again (a new authorize link, approved)."""
        r = await self.outside.post(
            f"{self.broker.base_url}/v1/connections/{connection_id}/reauthorize",
            headers=self.broker.admin,
        )
        assert r.status_code in (200, 201), r.text
        await self._approve(r.json()["authorize_url"], market)

    async def _approve(self, authorize_url: str, market: str) -> None:
        target = await approve_in_sandbox(self.outside, authorize_url, market)
        callback = await self.outside.get(target)
        assert callback.status_code == 200, callback.text

    async def revoke(self, connection_id: str) -> None:
        r = await self.outside.delete(
            f"{self.broker.base_url}/v1/connections/{connection_id}", headers=self.broker.admin
        )
        assert r.status_code in (200, 204), r.text

    def stats(self) -> dict[str, Any]:
        """The sandbox's counters (docs/sandbox.md, admin endpoints)."""
        data: dict[str, Any] = self.sandbox.admin("GET", "/sandbox/v1/stats")["data"]
        return data

    def calls(self) -> dict[str, int]:
        """TikTok calls the sandbox served, per operation."""
        calls: dict[str, int] = self.stats()["calls"]
        return calls

    def reset_calls(self) -> None:
        self.sandbox.admin("DELETE", "/sandbox/v1/stats")

    async def feed(
        self, name: str, market: str = "UK", connection_id: str | None = None, **settings: Any
    ) -> str:
        body: dict[str, Any] = {"name": name, "market": market, **settings}
        if connection_id is not None:
            body["connection_id"] = connection_id
        r = await self.http.post("/v1/feeds", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


StackFactory = Callable[..., contextlib.AbstractAsyncContextManager[Stack]]


@pytest.fixture
async def broker_database(pg_server_url: str) -> AsyncIterator[str]:
    """The broker's own database (its tables and catalog-sync's may not share one)."""
    name = new_database_name("t_catalog_broker")
    admin = await asyncpg.connect(libpq_dsn(pg_server_url), timeout=30)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield database_url(pg_server_url, name)
    finally:
        admin = await asyncpg.connect(libpq_dsn(pg_server_url), timeout=30)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
def tiktok_stack(fresh_database: str, broker_database: str, kafka_bootstrap: str) -> StackFactory:
    """`async with tiktok_stack(sandbox={...}, settings={...}) as stack:` — the sandbox (with
    `sandbox` settings overrides), a broker whose TikTok it is, and catalog-sync (with
    `settings` overrides) leasing tokens from that broker. Ready (consumers joined) on entry."""

    @contextlib.asynccontextmanager
    async def start(
        *, sandbox: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
    ) -> AsyncIterator[Stack]:
        await migrate_async(broker_database, BROKER_MIGRATIONS, "auth-broker")
        await migrate_async(fresh_database, MIGRATIONS, NAME)
        port = free_port()
        with run_sandbox(
            redirect_url=f"http://127.0.0.1:{port}/v1/oauth/callback", **(sandbox or {})
        ) as sb:
            broker_settings = BrokerSettings(
                **sandbox_settings(
                    sb,
                    broker_database,
                    kafka_bootstrap,
                    http_port=port,
                    refresher_enabled=False,
                    service_credentials=f"catalog-sync:{SERVICE_SECRET}",
                )
            )
            with run_broker(broker_settings) as broker:
                app = create_app(
                    Settings(
                        database_url=fresh_database,
                        kafka_bootstrap=kafka_bootstrap,
                        auth_broker_url=broker.base_url,
                        service_credential=SERVICE_SECRET,  # type: ignore[arg-type]
                        tiktok_open_api_url=sb.base_url,
                        tiktok_app_key=sb.settings.app_key,
                        tiktok_app_secret=sb.settings.app_secret,  # type: ignore[arg-type]
                        **(settings or {}),
                    ),
                    # Its own group for connection events: another catalog-sync process on
                    # this Kafka (another test run) must not take this one's events.
                    connection_group=f"catalog-sync-test-{uuid.uuid4().hex[:12]}",
                )
                async with (
                    LifespanManager(app, startup_timeout=60, shutdown_timeout=60),
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app),
                        base_url="http://catalog",
                        headers=AUTH,
                        timeout=60,
                    ) as http,
                    httpx.AsyncClient(timeout=30) as outside,
                ):
                    await until_ready(app)
                    yield Stack(sb, broker, app, http, outside, fresh_database, kafka_bootstrap)

    return start

"""Fixtures of the order tests: the TikTok stack around order-ingest (orders_testing.Stack)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from auth_broker.config import Settings as BrokerSettings
from auth_broker.testing import MIGRATIONS as BROKER_MIGRATIONS
from auth_broker.testing import free_port, run_broker, sandbox_settings
from order_ingest.app import NAME, create_app
from order_ingest.cli import MIGRATIONS
from order_ingest.config import Settings
from orders_testing import AUTH, SERVICE_SECRET, Events, Stack, StackFactory
from tiktok_sandbox.testing import RunningSandbox, install_mug_catalog, run_sandbox
from tts_common.migrate import migrate_async
from tts_common.testing.infra import database_url, libpq_dsn, new_database_name
from tts_common.testing.server import serving


@pytest.fixture
async def broker_database(pg_server_url: str) -> AsyncIterator[str]:
    """The broker's own database (its tables and order-ingest's may not share one)."""
    name = new_database_name("t_orders_broker")
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


@contextlib.contextmanager
def _sandbox(port: int, overrides: dict[str, Any]) -> Iterator[RunningSandbox]:
    values = {
        "redirect_url": f"http://127.0.0.1:{port}/v1/oauth/callback",
        "qps": 1000.0,
        "webhook_retry_delays_seconds": "0.2,0.5,1",
        **overrides,
    }
    with run_sandbox(**values) as sb:
        install_mug_catalog(sb)
        yield sb


@pytest.fixture
def order_stack(fresh_database: str, broker_database: str, kafka_bootstrap: str) -> StackFactory:
    """`async with order_stack(sandbox={...}, settings={...}, serve=True) as stack:` — the
    sandbox, a broker whose TikTok it is, order-ingest leasing tokens from that broker
    (served over HTTP unless `serve=False`: then `stack.base_url` is empty and a test runs
    its own order-ingest, e.g. as a subprocess), and a watcher of the order events."""

    @contextlib.asynccontextmanager
    async def start(
        *,
        sandbox: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        serve: bool = True,
    ) -> AsyncIterator[Stack]:
        await migrate_async(broker_database, BROKER_MIGRATIONS, "auth-broker")
        await migrate_async(fresh_database, MIGRATIONS, NAME)
        port = free_port()
        with _sandbox(port, sandbox or {}) as sb:
            broker_settings = BrokerSettings(
                **sandbox_settings(
                    sb,
                    broker_database,
                    kafka_bootstrap,
                    http_port=port,
                    refresher_enabled=False,
                    service_credentials=f"order-ingest:{SERVICE_SECRET}",
                )
            )
            with run_broker(broker_settings) as broker:
                values: dict[str, Any] = {
                    "database_url": fresh_database,
                    "kafka_bootstrap": kafka_bootstrap,
                    "auth_broker_url": broker.base_url,
                    "service_credential": SERVICE_SECRET,
                    "tiktok_open_api_url": sb.base_url,
                    "tiktok_app_key": sb.settings.app_key,
                    "tiktok_app_secret": sb.settings.app_secret,
                    "worker_idle_seconds": 0.1,
                    "run_stale_seconds": 3,
                    **(settings or {}),
                }
                app_settings = Settings(**values)
                events = Events(kafka_bootstrap)
                async with httpx.AsyncClient(timeout=60) as outside:
                    with contextlib.ExitStack() as stack_cm:
                        base = ""
                        if serve:
                            base = stack_cm.enter_context(
                                serving(create_app(app_settings), ready_path="/readyz")
                            )
                        async with httpx.AsyncClient(
                            base_url=base or "http://unused", headers=AUTH, timeout=120
                        ) as http:
                            await events.start()
                            try:
                                yield Stack(
                                    sb,
                                    broker,
                                    base,
                                    http,
                                    outside,
                                    fresh_database,
                                    kafka_bootstrap,
                                    app_settings,
                                    events,
                                )
                            finally:
                                await events.stop()

    return start


@pytest.fixture
async def client(fresh_database: str, kafka_bootstrap: str) -> AsyncIterator[httpx.AsyncClient]:
    """A migrated order-ingest in process (no TikTok behind it) and a client with the dev
    API key; `client.database_url` names its database."""
    from asgi_lifespan import LifespanManager
    from tts_common.testing.ready import until_ready

    await migrate_async(fresh_database, MIGRATIONS, NAME)
    app = create_app(Settings(database_url=fresh_database, kafka_bootstrap=kafka_bootstrap))
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        await until_ready(app)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://orders", headers=AUTH
        ) as http:
            http.database_url = fresh_database  # type: ignore[attr-defined]
            yield http

"""The services the `tts` tests drive, over real sockets, and `tts` itself as a subprocess.

`cli_stack`: the real sandbox, a real auth-broker and catalog-sync (as in catalog-sync's own
integration tests, but catalog-sync is served by uvicorn on a free port, as `serve` runs it),
each on its own database on the real PostgreSQL and Kafka. `tts(...)` runs the installed
console script with the stack's URLs in its environment, exactly as a user's shell would.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from auth_broker.config import Settings as BrokerSettings
from auth_broker.testing import MIGRATIONS as BROKER_MIGRATIONS
from auth_broker.testing import (
    RunningBroker,
    free_port,
    run_broker,
    sandbox_settings,
)
from cli_testing import SERVICE_SECRET, CliStack, OpsStack, base_env
from tiktok_sandbox.testing import RunningSandbox, run_sandbox
from tts_common.migrate import migrate_async
from tts_common.testing.infra import database_url, libpq_dsn, new_database_name
from tts_common.testing.server import serving


async def _create_database(pg_server_url: str, prefix: str) -> str:
    name = new_database_name(prefix)
    admin = await asyncpg.connect(libpq_dsn(pg_server_url), timeout=30)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name


async def _drop_database(pg_server_url: str, name: str) -> None:
    admin = await asyncpg.connect(libpq_dsn(pg_server_url), timeout=30)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def databases(pg_server_url: str) -> AsyncIterator[Callable[[str], Any]]:
    """`await databases("prefix")`: a new empty database's URL, dropped after the test."""
    made: list[str] = []

    async def make(prefix: str) -> str:
        name = await _create_database(pg_server_url, prefix)
        made.append(name)
        return database_url(pg_server_url, name)

    try:
        yield make
    finally:
        for name in made:
            await _drop_database(pg_server_url, name)


@contextlib.contextmanager
def _catalog(
    database: str, kafka_bootstrap: str, sb: RunningSandbox, broker: RunningBroker
) -> Iterator[str]:
    from catalog_sync.app import create_app
    from catalog_sync.config import Settings

    app = create_app(
        Settings(
            database_url=database,
            kafka_bootstrap=kafka_bootstrap,
            auth_broker_url=broker.base_url,
            service_credential=SERVICE_SECRET,  # type: ignore[arg-type]
            tiktok_open_api_url=sb.base_url,
            tiktok_app_key=sb.settings.app_key,
            tiktok_app_secret=sb.settings.app_secret,  # type: ignore[arg-type]
        ),
        # Its own group for connection events: no other catalog-sync on this Kafka takes them.
        connection_group=f"catalog-sync-cli-test-{uuid.uuid4().hex[:12]}",
    )
    with serving(app, ready_path="/readyz") as base:
        yield base


@pytest.fixture
async def cli_stack(
    databases: Callable[[str], Any], kafka_bootstrap: str
) -> AsyncIterator[CliStack]:
    from catalog_sync.app import NAME as CATALOG
    from catalog_sync.cli import MIGRATIONS as CATALOG_MIGRATIONS

    broker_db = await databases("t_cli_broker")
    catalog_db = await databases("t_cli_catalog")
    await migrate_async(broker_db, BROKER_MIGRATIONS, "auth-broker")
    await migrate_async(catalog_db, CATALOG_MIGRATIONS, CATALOG)
    port = free_port()
    with run_sandbox(redirect_url=f"http://127.0.0.1:{port}/v1/oauth/callback") as sb:
        broker_settings = BrokerSettings(
            **sandbox_settings(
                sb,
                broker_db,
                kafka_bootstrap,
                http_port=port,
                refresher_enabled=False,
                service_credentials=f"catalog-sync:{SERVICE_SECRET}",
            )
        )
        with (
            run_broker(broker_settings) as broker,
            _catalog(catalog_db, kafka_bootstrap, sb, broker) as catalog_url,
        ):
            async with httpx.AsyncClient(timeout=60) as outside:
                yield CliStack(
                    sb,
                    broker,
                    catalog_url,
                    outside,
                    base_env(
                        TTS_CATALOG_SYNC_URL=catalog_url,
                        TTS_AUTH_BROKER_URL=broker.base_url,
                    ),
                )


@pytest.fixture
async def ops_stack(
    databases: Callable[[str], Any], kafka_bootstrap: str
) -> AsyncIterator[OpsStack]:
    """The sandbox (with its mug catalogue to order from), a broker, order-ingest leasing
    tokens from it and shipment-notifier (no TikTok behind it: its tests post and read),
    each served on a free port on its own database."""
    from order_ingest.app import NAME as ORDERS
    from order_ingest.app import create_app as orders_app
    from order_ingest.cli import MIGRATIONS as ORDER_MIGRATIONS
    from order_ingest.config import Settings as OrderSettings
    from shipment_notifier.app import NAME as SHIPMENTS
    from shipment_notifier.app import create_app as shipments_app
    from shipment_notifier.cli import MIGRATIONS as SHIPMENT_MIGRATIONS
    from shipment_notifier.config import Settings as ShipmentSettings
    from tiktok_sandbox.testing import install_mug_catalog

    broker_db = await databases("t_cli_ops_broker")
    orders_db = await databases("t_cli_orders")
    shipments_db = await databases("t_cli_shipments")
    await migrate_async(broker_db, BROKER_MIGRATIONS, "auth-broker")
    await migrate_async(orders_db, ORDER_MIGRATIONS, ORDERS)
    await migrate_async(shipments_db, SHIPMENT_MIGRATIONS, SHIPMENTS)
    port = free_port()
    with run_sandbox(redirect_url=f"http://127.0.0.1:{port}/v1/oauth/callback", qps=1000.0) as sb:
        install_mug_catalog(sb)
        broker_settings = BrokerSettings(
            **sandbox_settings(
                sb,
                broker_db,
                kafka_bootstrap,
                http_port=port,
                refresher_enabled=False,
                service_credentials=f"order-ingest:{SERVICE_SECRET}",
            )
        )
        with run_broker(broker_settings) as broker:
            orders = orders_app(
                OrderSettings(
                    database_url=orders_db,
                    kafka_bootstrap=kafka_bootstrap,
                    auth_broker_url=broker.base_url,
                    service_credential=SERVICE_SECRET,  # type: ignore[arg-type]
                    tiktok_open_api_url=sb.base_url,
                    tiktok_app_key=sb.settings.app_key,
                    tiktok_app_secret=sb.settings.app_secret,  # type: ignore[arg-type]
                    worker_idle_seconds=0.1,
                )
            )
            # Nothing answers at its broker and TikTok URLs: shipments that other tests'
            # events bring in on the shared Kafka are never sent anywhere.
            nowhere = f"http://127.0.0.1:{free_port()}"
            shipments = shipments_app(
                ShipmentSettings(
                    database_url=shipments_db,
                    kafka_bootstrap=kafka_bootstrap,
                    auth_broker_url=nowhere,
                    tiktok_open_api_url=nowhere,
                )
            )
            with (
                serving(orders, ready_path="/readyz") as orders_url,
                serving(shipments, ready_path="/readyz") as shipments_url,
            ):
                async with httpx.AsyncClient(timeout=60) as outside:
                    yield OpsStack(
                        orders_url,
                        shipments_url,
                        base_env(
                            TTS_ORDER_INGEST_URL=orders_url,
                            TTS_SHIPMENT_NOTIFIER_URL=shipments_url,
                            TTS_AUTH_BROKER_URL=broker.base_url,
                        ),
                        sb,
                        outside,
                    )

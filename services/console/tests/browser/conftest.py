"""The console in a real headless Chromium against a real stack.

Every service is a real server on a loopback socket: the TikTok sandbox, the auth-broker (its
own database), catalog-sync (its own database, real Kafka) and the console. Chromium and
chromedriver are Debian's packages (`deploy/local/chromium.sh`, run by the test set-up); the
tests skip, naming the script, where they are missing.

Screenshots go to `TTS_CONSOLE_SCREENSHOTS` when set (docs/console.md's images come from
`TTS_CONSOLE_SCREENSHOTS=docs/img/console`), else to the test's temporary directory.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from auth_broker.config import Settings as BrokerSettings
from auth_broker.testing import MIGRATIONS as BROKER_MIGRATIONS
from auth_broker.testing import RunningBroker, free_port, run_broker, sandbox_settings
from catalog_sync.app import NAME as CATALOG
from catalog_sync.app import create_app as create_catalog
from catalog_sync.cli import MIGRATIONS as CATALOG_MIGRATIONS
from catalog_sync.config import Settings as CatalogSettings
from console.app import create_app
from console.config import Settings
from tiktok_sandbox.testing import RunningSandbox, run_sandbox
from tts_common.events import ORDER_RECEIVED, SHIPMENT_CREATED
from tts_common.migrate import migrate_async
from tts_common.testing.infra import database_url, libpq_dsn, new_database_name
from tts_common.testing.server import serving

SERVICE_SECRET = "catalog-sync-console-test-credential-0123"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@dataclass
class ConsoleStack:
    sandbox: RunningSandbox
    broker: RunningBroker
    catalog_url: str
    console_url: str
    admin_key: str


@pytest.fixture
async def broker_database(pg_server_url: str) -> AsyncIterator[str]:
    """The broker's own database (its tables and catalog-sync's may not share one)."""
    name = new_database_name("t_console_broker")
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
async def migrated(fresh_database: str, broker_database: str) -> tuple[str, str]:
    await migrate_async(broker_database, BROKER_MIGRATIONS, "auth-broker")
    await migrate_async(fresh_database, CATALOG_MIGRATIONS, CATALOG)
    return fresh_database, broker_database


@pytest.fixture
def console_stack(migrated: tuple[str, str], kafka_bootstrap: str) -> Iterator[ConsoleStack]:
    catalog_db, broker_db = migrated
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
        with run_broker(broker_settings) as broker:
            catalog = create_catalog(
                CatalogSettings(
                    database_url=catalog_db,
                    kafka_bootstrap=kafka_bootstrap,
                    auth_broker_url=broker.base_url,
                    service_credential=SERVICE_SECRET,  # type: ignore[arg-type]
                    tiktok_open_api_url=sb.base_url,
                    tiktok_app_key=sb.settings.app_key,
                    tiktok_app_secret=sb.settings.app_secret,  # type: ignore[arg-type]
                ),
                connection_group=f"catalog-sync-console-test-{uuid.uuid4().hex[:12]}",
            )
            admin_key = broker_settings.admin_keys()[0]
            unused = f"http://127.0.0.1:{free_port()}"  # order-ingest / shipment-notifier: down
            with serving(catalog, ready_path="/readyz") as catalog_url:
                console = create_app(
                    Settings(
                        environment="test",
                        auth_broker_url=broker.base_url,
                        catalog_sync_url=catalog_url,
                        order_ingest_url=unused,
                        shipment_notifier_url=unused,
                        broker_admin_key=admin_key,  # type: ignore[arg-type]
                    )
                )
                with serving(console) as console_url:
                    yield ConsoleStack(sb, broker, catalog_url, console_url, admin_key)


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    where = os.environ.get("TTS_CONSOLE_SCREENSHOTS")
    path = Path(where) if where else tmp_path / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def browser() -> Iterator[object]:
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromedriver are not installed: run deploy/local/chromium.sh")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in CI containers
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,800",
        "--lang=en-GB",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


# --- orders and shipments: order-ingest and shipment-notifier around the same sandbox ------

ORDERS_SECRET = "order-ingest-console-test-credential-0123"
SHIPMENTS_SECRET = "shipment-notifier-console-test-credential-01"


@dataclass
class OrdersStack:
    sandbox: RunningSandbox
    broker: RunningBroker
    orders_url: str
    shipments_url: str
    console_url: str
    admin_key: str


async def _new_database(pg_server_url: str, stem: str) -> str:
    name = new_database_name(stem)
    admin = await asyncpg.connect(libpq_dsn(pg_server_url), timeout=30)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return database_url(pg_server_url, name)


async def _drop_database(pg_server_url: str, url: str) -> None:
    admin = await asyncpg.connect(libpq_dsn(pg_server_url), timeout=30)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await admin.close()


async def _skip_history(group: str, topics: list[str], bootstrap: str) -> None:
    """Commit `group`'s offsets at the shared topics' ends: shipment-notifier then sees only
    the order events of this test, not every earlier run's."""
    from aiokafka import TopicPartition
    from tts_common.kafka import ensure_topics, make_consumer

    await ensure_topics(bootstrap)
    consumer = make_consumer(bootstrap, group)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(t) or [])
        ]
        consumer.assign(parts)
        await consumer.commit(dict(await consumer.end_offsets(parts)))
    finally:
        await consumer.stop()


@pytest.fixture
async def orders_databases(
    pg_server_url: str, broker_database: str, kafka_bootstrap: str
) -> AsyncIterator[dict[str, str]]:
    """Migrated databases of the broker, order-ingest and shipment-notifier."""
    from order_ingest.app import NAME as ORDERS
    from order_ingest.cli import MIGRATIONS as ORDERS_MIGRATIONS
    from shipment_notifier.app import NAME as SHIPMENTS
    from shipment_notifier.cli import MIGRATIONS as SHIPMENTS_MIGRATIONS

    orders = await _new_database(pg_server_url, "t_console_orders")
    shipments = await _new_database(pg_server_url, "t_console_shipments")
    try:
        await migrate_async(broker_database, BROKER_MIGRATIONS, "auth-broker")
        await migrate_async(orders, ORDERS_MIGRATIONS, ORDERS)
        await migrate_async(shipments, SHIPMENTS_MIGRATIONS, SHIPMENTS)
        prefix = f"{os.environ.get('TTS_CONSUMER_GROUP_PREFIX', 'test-')}{uuid.uuid4().hex[:8]}-"
        await _skip_history(prefix + SHIPMENTS, [SHIPMENT_CREATED, ORDER_RECEIVED], kafka_bootstrap)
        yield {
            "broker": broker_database,
            "orders": orders,
            "shipments": shipments,
            "prefix": prefix,
        }
    finally:
        await _drop_database(pg_server_url, orders)
        await _drop_database(pg_server_url, shipments)


@pytest.fixture
def orders_stack(orders_databases: dict[str, str], kafka_bootstrap: str) -> Iterator[OrdersStack]:
    from order_ingest.app import create_app as create_orders
    from order_ingest.config import Settings as OrdersSettings
    from shipment_notifier.app import create_app as create_shipments
    from shipment_notifier.config import Settings as ShipmentsSettings
    from tiktok_sandbox.testing import install_mug_catalog

    port = free_port()
    with run_sandbox(redirect_url=f"http://127.0.0.1:{port}/v1/oauth/callback", qps=1000.0) as sb:
        install_mug_catalog(sb)
        broker_settings = BrokerSettings(
            **sandbox_settings(
                sb,
                orders_databases["broker"],
                kafka_bootstrap,
                http_port=port,
                refresher_enabled=False,
                service_credentials=(
                    f"order-ingest:{ORDERS_SECRET},shipment-notifier:{SHIPMENTS_SECRET}"
                ),
            )
        )
        tiktok = {
            "tiktok_open_api_url": sb.base_url,
            "tiktok_app_key": sb.settings.app_key,
            "tiktok_app_secret": sb.settings.app_secret,
        }
        with run_broker(broker_settings) as broker:
            orders = create_orders(
                OrdersSettings(
                    database_url=orders_databases["orders"],
                    kafka_bootstrap=kafka_bootstrap,
                    auth_broker_url=broker.base_url,
                    service_credential=ORDERS_SECRET,  # type: ignore[arg-type]
                    worker_idle_seconds=0.1,
                    **tiktok,
                )
            )
            shipments = create_shipments(
                ShipmentsSettings(
                    database_url=orders_databases["shipments"],
                    kafka_bootstrap=kafka_bootstrap,
                    auth_broker_url=broker.base_url,
                    service_credential=SHIPMENTS_SECRET,  # type: ignore[arg-type]
                    consumer_group_prefix=orders_databases["prefix"],
                    **tiktok,
                )
            )
            admin_key = broker_settings.admin_keys()[0]
            with (
                serving(orders, ready_path="/readyz") as orders_url,
                serving(shipments, ready_path="/readyz") as shipments_url,
            ):
                console = create_app(
                    Settings(
                        environment="test",
                        auth_broker_url=broker.base_url,
                        catalog_sync_url=f"http://127.0.0.1:{free_port()}",
                        order_ingest_url=orders_url,
                        shipment_notifier_url=shipments_url,
                        broker_admin_key=admin_key,  # type: ignore[arg-type]
                    )
                )
                with serving(console) as console_url:
                    yield OrdersStack(sb, broker, orders_url, shipments_url, console_url, admin_key)

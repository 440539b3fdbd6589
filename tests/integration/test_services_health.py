"""Every service boots on real PostgreSQL + Kafka: migrations, health, readiness, metrics, docs."""

from __future__ import annotations

import importlib
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from tts_common.app import CONSUMER_GROUPS

pytestmark = pytest.mark.integration

SERVICES = ["auth_broker", "catalog_sync", "order_ingest", "shipment_notifier"]


async def _ready(client: httpx.AsyncClient, within: float = 90.0) -> httpx.Response:
    """Poll /readyz until 200; `within` bounds a hang, it is not a speed requirement
    (the kafka-connect task creates every topic first, slow on a loaded machine)."""
    import asyncio

    r = await client.get("/readyz")
    deadline = asyncio.get_running_loop().time() + within
    while r.status_code != 200 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.25)
        r = await client.get("/readyz")
    return r


@pytest.mark.parametrize("module", SERVICES)
async def test_service_boots_ready_and_observable(
    module: str, fresh_database: str, kafka_bootstrap: str
) -> None:
    from tts_common.migrate import migrate_async

    config = importlib.import_module(f"{module}.config")
    app_mod = importlib.import_module(f"{module}.app")
    cli = importlib.import_module(f"{module}.cli")
    await migrate_async(fresh_database, Path(cli.MIGRATIONS), app_mod.NAME)

    settings = config.Settings(database_url=fresh_database, kafka_bootstrap=kafka_bootstrap)
    app = app_mod.create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as mgr:
        transport = httpx.ASGITransport(app=mgr.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            health = await client.get("/healthz")
            assert health.status_code == 200
            assert health.json()["service"] == app_mod.NAME

            ready = await _ready(client)
            assert ready.status_code == 200, ready.text
            expected = {"database": "ok", "kafka": "ok"}
            if app.state.runtime.extras.get(CONSUMER_GROUPS):  # it consumes events
                expected["consumers"] = "ok"  # its consumer groups have joined
            assert ready.json()["checks"] == expected

            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert 'http_requests_total{method="GET",route="/readyz"' in metrics.text

            spec = await client.get("/openapi.json")
            assert spec.status_code == 200
            assert "/readyz" in spec.json()["paths"]
            assert (await client.get("/docs")).status_code == 200


async def test_readyz_names_the_failing_dependency(kafka_bootstrap: str) -> None:
    from order_ingest.app import create_app
    from order_ingest.config import Settings

    # Nothing listens on port 1: the database check must fail and say so.
    settings = Settings(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/nope",
        kafka_bootstrap=kafka_bootstrap,
        run_workers=False,  # the API alone: its readiness is what this test reads
    )
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60) as mgr:
        transport = httpx.ASGITransport(app=mgr.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            r = await client.get("/readyz")
            assert r.status_code == 503
            assert r.json()["checks"]["database"] != "ok"
            assert (await client.get("/healthz")).status_code == 200

"""Every service inherits tts_common.http: limits and headers on the real apps (real PostgreSQL).

The auth-broker findings, each on the real app: a large body is refused before the credential
check, a client leaving mid-webhook is no error, the OAuth pages carry a strict CSP.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from tts_common.http import API_CSP
from tts_common.migrate import migrate_async

pytestmark = pytest.mark.integration

SERVICES = ["auth_broker", "catalog_sync", "order_ingest", "shipment_notifier"]
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


async def _app(module: str, database_url: str, kafka_bootstrap: str) -> Any:
    config = importlib.import_module(f"{module}.config")
    app_mod = importlib.import_module(f"{module}.app")
    cli = importlib.import_module(f"{module}.cli")
    await migrate_async(database_url, Path(cli.MIGRATIONS), app_mod.NAME)
    extra = {"refresher_enabled": False} if module == "auth_broker" else {}
    settings = config.Settings(database_url=database_url, kafka_bootstrap=kafka_bootstrap, **extra)
    return app_mod.create_app(settings)


async def _until_ready(app: Any) -> None:
    """Wait for Kafka and the database (a lifespan stopped mid-connect leaks aiokafka sockets)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        for _ in range(240):
            if (await client.get("/readyz")).status_code == 200:
                return
            await asyncio.sleep(0.25)
    raise AssertionError("the service never became ready")


@pytest.mark.parametrize("module", SERVICES)
async def test_every_service_refuses_large_bodies_and_sends_security_headers(
    module: str, fresh_database: str, kafka_bootstrap: str
) -> None:
    app = await _app(module, fresh_database, kafka_bootstrap)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as mgr:
        await _until_ready(mgr.app)
        transport = httpx.ASGITransport(app=mgr.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            health = await client.get("/healthz", headers={"x-correlation-id": "x" * 500})
            assert health.status_code == 200
            for name, value in SECURITY_HEADERS.items():
                assert health.headers[name] == value
            assert health.headers["content-security-policy"] == API_CSP
            assert len(health.headers["x-correlation-id"]) == 32
            # Whatever the path, a body over the default limit never reaches a handler.
            big = await client.post("/healthz", content=b"x" * (1024 * 1024 + 1))
            assert big.status_code == 413
            assert big.json()["error"] == "body_too_large"


@pytest.fixture
async def broker(fresh_database: str, kafka_bootstrap: str) -> AsyncIterator[Any]:
    app = await _app("auth_broker", fresh_database, kafka_bootstrap)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as mgr:
        await _until_ready(mgr.app)
        yield mgr.app


async def test_broker_refuses_a_large_body_before_checking_credentials(broker: Any) -> None:
    transport = httpx.ASGITransport(app=broker)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        for path in ("/v1/connections", "/v1/webhooks/tiktok", "/internal/v1/connections/x/token"):
            r = await client.post(path, content=b"{" + b" " * (20 * 1024 * 1024) + b"}")
            assert r.status_code == 413, (path, r.text)
        # The same request under the limit, without credentials, is the 401 it always was.
        r = await client.post("/v1/connections", json={"name": "n", "market": "US"})
        assert r.status_code == 401


async def test_broker_webhook_client_leaving_mid_body_logs_no_error(
    broker: Any, captured_logs: io.StringIO
) -> None:
    chunks = [b'{"type": 6, "tts_notification_id": "', b"123"]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            return {"type": "http.request", "body": chunks.pop(0), "more_body": True}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    for _ in range(3):
        chunks[:] = [b'{"type": 6, "tts_notification_id": "', b"123"]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/webhooks/tiktok",
            "raw_path": b"/v1/webhooks/tiktok",
            "query_string": b"",
            "root_path": "",
            "headers": [
                (b"host", b"svc"),
                (b"content-type", b"application/json"),
                (b"authorization", b"not-a-signature"),
                (b"content-length", b"4096"),
            ],
            "client": ("127.0.0.1", 1),
            "server": ("svc", 80),
            "state": {},
        }
        await asyncio.wait_for(broker(scope, receive, send), 30)
    records = [json.loads(line) for line in captured_logs.getvalue().splitlines()]
    assert [r for r in records if r["level"] in ("ERROR", "CRITICAL")] == []
    assert not any("Traceback" in json.dumps(r) for r in records)
    gone = [r for r in records if "disconnected" in r["message"]]
    assert len(gone) == 3 and {r["level"] for r in gone} == {"INFO"}
    assert sent == []


async def test_broker_oauth_pages_carry_a_strict_csp(broker: Any) -> None:
    transport = httpx.ASGITransport(app=broker)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        r = await client.get("/v1/oauth/callback", params={"code": "c", "state": "unknown"})
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "style-src 'sha256-" in csp
    assert "unsafe-inline" not in csp and "script-src" not in csp
    assert "frame-ancestors 'none'" in csp
    for name, value in SECURITY_HEADERS.items():
        assert r.headers[name] == value
    assert r.headers["cache-control"] == "no-store"
    # One of each header: the page's own and the guard's defaults are not both sent.
    assert len(r.headers.get_list("content-security-policy")) == 1
    assert len(r.headers.get_list("x-frame-options")) == 1


async def test_broker_openapi_documents_every_status_it_answers(broker: Any) -> None:
    transport = httpx.ASGITransport(app=broker)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        doc = (await client.get("/openapi.json")).json()

    def statuses(path: str, method: str) -> set[str]:
        return set(doc["paths"][path][method]["responses"])

    assert {"201", "401", "413", "422"} <= statuses("/v1/connections", "post")
    assert {"200", "401", "404", "422"} <= statuses("/v1/connections/{connection_id}", "get")
    assert {"200", "400", "404", "409", "502"} <= statuses("/v1/oauth/callback", "get")
    assert {"200", "400", "401", "413"} <= statuses("/v1/webhooks/tiktok", "post")
    lease = statuses("/internal/v1/connections/{connection_id}/token", "post")
    assert {"200", "401", "404", "409", "503"} <= lease
    pages = doc["paths"]["/v1/oauth/callback"]["get"]["responses"]
    assert set(pages["409"]["content"]) == {"text/html"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]

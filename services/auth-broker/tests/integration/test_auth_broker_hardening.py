"""Security and operator checks of the broker's HTTP surface (real PostgreSQL, Kafka, sandbox).

- every route except the OAuth callback and the TikTok webhook needs a credential (the route
  list is read from the app's OpenAPI document, so a new unprotected route fails here);
- bad input is a 4xx that says what to fix, never a 500, and never echoes a secret it was sent;
- two callbacks racing with one `state`: exactly one connects;
- the callback page escapes what it reflects (the connection name).
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from auth_broker.app import create_app
from auth_broker.config import Settings
from auth_broker.testing import (
    MIGRATIONS,
    RunningBroker,
    approve_in_sandbox,
    free_port,
    run_broker,
    sandbox_settings,
)
from tiktok_sandbox.testing import RunningSandbox, run_sandbox
from tts_common.migrate import migrate_async

pytestmark = pytest.mark.integration

# Reachable without any credential: TikTok calls these two, the rest is the common scaffolding.
PUBLIC = {
    ("GET", "/v1/oauth/callback"),
    ("POST", "/v1/webhooks/tiktok"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
}


@dataclass
class Web:
    sandbox: RunningSandbox
    broker: RunningBroker
    http: httpx.AsyncClient
    captured_logs: io.StringIO

    @property
    def url(self) -> str:
        return self.broker.base_url

    async def create(self, market: str, name: str) -> dict[str, Any]:
        r = await self.http.post(
            self.url + "/v1/connections",
            json={"name": name, "market": market},
            headers=self.broker.admin,
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture
async def web(
    fresh_database: str, kafka_bootstrap: str, captured_logs: io.StringIO
) -> AsyncIterator[Web]:
    await migrate_async(fresh_database, MIGRATIONS, "auth-broker")
    port = free_port()
    with run_sandbox(redirect_url=f"http://127.0.0.1:{port}/v1/oauth/callback") as sb:
        settings = Settings(
            **sandbox_settings(
                sb, fresh_database, kafka_bootstrap, http_port=port, refresher_enabled=False
            )
        )
        with run_broker(settings) as broker:
            async with httpx.AsyncClient(timeout=30) as http:
                yield Web(sb, broker, http, captured_logs)


def _routes() -> list[tuple[str, str]]:
    """(method, path template) of every route in the broker's OpenAPI document."""
    spec = create_app(Settings()).openapi()
    return [(m.upper(), path) for path, item in spec["paths"].items() for m in item]


def test_openapi_lists_the_api_routes() -> None:
    # Guards the test below: if the route list came back empty it would check nothing.
    routes = set(_routes())
    assert ("POST", "/internal/v1/connections/{connection_id}/token") in routes
    assert ("DELETE", "/v1/connections/{connection_id}") in routes
    assert PUBLIC <= routes


async def test_every_route_but_callback_and_webhook_needs_a_credential(web: Web) -> None:
    checked = []
    for method, template in _routes():
        if (method, template) in PUBLIC:
            continue
        path = template.replace("{connection_id}", str(uuid.uuid4()))
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}):
            r = await web.http.request(method, web.url + path, headers=headers)
            assert r.status_code == 401, (method, template, headers, r.status_code, r.text)
        checked.append((method, template))
    assert len(checked) >= 6, checked
    # And the service credential opens only the internal API, the admin key only the admin API.
    conn = await web.create("US", "creds")
    lease = f"{web.url}/internal/v1/connections/{conn['id']}/token"
    assert (await web.http.post(lease, headers=web.broker.admin)).status_code == 401
    listing = await web.http.get(web.url + "/v1/connections", headers=web.broker.service)
    assert listing.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "market": "DE"},
        {"name": "x", "market": "us"},
        {"name": "", "market": "US"},
        {"name": "   ", "market": "US"},
        {"name": "bad\x00name", "market": "US"},
        {"name": "x" * 201, "market": "US"},
        {"market": "US"},
        {"name": "x", "market": "US", "app_secret": "s3cr3t-value-in-body"},
    ],
)
async def test_bad_connection_input_is_a_422_naming_the_field(
    web: Web, body: dict[str, Any]
) -> None:
    r = await web.http.post(web.url + "/v1/connections", json=body, headers=web.broker.admin)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["error"] == "invalid_request"
    assert problem["fields"] and all(f["field"].startswith("body") for f in problem["fields"])
    assert "s3cr3t-value-in-body" not in r.text


async def test_a_lone_surrogate_in_the_name_is_a_422(web: Web) -> None:
    # Valid JSON (an escaped half of a UTF-16 pair) that PostgreSQL cannot store as UTF-8.
    r = await web.http.post(
        web.url + "/v1/connections",
        content=b'{"name": "lone \\ud800 half", "market": "US"}',
        headers={**web.broker.admin, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["fields"][0]["field"] == "body.name"


async def test_names_are_stored_trimmed(web: Web) -> None:
    conn = await web.create("UK", "  Main UK shop  ")
    assert conn["name"] == "Main UK shop"


async def test_bad_ids_and_bodies_are_4xx_not_500(web: Web) -> None:
    admin, service = web.broker.admin, web.broker.service
    for method, path in (
        ("GET", "/v1/connections/not-a-uuid"),
        ("DELETE", "/v1/connections/123"),
        ("POST", "/v1/connections/xyz/reauthorize"),
    ):
        r = await web.http.request(method, web.url + path, headers=admin)
        assert r.status_code in (404, 422), (method, path, r.status_code, r.text)
    unknown = str(uuid.uuid4())
    for method, path in (
        ("GET", f"/v1/connections/{unknown}"),
        ("DELETE", f"/v1/connections/{unknown}"),
        ("POST", f"/v1/connections/{unknown}/reauthorize"),
    ):
        r = await web.http.request(method, web.url + path, headers=admin)
        assert r.status_code == 404 and unknown in r.json()["detail"], r.text
    bad_lease = await web.http.post(
        web.url + "/internal/v1/connections/nope/token", headers=service
    )
    assert bad_lease.status_code == 422
    not_json = await web.http.post(
        web.url + "/v1/connections",
        content=b"{name: US",
        headers={**admin, "Content-Type": "application/json"},
    )
    assert not_json.status_code == 422


async def test_validation_errors_never_echo_a_token_sent_by_mistake(web: Web) -> None:
    conn = await web.create("US", "echo")
    secret = "ROW_a-real-looking-access-token-0123456789"
    r = await web.http.post(
        f"{web.url}/internal/v1/connections/{conn['id']}/token",
        headers=web.broker.service,
        json={"stale_token_sha256": secret, "access_token": secret},
    )
    assert r.status_code == 422
    assert secret not in r.text
    assert secret not in web.captured_logs.getvalue()


async def test_two_callbacks_with_one_state_connect_once(web: Web) -> None:
    conn = await web.create("US", "race")
    target = await approve_in_sandbox(web.http, conn["authorize_url"], "US")
    pages = await asyncio.gather(*(web.http.get(target) for _ in range(5)))
    codes = sorted(p.status_code for p in pages)
    assert codes == [200, 400, 400, 400, 400], [p.text for p in pages]
    assert all("already used" in p.text for p in pages if p.status_code == 400)
    got = await web.http.get(f"{web.url}/v1/connections/{conn['id']}", headers=web.broker.admin)
    assert got.json()["status"] == "active"
    # The code was exchanged once: the losers were refused before TikTok was called.
    assert web.sandbox.state.auth.refresh_count == 0
    assert len(web.sandbox.state.auth.access) == 1


async def test_callback_page_escapes_the_connection_name(web: Web) -> None:
    name = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    conn = await web.create("UK", name)
    target = await approve_in_sandbox(web.http, conn["authorize_url"], "UK")
    page = await web.http.get(target)
    assert page.status_code == 200
    assert "<script>" not in page.text and "<img" not in page.text
    assert "&lt;script&gt;" in page.text
    assert page.headers["cache-control"] == "no-store"

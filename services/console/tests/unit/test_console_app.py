"""The console app over ASGI: sign-in, sessions, CSRF, redirects, banners, headers.

No service runs here: every backend URL points at a loopback port nobody listens on, so a
page that needs one shows the banner for a service that is down (a real refused connection).
"""

from __future__ import annotations

import io
import re
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from console.app import create_app
from console.config import Settings
from console.passwords import hash_password
from console.sessions import SESSION_COOKIE
from tts_common.logging import secret_registry_stats

PASSWORD = "console-test-password"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    down = closed_port_url()
    settings = Settings(
        environment="test",
        auth_broker_url=down,
        catalog_sync_url=down,
        order_ingest_url=down,
        shipment_notifier_url=down,
        console_users=f"ops:{hash_password(PASSWORD)}",  # type: ignore[arg-type]
        services_api_key="console-unit-test-api-key",  # type: ignore[arg-type]
    )
    app = create_app(settings)
    async with LifespanManager(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://console"
        ) as client:
            yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, password: str = PASSWORD) -> httpx.Response:
    page = await http.get("/sign-in")
    return await http.post(
        "/sign-in",
        data={
            "csrf": csrf_of(page.text),
            "method": "user",
            "username": "ops",
            "password": password,
            "next": "/connections",
        },
    )


async def test_pages_redirect_to_sign_in_and_htmx_gets_hx_redirect(http: httpx.AsyncClient) -> None:
    r = await http.get("/feeds/abc/readiness?category_id=1")
    assert r.status_code == 303
    assert r.headers["location"] == "/sign-in?next=/feeds/abc/readiness%3Fcategory_id%3D1"
    r = await http.get("/feeds", headers={"HX-Request": "true"})
    assert r.status_code == 204 and r.headers["HX-Redirect"] == "/sign-in?next=/feeds"
    r = await http.post("/feeds", data={"name": "x"})
    assert r.status_code == 303 and r.headers["location"].startswith("/sign-in")


async def test_a_console_user_signs_in_with_a_signed_httponly_cookie(
    http: httpx.AsyncClient,
) -> None:
    wrong = await sign_in(http, "not the password")
    assert wrong.status_code == 400
    assert 'id="e-password"' in wrong.text and "wrong password" in wrong.text
    assert 'value="ops"' in wrong.text  # the name is kept, never the password
    assert "not the password" not in wrong.text
    r = await sign_in(http)
    assert r.status_code == 303 and r.headers["location"] == "/connections"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # TTS_COOKIE_SECURE=auto: set in prod only
    assert PASSWORD not in cookie


async def test_the_sign_in_form_needs_its_own_csrf_token(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/sign-in",
        data={"csrf": "forged", "method": "user", "username": "ops", "password": PASSWORD},
    )
    assert r.status_code == 400 and "expired" in r.text
    assert not any(h.startswith(SESSION_COOKIE + "=") for h in r.headers.get_list("set-cookie"))


async def test_forms_without_the_sessions_csrf_token_are_refused(http: httpx.AsyncClient) -> None:
    await sign_in(http)
    r = await http.post("/sign-out", data={"csrf": "nope"})
    assert r.status_code == 403 and "expired" in r.text
    r = await http.post("/upload/feed-1", content=b"x")  # raw body: the token is a header
    assert r.status_code == 403
    page = await http.get("/sign-in")  # any page of the session carries its token
    r = await http.post("/sign-out", data={"csrf": csrf_of((await http.get("/feeds")).text)})
    assert r.status_code == 303
    assert page.status_code == 200


async def test_a_service_that_is_down_is_a_banner_never_a_trace(http: httpx.AsyncClient) -> None:
    await sign_in(http)
    for path, service in (
        ("/feeds", "catalog-sync"),
        ("/connections", "auth-broker"),
        ("/orders", "order-ingest"),
        ("/shipments", "shipment-notifier"),
    ):
        r = await http.get(path)
        assert r.status_code == 503, path
        assert f"{service} is not available" in r.text
        assert 'role="alert"' in r.text
        assert "Traceback" not in r.text and "console-unit-test-api-key" not in r.text
    r = await http.get("/feeds", headers={"HX-Request": "true"})
    assert r.status_code == 200 and 'class="banner"' in r.text and "<html" not in r.text


async def test_an_upload_while_catalog_sync_is_down_answers_in_the_report_area(
    http: httpx.AsyncClient,
) -> None:
    await sign_in(http)
    page = await http.get("/sign-in")
    token = csrf_of((await http.get("/connections")).text)
    r = await http.post(
        "/upload/feed-1?format=shopify", content=b"Handle\nx\n", headers={"X-CSRF-Token": token}
    )
    assert r.status_code == 200 and "<html" not in r.text
    assert "The upload was refused: catalog-sync: not reachable" in r.text
    r = await http.post("/upload/feed-1?format=xml", content=b"x", headers={"X-CSRF-Token": token})
    assert "Choose a format" in r.text
    assert page.status_code == 200


async def test_pages_carry_their_csp_and_no_store(http: httpx.AsyncClient) -> None:
    r = await http.get("/sign-in")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "form-action 'self'" in csp and "'unsafe" not in csp
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-frame-options"] == "DENY"
    js = await http.get("/static/htmx.min.js")
    assert js.status_code == 200 and "Zero-Clause BSD" in js.text[:600]


async def test_unauthenticated_callers_grow_no_state(
    http: httpx.AsyncClient, captured_logs: io.StringIO
) -> None:
    before = secret_registry_stats()
    for i in range(200):
        page = await http.get("/sign-in")
        await http.post(
            "/sign-in",
            data={"csrf": csrf_of(page.text), "method": "admin", "admin_key": f"junk-key-{i:04d}"},
        )
        http.cookies.clear()
    assert secret_registry_stats().size == before.size  # presented keys are not registered
    logs = captured_logs.getvalue()
    assert "junk-key-0" not in logs and "console-test-password" not in logs


async def test_health_readiness_and_metrics(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok", "service": "console"}
    ready = (await http.get("/readyz")).json()
    assert ready["status"] == "ready"
    assert set(ready["checks"]) == {
        "auth-broker",
        "catalog-sync",
        "order-ingest",
        "shipment-notifier",
    }
    assert all(v.startswith("not reachable") for v in ready["checks"].values())
    assert "http_requests_total" in (await http.get("/metrics")).text

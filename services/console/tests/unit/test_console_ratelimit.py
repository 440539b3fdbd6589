"""The bound on failed sign-ins (console.ratelimit), with an injected clock, and over ASGI:
429 with Retry-After and the message beside the field, successes unaffected."""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from console.app import create_app
from console.config import Settings
from console.passwords import hash_password
from console.ratelimit import SignInLimiter
from console.sessions import SESSION_COOKIE
from fastapi import FastAPI

PASSWORD = "console-limit-test-password"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(limiter: SignInLimiter, client: str, times: int) -> None:
    for _ in range(times):
        assert limiter.take(client) is None


def test_an_address_may_fail_burst_times_then_waits_for_the_refill() -> None:
    clock = Clock()
    limiter = SignInLimiter(burst=5, window_seconds=60, global_burst=100, clock=clock)
    fail(limiter, "10.0.0.1", 5)
    assert limiter.take("10.0.0.1") == 12  # one token per 60/5 s
    assert limiter.take("10.0.0.2") is None  # another address is not affected
    clock.now += 11.5
    assert limiter.take("10.0.0.1") == 1  # whole seconds, rounded up
    clock.now += 0.5
    assert limiter.take("10.0.0.1") is None
    assert limiter.take("10.0.0.1") == 12


def test_a_success_gives_its_token_back() -> None:
    clock = Clock()
    limiter = SignInLimiter(burst=2, window_seconds=60, global_burst=100, clock=clock)
    for _ in range(10):  # ten successful sign-ins in a row use nothing
        assert limiter.take("10.0.0.1") is None
        limiter.give_back("10.0.0.1")
    assert len(limiter) == 0  # a full bucket again is not tracked
    fail(limiter, "10.0.0.1", 2)
    assert limiter.take("10.0.0.1") == 30


def test_the_global_bucket_bounds_callers_rotating_addresses() -> None:
    clock = Clock()
    limiter = SignInLimiter(burst=5, window_seconds=60, global_burst=10, clock=clock)
    for i in range(10):
        assert limiter.take(f"10.0.1.{i}") is None
    assert limiter.take("10.0.2.1") == 6  # a fresh address waits for the global refill
    clock.now += 6
    assert limiter.take("10.0.2.1") is None


def test_memory_stays_bounded_whatever_callers_send() -> None:
    clock = Clock()
    limiter = SignInLimiter(
        burst=3, window_seconds=60, global_burst=10**6, max_clients=64, clock=clock
    )
    for i in range(10_000):
        limiter.take(f"addr-{i}")
        assert len(limiter) <= 64
    assert len(limiter) == 64
    fail(limiter, "addr-9999", 2)  # the newest are kept: this one had failed once before
    assert limiter.take("addr-9999") is not None


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        SignInLimiter(burst=0)
    with pytest.raises(ValueError):
        SignInLimiter(max_clients=0)


# --- over ASGI ---------------------------------------------------------------------------


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
async def app() -> AsyncIterator[FastAPI]:
    down = closed_port_url()
    settings = Settings(
        environment="test",
        auth_broker_url=down,
        catalog_sync_url=down,
        order_ingest_url=down,
        shipment_notifier_url=down,
        console_users=f"ops:{hash_password(PASSWORD)}",  # type: ignore[arg-type]
        sign_in_max_failures=3,
        sign_in_failure_window_seconds=30,
    )
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


def client_for(app: FastAPI, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 50000)), base_url="http://console"
    )


async def sign_in(http: httpx.AsyncClient, password: str) -> httpx.Response:
    page = await http.get("/sign-in")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return await http.post(
        "/sign-in",
        data={"csrf": found.group(1), "method": "user", "username": "ops", "password": password},
    )


async def test_too_many_failed_sign_ins_answer_429_beside_the_field(app: FastAPI) -> None:
    clock = Clock()
    app.state.console.sign_in_limiter = SignInLimiter(
        burst=3, window_seconds=30, global_burst=100, clock=clock
    )
    async with client_for(app, "192.0.2.7") as http, client_for(app, "192.0.2.8") as other:
        assert (await sign_in(http, PASSWORD)).status_code == 303  # successes use nothing
        http.cookies.clear()
        for _ in range(3):
            assert (await sign_in(http, "wrong")).status_code == 400
        r = await sign_in(http, PASSWORD)  # refused before the password is even checked
        assert r.status_code == 429 and r.headers["retry-after"] == "10"
        assert '<p id="e-password" class="field-error" role="alert">' in r.text
        assert "Too many attempts, try again in 10 s." in r.text
        assert not any(h.startswith(SESSION_COOKIE + "=") for h in r.headers.get_list("set-cookie"))
        assert (await sign_in(other, PASSWORD)).status_code == 303  # another address signs in
        r = await http.post(  # the admin key form is bounded by the same bucket
            "/sign-in",
            data={
                "csrf": re.findall(
                    r'name="csrf" value="([^"]+)"', (await http.get("/sign-in")).text
                )[0],
                "method": "admin",
                "admin_key": "guess",
            },
        )
        assert r.status_code == 429 and 'id="e-admin_key"' in r.text
        clock.now += 10
        assert (await sign_in(http, PASSWORD)).status_code == 303

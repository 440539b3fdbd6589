"""A flood of OAuth callbacks from anyone (random codes, bad states) costs the broker nothing.

The callback is public: TikTok redirects the seller's browser to it, so anybody can call it
with any `code`. Only a callback whose state is valid may register its code with the log
scrubber; every other one is a 400 page (or, for a request line above the services' header
limit, a refusal before the route runs) that leaves the scrubber's registry as it was, so the
flood can neither grow it (memory, work per log line) nor push a real token out of it.
Real PostgreSQL, Kafka and the TikTok sandbox; the broker serves in this process, so the test
reads the same registry the broker writes.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
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
from tts_common.logging import REDACTED, redact_text, secret_registry_stats
from tts_common.migrate import migrate_async

pytestmark = pytest.mark.integration

FLOOD = 200
HUGE = 10  # of which carry a 60 KB code: above the request header limit, refused before the route
BIG = 30  # of which carry an 8 KB code: reaches the route


@dataclass
class Web:
    sandbox: RunningSandbox
    broker: RunningBroker
    http: httpx.AsyncClient
    captured_logs: io.StringIO

    @property
    def url(self) -> str:
        return self.broker.base_url


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
            async with httpx.AsyncClient(timeout=60) as http:
                yield Web(sb, broker, http, captured_logs)


async def _lease(web: Web, connection_id: str) -> str:
    lease = await web.http.post(
        f"{web.url}/internal/v1/connections/{connection_id}/token", headers=web.broker.service
    )
    assert lease.status_code == 200, lease.text
    return str(lease.json()["access_token"])


async def _connect(web: Web) -> tuple[str, str]:
    """A real connection, authorized through the sandbox; (its id, the redirect used)."""
    created = await web.http.post(
        web.url + "/v1/connections",
        json={"name": "flood", "market": "US"},
        headers=web.broker.admin,
    )
    assert created.status_code == 201, created.text
    conn = created.json()
    target = await approve_in_sandbox(web.http, conn["authorize_url"], "US")
    done = await web.http.get(target)
    assert done.status_code == 200, done.text
    return str(conn["id"]), target


def _flood_params(used_state: str) -> list[dict[str, str]]:
    """Random codes with states that are unknown, already used, or missing."""
    params = []
    for i in range(FLOOD):
        if i < HUGE:
            code = secrets.token_hex(30_000)
        elif i < BIG:
            code = secrets.token_hex(4_000)
        else:
            code = secrets.token_urlsafe(6)
        if i % 10 == 1:
            state = used_state  # the real link, replayed with someone else's code
        elif i % 10 == 2:
            state = ""
        elif i % 2:
            state = "x"
        else:
            state = secrets.token_urlsafe(32)
        params.append({"code": code, "state": state})
    return params


async def test_a_callback_flood_neither_grows_the_registry_nor_evicts_a_token(web: Web) -> None:
    connection_id, target = await _connect(web)
    token = await _lease(web, connection_id)  # the broker registers the token it leases
    used_state = parse_qs(urlsplit(target).query)["state"][0]
    app_secret = web.broker.settings.tiktok_app_secret.get_secret_value()
    before = secret_registry_stats()
    assert redact_text(f"lease {token} ok") == f"lease {REDACTED} ok"

    params = _flood_params(used_state)
    sem = asyncio.Semaphore(8)

    async def callback(p: dict[str, str]) -> httpx.Response:
        async with sem:
            return await web.http.get(web.url + "/v1/oauth/callback", params=p)

    pages = await asyncio.gather(*(callback(p) for p in params))

    for i, (p, page) in enumerate(zip(params, pages, strict=True)):
        assert p["code"] not in page.text
        if i < HUGE:  # the services' request header limit (431), never a 5xx
            assert page.status_code in (400, 431), (page.status_code, page.text[:200])
            continue
        assert page.status_code == 400, (p["state"][:40], page.status_code, page.text[:200])
        assert "Authorization link not valid" in page.text
    after = secret_registry_stats()
    assert (after.pinned, after.runtime) == (before.pinned, before.runtime)

    # The token leased before the flood and the settings secret are still scrubbed.
    logging.getLogger("test.flood").warning("after the flood: %s / %s", token, app_secret)
    out = web.captured_logs.getvalue()
    assert token not in out and app_secret not in out
    assert f"after the flood: {REDACTED} / {REDACTED}" in out
    # No caller's code reached the logs either.
    assert not any(p["code"] in out for p in params)
    # And the broker still serves its clients: the same token is leased again.
    assert await _lease(web, connection_id) == token

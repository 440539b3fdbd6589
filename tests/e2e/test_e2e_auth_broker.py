"""Two auth-broker processes, one database: exactly one TikTok refresh per expiry.

Each broker is a real `auth-broker serve` subprocess on its own port (own event loop,
connection pool and lock waits); the sandbox counts refresh calls. 50 leases arrive at
both processes at once while the access token is inside the lease margin.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from auth_broker.testing import (
    MIGRATIONS,
    BrokerProcess,
    broker_process,
    free_port,
    sandbox_settings,
    settings_env,
)
from tiktok_sandbox.testing import SignedClient, run_sandbox
from tts_common.migrate import migrate_async

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKEN_TTL = 40  # sandbox access-token lifetime (seconds)
LEASE_MARGIN = 20  # a lease refreshes when less than this is left
LEASES = 50
ADMIN_KEY = "e2e-admin-key-0123456789"
SERVICE_SECRET = "e2e-service-credential-0123456789"


@contextlib.contextmanager
def two_brokers(env: dict[str, str], logs: Path) -> Iterator[tuple[BrokerProcess, BrokerProcess]]:
    with (
        broker_process(env, free_port(), logs / "broker-a.log") as a,
        broker_process(env, free_port(), logs / "broker-b.log") as b,
    ):
        yield a, b


async def test_two_processes_fifty_leases_at_expiry_make_one_refresh(
    fresh_database: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    await migrate_async(fresh_database, MIGRATIONS, "auth-broker")
    with run_sandbox(access_token_ttl_seconds=TOKEN_TTL) as sb:
        env = settings_env(
            **sandbox_settings(
                sb,
                fresh_database,
                kafka_bootstrap,
                lease_min_validity_seconds=LEASE_MARGIN,
                refresher_enabled=False,  # only the leases may refresh in this test
                log_level="INFO",
                log_json=True,
                admin_api_keys=ADMIN_KEY,
                service_credentials=f"e2e:{SERVICE_SECRET}",
            )
        )
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        service = {"Authorization": f"Bearer {SERVICE_SECRET}"}
        with two_brokers(env, tmp_path) as (a, b):
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
            async with httpx.AsyncClient(timeout=60, limits=limits) as http:
                created = await http.post(
                    a.base_url + "/v1/connections",
                    json={"name": "US", "market": "US"},
                    headers=admin,
                )
                assert created.status_code == 201, created.text
                conn_id = created.json()["id"]
                state = httpx.URL(created.json()["authorize_url"]).params["state"]
                code = sb.admin("POST", "/sandbox/v1/authorizations", {"region": "US"})["data"][
                    "code"
                ]
                # The callback lands on the other replica: state lives in the shared database.
                page = await http.get(
                    b.base_url + "/v1/oauth/callback", params={"code": code, "state": state}
                )
                assert page.status_code == 200, page.text

                first = (
                    await http.post(
                        f"{a.base_url}/internal/v1/connections/{conn_id}/token", headers=service
                    )
                ).json()
                assert sb.state.auth.refresh_count == 0
                # Refresh rotates the refresh token away: remember what was issued so far.
                issued = set(sb.state.auth.access) | set(sb.state.auth.refresh)
                # Wait until the token is inside the lease margin: every lease now wants a refresh.
                wait = first["expires_at"] - LEASE_MARGIN - time.time() + 1
                assert 0 < wait < TOKEN_TTL
                await asyncio.sleep(wait)

                async def lease(i: int) -> httpx.Response:
                    base = (a, b)[i % 2].base_url
                    return await http.post(
                        f"{base}/internal/v1/connections/{conn_id}/token", headers=service
                    )

                results = await asyncio.gather(*(lease(i) for i in range(LEASES)))
                listing = [
                    (await http.get(p.base_url + "/v1/connections", headers=admin)).text
                    for p in (a, b)
                ]

        # Logs are complete once both processes have exited.
        logs = [(tmp_path / f"broker-{n}.log").read_text() for n in ("a", "b")]

        assert [r.status_code for r in results] == [200] * LEASES, [
            r.text for r in results if r.status_code != 200
        ]
        tokens = {r.json()["access_token"] for r in results}
        distinct = len(tokens)  # (not the set itself: a failure message must not print tokens)
        assert distinct == 1, f"{distinct} different tokens handed out"
        (fresh,) = tokens
        refreshed = (
            fresh != first["access_token"]
        )  # (compared outside the assert: no token in output)
        assert refreshed, "the leases handed out the expired token"
        assert sb.state.auth.refresh_count == 1, (
            f"sandbox saw {sb.state.auth.refresh_count} refreshes"
        )
        assert sb.admin("GET", "/sandbox/v1/stats")["data"]["token_refreshes"] == 1
        # The leased token works against the sandbox.
        client = SignedClient(sb.base_url, sb.settings, fresh, None, sb.http)
        assert client.call("GET", "/authorization/202309/shops", cipher=False)["code"] == 0

        # Exactly one process logged the refresh; no log line and no admin response holds a token.
        assert sum(log.count('"token refreshed"') for log in logs) == 1
        secrets_seen = issued | set(sb.state.auth.access) | set(sb.state.auth.refresh) | {fresh}
        secrets_seen |= {ADMIN_KEY, SERVICE_SECRET, sb.settings.app_secret}
        assert len(secrets_seen) == 7  # 2 access + 2 refresh tokens + 3 settings secrets
        leaked = sum(t in text for t in secrets_seen for text in (*logs, *listing))
        assert leaked == 0, "a token appeared in a log or an admin response"
        # The search above only means something if both logs hold the broker's own lines:
        # the connection was created on a, the callback landed on b.
        assert '"connection created"' in logs[0], logs[0][-2000:]
        assert '"connection authorized"' in logs[1], logs[1][-2000:]

"""auth-broker against real PostgreSQL, Kafka and the TikTok sandbox, over real HTTP.

The broker runs in a thread (uvicorn on a free port) with a shiftable clock; the sandbox
redirects the seller's browser (played by httpx) to the broker's callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import secrets
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from auth_broker.clients.tiktok_client import LibraryTikTokAuth, config_from_settings
from auth_broker.config import Settings
from auth_broker.context import BrokerContext
from auth_broker.crypto import TokenCipher
from auth_broker.keys import rotate_keys
from auth_broker.leasing import TokenLeaser
from auth_broker.testing import (
    MIGRATIONS,
    RunningBroker,
    ShiftableClock,
    approve_in_sandbox,
    free_port,
    run_broker,
    sandbox_settings,
    wait_for_connection_event,
)
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from tiktok_sandbox.testing import RunningSandbox, SignedClient, run_sandbox
from tts_common.db import create_engine, session_factory
from tts_common.migrate import migrate_async
from tts_common.testing.infra import libpq_dsn

pytestmark = pytest.mark.integration

PG_DUMP = "/usr/lib/postgresql/15/bin/pg_dump"


@dataclass
class Stack:
    sandbox: RunningSandbox
    broker: RunningBroker
    clock: ShiftableClock
    database_url: str
    kafka: str
    http: httpx.AsyncClient
    logs: io.StringIO

    @property
    def url(self) -> str:
        return self.broker.base_url

    async def create(self, market: str, name: str = "shop") -> dict[str, Any]:
        r = await self.http.post(
            self.url + "/v1/connections",
            json={"name": name, "market": market},
            headers=self.broker.admin,
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    async def connect(self, market: str) -> tuple[dict[str, Any], httpx.Response]:
        created = await self.create(market, f"{market} shop")
        target = await approve_in_sandbox(self.http, created["authorize_url"], market)
        return created, await self.http.get(target)

    async def get(self, connection_id: str) -> dict[str, Any]:
        r = await self.http.get(
            f"{self.url}/v1/connections/{connection_id}", headers=self.broker.admin
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def lease(self, connection_id: str) -> httpx.Response:
        return await self.http.post(
            f"{self.url}/internal/v1/connections/{connection_id}/token", headers=self.broker.service
        )

    def works(self, token: str, region: str) -> bool:
        """Is `token` accepted by the sandbox on a signed Open API call?"""
        client = SignedClient(
            self.sandbox.base_url, self.sandbox.settings, token, None, self.sandbox.http
        )
        return bool(client.call("GET", "/authorization/202309/shops", cipher=False)["code"] == 0)

    def deliveries(self) -> Any:
        """The sandbox's webhook delivery log (for failure messages)."""
        return self.sandbox.admin("GET", "/sandbox/v1/webhooks/deliveries")["data"]

    def tiktok_tokens(self) -> set[str]:
        """Every access and refresh token the sandbox ever handed out that is still known to it."""
        auth = self.sandbox.state.auth
        return set(auth.access) | set(auth.refresh)


@pytest.fixture
async def stack(
    fresh_database: str, kafka_bootstrap: str, captured_logs: io.StringIO
) -> AsyncIterator[Stack]:
    await migrate_async(fresh_database, MIGRATIONS, "auth-broker")
    port = free_port()
    clock = ShiftableClock()
    with run_sandbox(
        redirect_url=f"http://127.0.0.1:{port}/v1/oauth/callback",
        webhook_retry_delays_seconds=(0.2, 0.5, 1.0),
    ) as sb:
        settings = Settings(
            **sandbox_settings(
                sb,
                fresh_database,
                kafka_bootstrap,
                http_port=port,
                # Two spellings of the same sandbox, so the test can tell which host a URL uses.
                tiktok_us_authorize_url=sb.base_url.replace("127.0.0.1", "localhost"),
                tiktok_webhook_address=f"http://127.0.0.1:{port}/v1/webhooks/tiktok",
                oauth_state_ttl_seconds=600,
                refresher_enabled=False,
                metrics_sample_seconds=0.2,
            )
        )
        with run_broker(settings, clock=clock) as broker:
            async with httpx.AsyncClient(timeout=30) as http:
                yield Stack(sb, broker, clock, fresh_database, kafka_bootstrap, http, captured_logs)


async def test_connect_us_and_uk_end_to_end(stack: Stack) -> None:
    responses: list[str] = []
    for market, region, host in (("US", "US", "localhost"), ("UK", "GB", "127.0.0.1")):
        created, page = await stack.connect(market)
        responses += [str(created), page.text]
        assert created["status"] == "pending"
        url = httpx.URL(created["authorize_url"])
        assert url.host == host and url.path == "/open/authorize"
        assert url.params["service_id"] == stack.sandbox.settings.service_id
        assert len(url.params["state"]) >= 40

        assert page.status_code == 200, page.text
        assert "Connected — you can close this window" in page.text

        conn = await stack.get(created["id"])
        responses.append(str(conn))
        assert conn["status"] == "active" and conn["status_reason"] is None
        assert conn["market"] == market
        assert [s["region"] for s in conn["shops"]] == [region]
        assert conn["shops"][0]["id"] == stack.sandbox.shop_id(market)
        assert conn["seller_name"] and conn["granted_scopes"]
        assert conn["access_token_expires_at"] and conn["refresh_token_expires_at"]

        lease = await stack.lease(created["id"])
        assert lease.status_code == 200, lease.text
        body = lease.json()
        assert body["shop_ciphers"] == {s["id"]: s["cipher"] for s in body["shops"]}
        assert stack.works(body["access_token"], market)

        event = await wait_for_connection_event(stack.kafka, created["id"], "connection.authorized")
        assert event.data["market"] == market
        assert event.source == "/auth-broker" and event.subject == created["id"]
        assert event.data["shop_ids"] == [stack.sandbox.shop_id(market)]

    metrics = (await stack.http.get(stack.url + "/metrics")).text
    assert 'auth_broker_leases_total{outcome="ok"} 2.0' in metrics
    listing = await stack.http.get(stack.url + "/v1/connections", headers=stack.broker.admin)
    assert {c["market"] for c in listing.json()} == {"US", "UK"}
    # Seconds to expiry of both connections' tokens (sampled), for the "expiring" alert.
    ids = {c["id"] for c in listing.json()}
    for _ in range(100):
        metrics = (await stack.http.get(stack.url + "/metrics")).text
        if 'auth_broker_connections{status="active"} 2.0' in metrics:
            break
        await asyncio.sleep(0.1)
    expiry = {
        (s.labels["connection_id"], s.labels["token"]): s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
        if s.name == "auth_broker_token_expiry_seconds"
    }
    assert set(expiry) == {(i, t) for i in ids for t in ("access", "refresh")}
    assert all(v > 0 for v in expiry.values()), expiry
    responses.append(listing.text)
    # No admin response ever carries a token.
    tokens = stack.tiktok_tokens()
    assert tokens
    assert not [t for t in tokens for r in responses if t in r]


async def test_bad_state_is_refused_with_a_page_saying_why(stack: Stack) -> None:
    created = await stack.create("US")
    state = httpx.URL(created["authorize_url"]).params["state"]
    code = stack.sandbox.admin("POST", "/sandbox/v1/authorizations", {"region": "US"})["data"][
        "code"
    ]
    callback = stack.url + "/v1/oauth/callback"

    unknown = await stack.http.get(
        callback, params={"code": code, "state": secrets.token_urlsafe(32)}
    )
    assert unknown.status_code == 400 and "unknown" in unknown.text

    missing = await stack.http.get(callback, params={"code": code})
    assert missing.status_code == 400 and "missing" in missing.text

    # Expired: the broker's clock passes the state's TTL.
    stack.clock.advance(601)
    expired = await stack.http.get(callback, params={"code": code, "state": state})
    assert expired.status_code == 400 and "expired" in expired.text
    stack.clock.advance(-601)

    # Superseded: a reauthorize link replaces the older unused one.
    again = await stack.http.post(
        f"{stack.url}/v1/connections/{created['id']}/reauthorize", headers=stack.broker.admin
    )
    assert again.status_code == 200
    superseded = await stack.http.get(callback, params={"code": code, "state": state})
    assert superseded.status_code == 400 and "unknown" in superseded.text

    # Used: the first callback succeeds, the replay of the same redirect is refused.
    target = await approve_in_sandbox(stack.http, again.json()["authorize_url"], "US")
    first = await stack.http.get(target)
    assert first.status_code == 200
    replay = await stack.http.get(target)
    assert replay.status_code == 400 and "already used" in replay.text
    assert (await stack.get(created["id"]))["status"] == "active"


async def test_tiktok_error_keeps_connection_pending_with_reason(stack: Stack) -> None:
    created = await stack.create("UK")
    state = httpx.URL(created["authorize_url"]).params["state"]
    r = await stack.http.get(
        stack.url + "/v1/oauth/callback", params={"code": "ROW_not-a-real-code", "state": state}
    )
    assert r.status_code == 502
    assert "TikTok refused the authorization" in r.text
    conn = await stack.get(created["id"])
    assert conn["status"] == "pending"
    assert "36004005" in conn["status_reason"]
    assert (await stack.lease(created["id"])).status_code == 409
    assert "ROW_not-a-real-code" not in stack.logs.getvalue()


async def test_credentials_are_required(stack: Stack) -> None:
    created, _ = await stack.connect("US")
    lease_url = f"{stack.url}/internal/v1/connections/{created['id']}/token"
    assert (await stack.http.post(lease_url)).status_code == 401
    # An admin key is not a service credential.
    assert (await stack.http.post(lease_url, headers=stack.broker.admin)).status_code == 401
    assert (
        await stack.http.post(lease_url, headers={"Authorization": "Bearer nope"})
    ).status_code == 401
    assert (await stack.http.get(stack.url + "/v1/connections")).status_code == 401
    assert (
        await stack.http.get(stack.url + "/v1/connections", headers={"X-API-Key": "wrong"})
    ).status_code == 401
    ok = await stack.http.get(
        stack.url + "/v1/connections", headers={"X-API-Key": stack.broker.settings.admin_keys()[0]}
    )
    assert ok.status_code == 200
    missing = await stack.http.post(
        f"{stack.url}/internal/v1/connections/00000000-0000-4000-8000-000000000000/token",
        headers=stack.broker.service,
    )
    assert missing.status_code == 404


async def test_webhook_revocation_then_lease_409_and_event_on_kafka(stack: Stack) -> None:
    created, _ = await stack.connect("US")
    assert (await stack.lease(created["id"])).status_code == 200
    # The broker subscribed the shop's deauthorization webhook to itself on connect.
    revoke = stack.sandbox.admin(
        "POST",
        "/sandbox/v1/faults",
        {"revoke_authorization": {"shop_id": stack.sandbox.shop_id("US")}},
    )
    assert revoke["code"] == 0
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while (await stack.get(created["id"]))["status"] != "revoked":
        assert datetime.now(UTC) < deadline, (
            f"webhook never revoked the connection: {stack.deliveries()}"
        )
        await asyncio.sleep(0.1)

    lease = await stack.lease(created["id"])
    assert lease.status_code == 409
    assert lease.json()["error"] == "connection_revoked"
    assert "deauthorized" in lease.json()["detail"]
    event = await wait_for_connection_event(stack.kafka, created["id"], "connection.revoked")
    assert "deauthorized" in (event.data["reason"] or "")


async def test_webhook_signature_is_verified(stack: Stack) -> None:
    body = b'{"type":6,"tts_notification_id":"1","shop_id":"1","timestamp":1,"data":{}}'
    r = await stack.http.post(
        stack.url + "/v1/webhooks/tiktok", content=body, headers={"Authorization": "0" * 64}
    )
    assert r.status_code == 401


async def test_upcoming_expiration_webhook_marks_expiring(stack: Stack) -> None:
    created, _ = await stack.connect("UK")
    shop_id = stack.sandbox.shop_id("UK")
    expires = int(datetime.now(UTC).timestamp()) + 10 * 86400
    stack.sandbox.state.webhooks.emit(
        shop_id,
        "UPCOMING_AUTHORIZATION_EXPIRATION",
        {"message": "expiring", "expiration_time": str(expires)},
    )
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while (conn := await stack.get(created["id"]))["status"] != "expiring":
        assert datetime.now(UTC) < deadline, (
            f"webhook never marked it expiring: {stack.deliveries()}"
        )
        await asyncio.sleep(0.1)
    assert conn["authorization_expires_at"].startswith(
        datetime.fromtimestamp(expires, UTC).date().isoformat()
    )
    # Still leasable: the tokens work until the authorization ends.
    assert (await stack.lease(created["id"])).status_code == 200
    await wait_for_connection_event(stack.kafka, created["id"], "connection.expiring")


async def test_refresher_renews_once_and_refused_refresh_expires(stack: Stack) -> None:
    created, _ = await stack.connect("US")
    first = (await stack.lease(created["id"])).json()
    broker = stack.broker
    assert stack.sandbox.state.auth.refresh_count == 0

    # Seven days minus a bit later (broker clock): inside the refresh margin.
    stack.clock.advance(7 * 86400 - 3600)
    async with refresher_of(broker, stack.clock) as leaser:
        assert await leaser.refresh_due() == 1
        assert await leaser.refresh_due() == 0  # already fresh: no second call
    assert stack.sandbox.state.auth.refresh_count == 1
    second = (await stack.lease(created["id"])).json()
    assert second["access_token"] != first["access_token"]
    assert stack.works(second["access_token"], "US")

    # The seller's authorization ends without a webhook; the next refresh is refused.
    stack.sandbox.state.auth.revoke_seller(
        stack.sandbox.state.shops[stack.sandbox.shop_id("US")]["seller_id"]
    )
    stack.clock.advance(7 * 86400)
    expired = await stack.lease(created["id"])
    assert expired.status_code == 409, expired.text
    assert expired.json()["error"] == "connection_expired"
    conn = await stack.get(created["id"])
    assert (
        conn["status"] == "expired" and "TikTok refused the token refresh" in conn["status_reason"]
    )
    await wait_for_connection_event(stack.kafka, created["id"], "connection.expired")


async def test_delete_revokes_and_erases_tokens(stack: Stack) -> None:
    created, _ = await stack.connect("UK")
    r = await stack.http.delete(
        f"{stack.url}/v1/connections/{created['id']}", headers=stack.broker.admin
    )
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert (await stack.lease(created["id"])).status_code == 409
    await wait_for_connection_event(stack.kafka, created["id"], "connection.revoked")
    engine = create_engine(stack.database_url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT access_token_enc, refresh_token_enc FROM connections WHERE id = :id"
                    ),
                    {"id": created["id"]},
                )
            ).one()
    finally:
        await engine.dispose()
    assert row == (None, None)


async def test_database_dump_and_logs_hold_no_plaintext_token(stack: Stack) -> None:
    created, _ = await stack.connect("US")
    await stack.connect("UK")
    lease = (await stack.lease(created["id"])).json()
    before_refresh = stack.tiktok_tokens()  # the refresh grant deletes the old refresh token
    stack.clock.advance(7 * 86400)  # force a refresh so rotated tokens are stored too
    refreshed = (await stack.lease(created["id"])).json()
    assert refreshed["access_token"] != lease["access_token"]

    tokens = (
        before_refresh | stack.tiktok_tokens() | {lease["access_token"], refreshed["access_token"]}
    )
    assert len(tokens) == 6  # US: 2 access + 2 refresh, UK: 1 + 1
    result = await asyncio.to_thread(
        subprocess.run,
        [PG_DUMP, "--no-owner", "--dbname", libpq_dsn(stack.database_url)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    dump = result.stdout.decode()
    assert "connections" in dump and "gAAAAA" in dump  # the tables and Fernet ciphertexts are there
    assert not [t for t in tokens if t in dump]
    logs = stack.logs.getvalue()
    assert "token refreshed" in logs  # the capture did see the broker's logs
    assert not [t for t in tokens if t in logs]


async def test_rotate_keys_reencrypts_under_the_new_key(stack: Stack) -> None:
    created, _ = await stack.connect("US")
    token = (await stack.lease(created["id"])).json()["access_token"]
    old_key = stack.broker.settings.fernet_keys()[0]
    new_key = Fernet.generate_key().decode()
    engine = create_engine(stack.database_url)
    try:
        report = await rotate_keys(session_factory(engine), TokenCipher([new_key, old_key]))
        assert report.rotated == 1 and not report.failed
        async with engine.connect() as conn:
            enc = (
                await conn.execute(
                    text("SELECT access_token_enc FROM connections WHERE id = :id"),
                    {"id": created["id"]},
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert TokenCipher([new_key]).decrypt(created["id"], "access", enc) == token


@contextlib.asynccontextmanager
async def refresher_of(broker: RunningBroker, clock: ShiftableClock) -> AsyncIterator[TokenLeaser]:
    """A second replica's refresher (own engine and TikTok client) against the same database."""
    settings = broker.settings
    engine = create_engine(settings.database_url)
    port = LibraryTikTokAuth(config_from_settings(settings))
    ctx = BrokerContext(
        sessions=session_factory(engine),
        cipher=TokenCipher(settings.fernet_keys()),
        tiktok=port,
        settings=settings,
        clock=clock,
    )
    try:
        yield TokenLeaser(ctx)
    finally:
        await port.aclose()
        await engine.dispose()


async def test_lease_with_a_reported_stale_token_over_http(stack: Stack) -> None:
    created, _ = await stack.connect("UK")
    url = f"{stack.url}/internal/v1/connections/{created['id']}/token"
    first = (await stack.http.post(url, headers=stack.broker.service)).json()
    bad = await stack.http.post(
        url, headers=stack.broker.service, json={"stale_token_sha256": "zz"}
    )
    assert bad.status_code == 422
    stale = hashlib.sha256(first["access_token"].encode()).hexdigest()
    fresh = await stack.http.post(
        url, headers=stack.broker.service, json={"stale_token_sha256": stale}
    )
    assert fresh.status_code == 200
    assert fresh.headers["cache-control"] == "no-store"
    assert fresh.json()["access_token"] != first["access_token"]
    assert stack.works(fresh.json()["access_token"], "UK")
    assert stack.sandbox.state.auth.refresh_count == 1


async def test_approval_by_a_seller_of_the_wrong_market_keeps_pending(stack: Stack) -> None:
    created = await stack.create("UK")
    target = await approve_in_sandbox(stack.http, created["authorize_url"], "US")  # wrong seller
    page = await stack.http.get(target)
    assert page.status_code == 502 and "no UK shop" in page.text
    conn = await stack.get(created["id"])
    assert conn["status"] == "pending" and "shop regions: US" in conn["status_reason"]
    assert conn["shops"] == []
    assert (await stack.lease(created["id"])).status_code == 409

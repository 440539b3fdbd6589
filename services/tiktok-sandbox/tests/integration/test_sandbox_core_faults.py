"""Injected faults over real HTTP: errors, latency, timeouts, resets, revoke; admin clock/stats."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from tiktok_sandbox.testing import RunningSandbox, SignedClient, free_port, run_sandbox

BRANDS = "/product/202309/brands"
CATEGORIES = "/product/202309/categories"


@pytest.fixture
def sb() -> Iterator[RunningSandbox]:
    with run_sandbox(webhook_retry_delays_seconds=(0.1,)) as sandbox:
        yield sandbox


@pytest.fixture
def uk(sb: RunningSandbox) -> SignedClient:
    return sb.client("UK")


def add(sb: RunningSandbox, **rule: Any) -> dict[str, Any]:
    resp = sb.admin("POST", "/sandbox/v1/faults", rule)
    assert resp["code"] == 0, resp
    return resp["data"]


def test_error_rate_returns_503_36009003(sb: RunningSandbox, uk: SignedClient) -> None:
    add(sb, error_rate=1.0)
    resp = uk.request("GET", BRANDS)
    assert resp.status_code == 503
    assert resp.json()["code"] == 36009003 and resp.json()["data"] is None
    assert sb.admin("GET", "/sandbox/v1/stats")["data"]["faults_injected"]["error"] == 1
    assert sb.admin("DELETE", "/sandbox/v1/faults")["code"] == 0
    assert uk.request("GET", BRANDS).status_code == 200


def test_remaining_limits_the_number_of_faults(sb: RunningSandbox, uk: SignedClient) -> None:
    add(sb, error_rate=1.0, remaining=2)
    codes = [uk.request("GET", BRANDS).status_code for _ in range(4)]
    assert codes == [503, 503, 200, 200]


def test_operation_and_shop_filters(sb: RunningSandbox, uk: SignedClient) -> None:
    add(sb, error_rate=1.0, operations=[f"GET {BRANDS}"])
    assert uk.request("GET", BRANDS).status_code == 503
    assert uk.request("GET", CATEGORIES).status_code == 200
    sb.admin("DELETE", "/sandbox/v1/faults")
    add(sb, error_rate=1.0, operations=["GET /product/*/brands"], shop_id=sb.shop_id("US"))
    assert uk.request("GET", BRANDS).status_code == 200
    assert sb.client("US").request("GET", BRANDS).status_code == 503


def test_latency(sb: RunningSandbox, uk: SignedClient) -> None:
    add(sb, latency_ms=300)
    start = time.monotonic()
    assert uk.request("GET", BRANDS).status_code == 200
    assert time.monotonic() - start >= 0.3


def test_connection_reset(sb: RunningSandbox, uk: SignedClient) -> None:
    add(sb, reset_rate=1.0, remaining=1)
    with pytest.raises(httpx.TransportError):
        uk.request("GET", BRANDS)
    assert uk.request("GET", BRANDS).status_code == 200
    assert sb.admin("GET", "/sandbox/v1/stats")["data"]["faults_injected"]["reset"] == 1


def test_timeout_never_answers_within_the_client_timeout(sb: RunningSandbox) -> None:
    client = sb.client("UK")
    add(sb, timeout_rate=1.0, timeout_seconds=2, remaining=1)
    client.http = httpx.Client(base_url=sb.base_url, timeout=0.5)
    try:
        with pytest.raises(httpx.ReadTimeout):
            client.request("GET", BRANDS)
    finally:
        client.http.close()


def test_drop_response_only_hits_writes(sb: RunningSandbox, uk: SignedClient) -> None:
    add(sb, drop_response_rate=1.0)
    assert uk.request("GET", BRANDS).status_code == 200


def test_invalid_rule_is_rejected(sb: RunningSandbox) -> None:
    assert sb.admin("POST", "/sandbox/v1/faults", {"error_rate": 2})["code"] == 36009004
    assert sb.admin("POST", "/sandbox/v1/faults", {"operations": "x"})["code"] == 36009004
    assert sb.admin("GET", "/sandbox/v1/faults")["data"]["rules"] == []


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append((dict(self.headers), orjson.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Receiver.received = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def test_revoke_authorization(sb: RunningSandbox, receiver: str) -> None:
    grant = sb.authorize("UK")
    client = sb.client("UK", access_token=grant["access_token"])
    sub = client.call(
        "PUT",
        "/event/202309/webhooks",
        json={"event_type": "SELLER_DEAUTHORIZATION", "address": receiver},
    )
    assert sub["code"] == 0, sub
    resp = sb.admin(
        "POST", "/sandbox/v1/faults", {"revoke_authorization": {"shop_id": sb.shop_id("UK")}}
    )
    assert resp["code"] == 0
    denied = client.request("GET", BRANDS)
    assert denied.status_code == 401 and denied.json()["code"] == 36009004
    refresh = sb.http.get(
        "/api/v2/token/refresh",
        params={
            "app_key": sb.settings.app_key,
            "app_secret": sb.settings.app_secret,
            "refresh_token": grant["refresh_token"],
            "grant_type": "refresh_token",
        },
    ).json()
    assert refresh["code"] != 0
    # The US seller is untouched, and the UK seller can authorize again.
    assert sb.client("US").request("GET", BRANDS).status_code == 200
    assert sb.client("UK").request("GET", BRANDS).status_code == 200
    deadline = time.monotonic() + 10
    while not _Receiver.received and time.monotonic() < deadline:
        time.sleep(0.05)
    (headers, payload) = _Receiver.received[0]
    assert payload["type"] == 6 and payload["shop_id"] == sb.shop_id("UK")
    assert "message" in payload["data"] and headers.get("Authorization")
    bad = sb.admin("POST", "/sandbox/v1/faults", {"revoke_authorization": {"shop_id": "1"}})
    assert bad["code"] == 36009004


def test_clock_endpoint(sb: RunningSandbox) -> None:
    before = sb.admin("GET", "/sandbox/v1/clock")["data"]["now"]
    after = sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 3600})["data"]
    assert after["now"] >= before + 3600 and after["offset_seconds"] == 3600
    assert sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": -1})["code"] == 36009004
    assert sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": "x"})["code"] == 36009004


def test_stats_shape(sb: RunningSandbox, uk: SignedClient) -> None:
    uk.request("GET", BRANDS)
    data = sb.admin("GET", "/sandbox/v1/stats")["data"]
    for key in (
        "calls",
        "rate_limited",
        "faults_injected",
        "products_by_shop",
        "orders_by_shop",
        "duplicate_seller_skus",
        "duplicate_seller_sku_rejections",
    ):
        assert key in data
    assert data["calls"][f"GET {BRANDS}"] == 1
    assert sb.admin("DELETE", "/sandbox/v1/stats")["code"] == 0
    assert sb.admin("GET", "/sandbox/v1/stats")["data"]["calls"] == {}

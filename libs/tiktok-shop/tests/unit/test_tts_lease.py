"""Broker lease token provider against an in-process fake broker."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from pydantic import SecretStr
from tiktok_shop import (
    AccessToken,
    BrokerLeaseTokenProvider,
    ConnectionUnavailableError,
    TokenLeaseError,
)

CRED = "svc:secret-credential"


class FakeBroker:
    def __init__(self) -> None:
        self.calls = 0
        self.status = 200
        self.expires_at = 10_000

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if request.headers.get("authorization") != f"Bearer {CRED}":
            return httpx.Response(401, json={"error": "unauthorized", "detail": "no credentials"})
        if self.status == 409:
            return httpx.Response(409, json={"error": "conflict", "detail": "connection revoked"})
        if self.status != 200:
            return httpx.Response(self.status, content=b"oops")
        cid = request.url.path.split("/")[-2]
        body = {
            "connection_id": cid,
            "market": "US",
            "access_token": f"TOK-{self.calls}",
            "expires_at": self.expires_at,
            "shop_ciphers": {"S1": "C1"},
            "shops": [{"id": "S1", "name": "n", "region": "US", "cipher": "C1"}],
        }
        return httpx.Response(200, content=orjson.dumps(body))


def provider(
    broker: FakeBroker, now: list[float], credential: str = CRED
) -> BrokerLeaseTokenProvider:
    http = httpx.AsyncClient(transport=httpx.MockTransport(broker))
    return BrokerLeaseTokenProvider(
        "http://broker.test/",
        SecretStr(credential),
        http,
        cache_seconds=30,
        expiry_margin_seconds=120,
        clock=lambda: now[0],
    )


async def test_lease_is_cached_and_shared_by_concurrent_callers() -> None:
    broker, now = FakeBroker(), [1000.0]
    p = provider(broker, now)
    tokens = await asyncio.gather(*(p.get("conn-1") for _ in range(10)))
    assert broker.calls == 1 and {t.access_token for t in tokens} == {"TOK-1"}
    assert tokens[0].cipher_for("S1") == "C1" and tokens[0].expires_at == 10_000
    now[0] += 31  # cache window over
    assert (await p.get("conn-1")).access_token == "TOK-2"


async def test_never_serves_a_token_close_to_expiry() -> None:
    broker, now = FakeBroker(), [1000.0]
    broker.expires_at = 1100  # inside the 120 s margin from the start
    p = provider(broker, now)
    await p.get("c")
    await p.get("c")
    assert broker.calls == 2


async def test_refresh_after_expired_bypasses_the_cache_once() -> None:
    broker, now = FakeBroker(), [1000.0]
    p = provider(broker, now)
    old = await p.get("c")
    fresh, again = await asyncio.gather(
        p.refresh_after_expired("c", old), p.refresh_after_expired("c", old)
    )
    assert fresh.access_token == again.access_token == "TOK-2" and broker.calls == 2


async def test_409_is_connection_unavailable_with_reason() -> None:
    broker, now = FakeBroker(), [0.0]
    broker.status = 409
    with pytest.raises(ConnectionUnavailableError) as info:
        await provider(broker, now).get("c")
    assert "revoked" in str(info.value) and not info.value.retriable


async def test_bad_credentials_and_server_errors() -> None:
    broker, now = FakeBroker(), [0.0]
    with pytest.raises(TokenLeaseError) as info:
        await provider(broker, now, credential="wrong").get("c")
    assert info.value.http_status == 401 and not info.value.retriable
    assert "wrong" not in str(info.value)
    broker.status = 503
    with pytest.raises(TokenLeaseError) as server:
        await provider(broker, now).get("c")
    assert server.value.retriable


def test_access_token_never_prints_its_secret() -> None:
    # The lease token is a plain AccessToken: it never prints its secret.
    token = AccessToken("TOK-secret", 5, {"S": "C"})
    assert "TOK-secret" not in repr(token) and "TOK-secret" not in str(token)

"""The webhook intake's group commit: a concurrent burst is stored once per notification, every
request is answered after its commit, and a notification sent twice is new exactly once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections import Counter

import asyncpg
import httpx
import orjson
import pytest
from order_ingest.config import Settings
from tts_common.testing.infra import libpq_dsn

pytestmark = pytest.mark.integration

SHOP = "7495540735365777507"


def _signed(notification_id: str, order_id: str) -> tuple[bytes, dict[str, str]]:
    settings = Settings()
    body = orjson.dumps(
        {
            "type": 1,
            "tts_notification_id": notification_id,
            "shop_id": SHOP,
            "timestamp": 1718305585,
            "data": {"order_id": order_id, "order_status": "UNPAID"},
        }
    )
    secret = settings.tiktok_app_secret.get_secret_value()
    sign = hmac.new(secret.encode(), settings.tiktok_app_key.encode() + body, hashlib.sha256)
    return body, {"Authorization": sign.hexdigest(), "Content-Type": "application/json"}


async def test_a_burst_is_stored_once_per_notification(client: httpx.AsyncClient) -> None:
    distinct = [_signed(f"9{n:018d}", f"5{n:017d}") for n in range(300)]
    repeated = _signed("7380066284010030890", "576653688135258178")
    requests = [*distinct, *([repeated] * 25)]

    async def post(body: bytes, headers: dict[str, str]) -> str:
        r = await client.post("/v1/webhooks/tiktok", content=body, headers=headers)
        assert r.status_code == 200, r.text
        return str(r.json()["result"])

    answers = Counter(await asyncio.gather(*(post(b, h) for b, h in requests)))
    assert answers == {"accepted": 301, "duplicate": 24}

    # Every acknowledged notification is committed: read from another connection.
    conn = await asyncpg.connect(libpq_dsn(client.database_url))  # type: ignore[attr-defined]
    try:
        stored = await conn.fetch("SELECT notification_id, shop_id, type FROM tiktok_webhooks")
    finally:
        await conn.close()
    assert len(stored) == 301
    assert {r["notification_id"] for r in stored} == {
        *(f"9{n:018d}" for n in range(300)),
        "7380066284010030890",
    }
    assert {(r["shop_id"], r["type"]) for r in stored} == {(SHOP, 1)}

    # A retry after the burst is a duplicate, and a bad signature is still refused.
    assert await post(*repeated) == "duplicate"
    body, _ = distinct[0]
    bad = await client.post(
        "/v1/webhooks/tiktok", content=body, headers={"Authorization": "0" * 64}
    )
    assert bad.status_code == 401

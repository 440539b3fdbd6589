"""Webhook signature: the official vector from "TikTok Shop webhooks overview"."""

from __future__ import annotations

import orjson
from tiktok_sandbox.webhook_signing import (
    EVENT_TYPES,
    encode_payload,
    sign_webhook,
    verify_webhook,
)

OFFICIAL_BODY = (
    b'{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507",'
    b'"timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178",'
    b'"order_status":"UNPAID","update_time":1718305585}}'
)
OFFICIAL_SIGN = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"


def test_official_vector() -> None:
    assert sign_webhook("abcdef", "123", OFFICIAL_BODY) == OFFICIAL_SIGN


def test_verify_accepts_official_and_rejects_tampered_body() -> None:
    assert verify_webhook("abcdef", "123", OFFICIAL_BODY, OFFICIAL_SIGN)
    tampered = OFFICIAL_BODY.replace(b"UNPAID", b"ON_HOLD")
    assert not verify_webhook("abcdef", "123", tampered, OFFICIAL_SIGN)
    assert not verify_webhook("abcdeg", "123", OFFICIAL_BODY, OFFICIAL_SIGN)


def test_encode_payload_reproduces_official_body_bytes() -> None:
    # Our serialiser must produce the exact documented bytes, so the official signature holds.
    body = encode_payload(
        "ORDER_STATUS_CHANGE",
        "7380066284010030890",
        "7495540735365777507",
        1718305585,
        {
            "is_on_hold_order": True,
            "order_id": "576653688135258178",
            "order_status": "UNPAID",
            "update_time": 1718305585,
        },
    )
    assert body == OFFICIAL_BODY
    assert sign_webhook("abcdef", "123", body) == OFFICIAL_SIGN


def test_type_numbers_match_reference() -> None:
    assert EVENT_TYPES["ORDER_STATUS_CHANGE"] == 1
    assert EVENT_TYPES["PRODUCT_STATUS_CHANGE"] == 5
    assert EVENT_TYPES["SELLER_DEAUTHORIZATION"] == 6
    assert EVENT_TYPES["UPCOMING_AUTHORIZATION_EXPIRATION"] == 7
    assert EVENT_TYPES["PRODUCT_AUDIT_STATUS_CHANGE"] == 37
    assert orjson.loads(encode_payload("PACKAGE_UPDATE", "1", "2", 3, {}))["type"] == 4

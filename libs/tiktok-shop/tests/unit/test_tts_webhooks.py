"""Webhook signature: the official vector (reference §6) and tamper checks."""

from __future__ import annotations

from tiktok_shop.webhooks import parse_webhook, verify_webhook, webhook_signature

BODY = (
    b'{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507",'
    b'"timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178",'
    b'"order_status":"UNPAID","update_time":1718305585}}'
)
EXPECTED = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"


def test_official_vector() -> None:
    assert webhook_signature("abcdef", "123", BODY) == EXPECTED
    assert verify_webhook("abcdef", "123", BODY, EXPECTED)


def test_uppercase_hex_and_whitespace_are_accepted() -> None:
    assert verify_webhook("abcdef", "123", BODY, f" {EXPECTED.upper()} ")


def test_tampered_body_wrong_secret_or_missing_header_fail() -> None:
    assert not verify_webhook("abcdef", "123", BODY.replace(b"UNPAID", b"PAID__"), EXPECTED)
    assert not verify_webhook("abcdef", "124", BODY, EXPECTED)
    assert not verify_webhook("abcdef", "123", BODY, None)
    assert not verify_webhook("abcdef", "123", BODY, "Bearer " + EXPECTED)


def test_parse_keeps_unknown_fields_and_stringifies_ids() -> None:
    event = parse_webhook(BODY.replace(b'"7495540735365777507"', b"7495540735365777507"))
    assert event.shop_id == "7495540735365777507"
    assert event.data["order_status"] == "UNPAID"

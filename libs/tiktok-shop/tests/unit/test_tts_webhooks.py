"""Webhook signature: the official vector ("TikTok Shop webhooks overview") and tamper checks."""

from __future__ import annotations

import pydantic
import pytest
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


def test_ids_in_data_sent_as_json_numbers_become_exact_strings() -> None:
    # PRODUCT_STATUS_CHANGE may carry product_id as a JSON number (TikTok's samples); 19 digits
    # exceed a double, so the string must come from the exact integer, not a float.
    product = parse_webhook(
        b'{"type":5,"tts_notification_id":"1","shop_id":"2","timestamp":1718305585,'
        b'"data":{"product_id":1729592969712207008,"status":"ACTIVATE","update_time":1718305585}}'
    )
    assert product.data["product_id"] == "1729592969712207008"
    assert product.data["update_time"] == 1718305585  # times stay numbers
    package = parse_webhook(
        b'{"type":4,"tts_notification_id":"3","shop_id":"2","timestamp":1718305585,'
        b'"data":{"sc_type":"SPLIT","package_list":[{"package_id":1152921504606846976,'
        b'"order_id_list":[576653688135258178]}],"update_time":1718305585}}'
    )
    [entry] = package.data["package_list"]
    assert entry == {"package_id": "1152921504606846976", "order_id_list": ["576653688135258178"]}


def test_a_body_that_is_not_an_object_is_a_validation_error() -> None:
    # Receivers catch ValueError/ValidationError for "not a TikTok notification".
    with pytest.raises(pydantic.ValidationError):
        parse_webhook(b'[{"type":1}]')

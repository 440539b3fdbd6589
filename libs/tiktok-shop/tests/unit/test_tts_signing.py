"""The four documented signing vectors ("Sign your API request" and SDK tests) and their rules."""

from __future__ import annotations

from tiktok_shop.signing import sign_request, string_to_sign


def test_v1_official_example() -> None:
    params = {"app_key": "29a39d", "timestamp": "1623812664"}
    assert string_to_sign("/authorization/202309/shops", params) == (
        b"/authorization/202309/shopsapp_key29a39dtimestamp1623812664"
    )
    assert (
        sign_request("e59af819cc", "/authorization/202309/shops", params)
        == "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"
    )


V2_PARAMS = {
    "app_key": "68xu9ks5p4i8",
    "shop_cipher": "ROW_xkMbgAAAeVAQra0eZWebFQq5aIK",
    "timestamp": "1696909648",
}


def test_v2_get_with_cipher() -> None:
    assert (
        sign_request("e59af819cc", "/event/202309/webhooks", V2_PARAMS)
        == "ed58e1b5e59865c22a7b828c1cab65007441f43cc91a6cb2f2cdc638e0995a37"
    )


def test_v3_put_with_body() -> None:
    body = b'{"event_type":"PACKAGE_UPDATE","address":"https://partner.tiktokshop.com"}'
    assert (
        sign_request("e59af819cc", "/event/202309/webhooks", V2_PARAMS, body)
        == "701dd6deb2389fe4c469b89bd37fc56f96a6da6afeb4d01c9077a65169752fa7"
    )


def test_v4_php_vector() -> None:
    assert (
        sign_request("app_secret", "/test-api", {"foo": "bar"})
        == "d3cb7fe11ecae942802ceeca67e7cf10120cc12f1517d45fbc1c8cfe5413c80f"
    )


def test_sign_and_access_token_params_are_excluded() -> None:
    base = sign_request("s", "/p", {"a": "1"})
    assert sign_request("s", "/p", {"a": "1", "sign": "x", "access_token": "t"}) == base


def test_keys_sorted_by_byte_order_not_insertion() -> None:
    # Upper-case sorts before lower-case in byte order.
    assert string_to_sign("/p", {"b": "2", "A": "1", "a": "0"}) == b"/pA1a0b2"


def test_param_order_does_not_change_sign_but_values_do() -> None:
    one = sign_request("s", "/p", {"x": "1", "y": "2"})
    assert one == sign_request("s", "/p", {"y": "2", "x": "1"})
    assert one != sign_request("s", "/p", {"x": "1", "y": "3"})

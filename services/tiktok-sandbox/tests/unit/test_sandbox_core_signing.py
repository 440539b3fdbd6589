"""The four documented signing vectors, plus the verify rules the pipeline relies on."""

from __future__ import annotations

import pytest
from tiktok_sandbox import signing

V2_PARAMS = {
    "app_key": "68xu9ks5p4i8",
    "shop_cipher": "ROW_xkMbgAAAeVAQra0eZWebFQq5aIK",
    "timestamp": "1696909648",
}


@pytest.mark.parametrize(
    ("secret", "path", "params", "body", "expected"),
    [
        (  # V1: the official example
            "e59af819cc",
            "/authorization/202309/shops",
            {"app_key": "29a39d", "timestamp": "1623812664"},
            b"",
            "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8",
        ),
        (  # V2: GET with shop_cipher
            "e59af819cc",
            "/event/202309/webhooks",
            V2_PARAMS,
            b"",
            "ed58e1b5e59865c22a7b828c1cab65007441f43cc91a6cb2f2cdc638e0995a37",
        ),
        (  # V3: same params, PUT with a JSON body
            "e59af819cc",
            "/event/202309/webhooks",
            V2_PARAMS,
            b'{"event_type":"PACKAGE_UPDATE","address":"https://partner.tiktokshop.com"}',
            "701dd6deb2389fe4c469b89bd37fc56f96a6da6afeb4d01c9077a65169752fa7",
        ),
        (  # V4: PHP SDK test
            "app_secret",
            "/test-api",
            {"foo": "bar"},
            b"",
            "d3cb7fe11ecae942802ceeca67e7cf10120cc12f1517d45fbc1c8cfe5413c80f",
        ),
    ],
    ids=["V1-official", "V2-get-cipher", "V3-put-body", "V4-php"],
)
def test_documented_vectors(
    secret: str, path: str, params: dict[str, str], body: bytes, expected: str
) -> None:
    assert signing.sign(secret, path, params, body) == expected
    assert signing.verify(secret, path, params, body, expected)


def test_sign_and_access_token_params_are_not_signed() -> None:
    base = {"app_key": "29a39d", "timestamp": "1623812664"}
    expected = signing.sign("e59af819cc", "/authorization/202309/shops", base)
    with_extras = {**base, "sign": "whatever", "access_token": "tok"}
    assert signing.sign("e59af819cc", "/authorization/202309/shops", with_extras) == expected


def test_any_change_breaks_the_signature() -> None:
    params = {"app_key": "29a39d", "timestamp": "1623812664"}
    good = signing.sign("e59af819cc", "/authorization/202309/shops", params)
    assert not signing.verify("e59af819cc", "/authorization/202309/shop", params, b"", good)
    assert not signing.verify(
        "e59af819cc", "/authorization/202309/shops", {**params, "timestamp": "1"}, b"", good
    )
    assert not signing.verify("other", "/authorization/202309/shops", params, b"", good)
    assert not signing.verify("e59af819cc", "/authorization/202309/shops", params, b"{}", good)


def test_empty_params_may_be_signed_either_way() -> None:
    params = {"app_key": "k", "timestamp": "1", "page_token": ""}
    kept = signing.sign("s", "/p", params)
    dropped = signing.sign("s", "/p", {"app_key": "k", "timestamp": "1"})
    assert kept != dropped
    assert signing.verify("s", "/p", params, b"", kept)
    assert signing.verify("s", "/p", params, b"", dropped)


def test_verify_accepts_upper_case_hex() -> None:
    sig = signing.sign("s", "/p", {"a": "1"})
    assert signing.verify("s", "/p", {"a": "1"}, b"", sig.upper())

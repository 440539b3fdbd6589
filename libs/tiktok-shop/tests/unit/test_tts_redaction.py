"""Call-log redaction: secrets never reach a record, even with headers enabled."""

from __future__ import annotations

import json

from tiktok_shop.calllog import REDACTED, build_record, is_secret_key, redact_mapping


def test_secret_keys() -> None:
    for key in [
        "sign",
        "app_secret",
        "auth_code",
        "code",
        "refresh_token",
        "access_token",
        "x-tts-access-token",
        "X-TTS-Access-Token",
        "Authorization",
        "client_secret",
    ]:
        assert is_secret_key(key), key
    for key in ["app_key", "timestamp", "shop_cipher", "page_token", "page_size"]:
        assert not is_secret_key(key), key


def test_record_with_headers_contains_no_secret() -> None:
    record = build_record(
        operation="getAccessToken",
        method="GET",
        path="/api/v2/token/get",
        attempt=1,
        latency_ms=3.2,
        query={
            "app_key": "KEY",
            "app_secret": "SECRET-123",
            "auth_code": "CODE-456",
            "sign": "SIGN-789",
        },
        request_headers={"x-tts-access-token": "TOKEN-abc", "User-Agent": "ua"},
        response_headers={"Set-Cookie": "sid=COOKIE-def", "x-tt-logid": "L"},
        log_headers=True,
        status=200,
        code=0,
    )
    dumped = json.dumps(record.as_dict())
    for secret in ["SECRET-123", "CODE-456", "SIGN-789", "TOKEN-abc", "COOKIE-def"]:
        assert secret not in dumped
    assert record.query == {
        "app_key": "KEY",
        "app_secret": REDACTED,
        "auth_code": REDACTED,
        "sign": REDACTED,
    }
    assert record.request_headers == {"x-tts-access-token": REDACTED, "User-Agent": "ua"}


def test_headers_absent_unless_enabled() -> None:
    record = build_record(
        operation="op",
        method="GET",
        path="/p",
        attempt=1,
        latency_ms=1.0,
        query={},
        request_headers={"x-tts-access-token": "T"},
        response_headers={},
        log_headers=False,
    )
    assert record.request_headers is None and record.response_headers is None


def test_redact_mapping_keeps_non_secrets() -> None:
    assert redact_mapping({"timestamp": 5, "refresh_token": "r"}) == {
        "timestamp": "5",
        "refresh_token": REDACTED,
    }


def test_call_log_uses_the_shared_list() -> None:
    # `tiktok_shop.redaction` is the one list; the services' log formatter imports it too
    # (libs/common's tests check that both classify the same keys alike).
    from tiktok_shop.redaction import NOT_SENSITIVE, SENSITIVE_KEYS, is_sensitive_key

    for key in [*SENSITIVE_KEYS, *NOT_SENSITIVE, "client_secret", "x-refresh-token", "page_size"]:
        assert is_secret_key(key) == is_sensitive_key(key), key
        assert is_secret_key(key.upper()) == is_sensitive_key(key), key
    assert SENSITIVE_KEYS.isdisjoint(NOT_SENSITIVE)


def test_paging_cursors_stay_readable_in_a_record() -> None:
    record = build_record(
        operation="searchProducts",
        method="POST",
        path="/product/202309/products/search",
        attempt=1,
        latency_ms=1.0,
        query={"page_token": "CURSOR-1", "next_page_token": "CURSOR-2", "access_token": "T-1"},
        request_headers={"Proxy-Authorization": "Basic abc", "x-tts-access-token": "T-1"},
        response_headers=None,
        log_headers=True,
    )
    assert record.query == {
        "page_token": "CURSOR-1",
        "next_page_token": "CURSOR-2",
        "access_token": REDACTED,
    }
    assert record.request_headers == {
        "Proxy-Authorization": REDACTED,
        "x-tts-access-token": REDACTED,
    }

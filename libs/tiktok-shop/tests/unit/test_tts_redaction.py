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

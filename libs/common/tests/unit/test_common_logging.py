"""Secrets never reach log output, whatever path they take through logging."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest
from tts_common.logging import (
    REDACTED,
    configure_logging,
    correlation,
    is_sensitive_key,
    redact,
    redact_text,
    register_secret,
    secret_registry_stats,
)

# Unregistered values: only key/pattern redaction can hide these.
TOKEN = "ROW_tok_9f8e7d6c5b4a"
REFRESH = "ROW_ref_1a2b3c4d5e6f"
APP_SECRET = "appsecret_77aa88bb"
SIGN = "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"
AUTH_CODE = "authcode_AbCdEf123"
# A registered value: must vanish even in free text.
REGISTERED = "very-private-value-42"

ALL = [TOKEN, REFRESH, APP_SECRET, SIGN, AUTH_CODE, REGISTERED]


@pytest.fixture(params=[True, False], ids=["json", "text"])
def captured(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("test", "DEBUG", json=request.param, stream=stream)
    register_secret(REGISTERED)
    try:
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def _emit_everything(log: logging.Logger) -> None:
    url = (
        f"https://open-api.example/product/202309/products?app_key=k1&timestamp=1&sign={SIGN}"
        f"&access_token={TOKEN}&shop_cipher=C"
    )
    log.info(url)
    log.info("calling %s", url)
    log.info("token get %s", {"access_token": TOKEN, "refresh_token": REFRESH, "app_key": "k1"})
    log.info(
        "raw body %s", orjson.dumps({"app_secret": APP_SECRET, "auth_code": AUTH_CODE}).decode()
    )
    log.info(
        "http call",
        extra={
            "request_headers": {"x-tts-access-token": TOKEN, "Authorization": f"Bearer {TOKEN}"},
            "query": {"sign": SIGN, "app_key": "k1"},
            "response": {"data": {"access_token": TOKEN, "refresh_token": REFRESH}},
            "pairs": [("x-tts-access-token", TOKEN)],
            "shop_secret": APP_SECRET,
            "code": AUTH_CODE,
        },
    )
    log.warning("header line Authorization: %s", TOKEN)
    log.warning("x-tts-access-token: %s", TOKEN)
    log.error("free text with %s inside", REGISTERED)
    log.debug("callback ?code=%s&state=s1", AUTH_CODE)
    try:
        raise RuntimeError(f"token refresh failed for refresh_token={REFRESH} secret {REGISTERED}")
    except RuntimeError:
        log.exception("refresh failed")
    log.info("stack", stack_info=True, extra={"note": REGISTERED})


@pytest.mark.parametrize("logger_name", ["app", "uvicorn.access", "httpx", "aiokafka"])
def test_no_secret_value_reaches_the_output(captured: io.StringIO, logger_name: str) -> None:
    _emit_everything(logging.getLogger(logger_name))
    out = captured.getvalue()
    assert out.count("\n") >= 11, "every record must be written"
    for value in ALL:
        assert value not in out
    assert REDACTED in out


def test_harmless_fields_survive(captured: io.StringIO) -> None:
    with correlation("cid-123"):
        logging.getLogger("app").info(
            "shop %s synced", "7495540735365777507", extra={"app_key": "k1", "count": 3}
        )
    out = captured.getvalue()
    assert "7495540735365777507" in out
    assert "k1" in out
    if out.lstrip().startswith("{"):
        line = orjson.loads(out.splitlines()[-1])
        assert line["correlation_id"] == "cid-123"
        assert line["count"] == 3


def test_redact_structure() -> None:
    data = {"access_token": "x" * 10, "nested": [{"client_secret": "y" * 10, "ok": "fine"}]}
    assert redact(data) == {
        "access_token": REDACTED,
        "nested": [{"client_secret": REDACTED, "ok": "fine"}],
    }


def test_tiktok_business_code_is_shown_but_an_oauth_code_is_not(captured: io.StringIO) -> None:
    # TikTok's numeric answer code ("Common error codes") is what an operator needs to read;
    # the OAuth authorization code, a string under the same name, stays hidden.
    logging.getLogger("app").warning("create refused", extra={"code": 12052056})
    logging.getLogger("app").info("callback", extra={"code": AUTH_CODE})
    out = captured.getvalue()
    assert "12052056" in out
    assert AUTH_CODE not in out
    assert redact({"code": 36009004, "ok": True}) == {"code": 36009004, "ok": True}
    assert redact({"code": AUTH_CODE}) == {"code": REDACTED}
    assert redact({"code": True}) == {"code": REDACTED}


def test_registering_a_known_secret_again_changes_nothing() -> None:
    # Leases register their token on every call: the registry must not grow or re-index.
    register_secret("known-secret-value-1")
    before = secret_registry_stats()
    register_secret("known-secret-value-1")
    assert secret_registry_stats().size == before.size
    assert redact_text("x known-secret-value-1 y") == f"x {REDACTED} y"
    register_secret("another-secret-value-2")
    assert redact_text("another-secret-value-2") == REDACTED


# Names both redactors must agree on: credentials, look-alikes that are not, and odd cases.
KEYS = [
    "access_token",
    "refresh_token",
    "Access_Token",
    "app_secret",
    "client_secret",
    "sign",
    "code",
    "auth_code",
    "authorization",
    "Authorization",
    "proxy-authorization",
    "x-tts-access-token",
    "X-TTS-Access-Token",
    "x-refresh-token",
    "cookie",
    "set-cookie",
    "password",
    "db_password",
    "secret",
    "token",
    "api_key",
    "x-api-key",
    "webhook_secret",
    "page_token",
    "next_page_token",
    "Next_Page_Token",
    "app_key",
    "key",
    "partition_key",
    "idempotency_key",
    "sort_key",
    "service_key",
    "page_size",
    "timestamp",
    "shop_cipher",
    "shop_id",
    "version",
    "tokens",
    "signature_version",
]


def test_service_logs_and_tiktok_call_log_classify_every_key_alike() -> None:
    from tiktok_shop.calllog import is_secret_key

    for key in KEYS:
        assert is_sensitive_key(key) == is_secret_key(key), key
    # And the list is not trivially all-or-nothing.
    assert {is_sensitive_key(k) for k in KEYS} == {True, False}
    assert not is_sensitive_key("page_token") and not is_sensitive_key("next_page_token")


@pytest.mark.parametrize("key", KEYS)
def test_text_patterns_follow_the_same_list(key: str) -> None:
    value = "v4lue_for_the_test"
    expected = is_sensitive_key(key)
    for text in (
        f"GET /x?{key}={value}&b=1",
        f'{{"{key}": "{value}", "b": 1}}',
        f"{{'{key}': '{value}'}}",
    ):
        assert (value not in redact_text(text)) == expected, text


def test_pagination_cursors_survive_logging(captured: io.StringIO) -> None:
    logging.getLogger("app").info(
        "next page_token=cursor_abc123", extra={"next_page_token": "cursor_def456"}
    )
    out = captured.getvalue()
    assert "cursor_abc123" in out and "cursor_def456" in out


def test_a_tiktok_call_line_shows_the_business_code(captured: io.StringIO) -> None:
    """The call log's line names TikTok's numeric code, which the free-text redaction of the
    OAuth `code=` must not hide (the record's own `code` field is shown for the same reason)."""
    from tiktok_shop.calllog import ApiCallRecord, LoggingCallLog

    LoggingCallLog()(
        ApiCallRecord(
            operation="search_orders",
            method="POST",
            path="/order/202309/orders/search",
            attempt=1,
            latency_ms=12.5,
            status=200,
            code=36009002,
        )
    )
    out = captured.getvalue()
    assert "tiktok_code=36009002" in out, out
    assert REDACTED not in out, out

"""Structured JSON logging with a correlation id and secret redaction in the logging layer.

Redaction happens in the formatter, so it covers every path: the message, its
args, `extra=` fields (nested dicts and lists), exception text and tracebacks,
and third-party loggers (uvicorn, httpx, aiokafka) that propagate to the root.
Three mechanisms, each catching what the others miss:

1. sensitive *keys* in structured fields (`access_token`, `*_secret`, ...);
2. sensitive `key=value` / `"key": "value"` / `Authorization: ...` *patterns* in text;
3. registered secret *values* (settings secrets, leased tokens) anywhere in the output.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson

REDACTED = "[REDACTED]"

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)

_SENSITIVE_EXACT = {
    "access_token",
    "refresh_token",
    "app_secret",
    "sign",
    "code",
    "auth_code",
    "authorization",
    "x-tts-access-token",
    "password",
    "secret",
    "token",
    "api_key",
    "x-api-key",
    "cookie",
    "set-cookie",
}
_SENSITIVE_SUFFIXES = ("_token", "_secret", "-token", "-secret", "_password", "_key")
# `_key` would hide harmless fields such as `app_key` or `partition_key`; allow those.
_NOT_SENSITIVE = {"app_key", "partition_key", "key", "idempotency_key", "sort_key", "service_key"}


def is_sensitive_key(key: str) -> bool:
    k = key.lower()
    if k in _NOT_SENSITIVE:
        return False
    return k in _SENSITIVE_EXACT or k.endswith(_SENSITIVE_SUFFIXES)


_KEY_ALT = (
    r"access_token|refresh_token|app_secret|sign|code|auth_code|x-tts-access-token|password|"
    r"[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*[_-](?:token|secret|password)"
)
# key=value in URLs / query strings / form bodies.
_QUERY_RE = re.compile(rf"(?i)(?<![A-Za-z0-9_-])({_KEY_ALT})=([^&\s\"'#,;]+)")
# "key": "value" (JSON) or 'key': 'value' (Python repr).
_JSON_RE = re.compile(rf"(?i)([\"'](?:{_KEY_ALT}|authorization)[\"']\s*:\s*)([\"'])(.*?)(?<!\\)\2")
# HTTP header lines: `Authorization: Bearer xyz`, `x-tts-access-token: xyz`.
_HEADER_RE = re.compile(
    r"(?i)\b(authorization|x-tts-access-token|x-api-key|cookie)(\s*[:=]\s*)([^\s,;'\"}]+(?: [^\s,;'\"}]+)?)"
)
_BEARER_RE = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")


class _SecretRegistry:
    """Known secret values to scrub wherever they appear (bounded, most recent kept)."""

    def __init__(self, capacity: int = 4096) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        if not value or len(value) < 6:  # too short to scrub without mangling normal text
            return
        if value in self._values:
            # Known already (e.g. a token registered on every lease): keep the compiled
            # pattern; recompiling thousands of alternatives per call would be the hot path.
            self._values.move_to_end(value)
            return
        self._values[value] = None
        while len(self._values) > self._capacity:
            self._values.popitem(last=False)
        self._pattern = None

    def scrub(self, text: str) -> str:
        if not self._values:
            return text
        if self._pattern is None:
            alts = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in alts))
        return self._pattern.sub(REDACTED, text)


_registry = _SecretRegistry()


def register_secret(value: Any) -> None:
    """Scrub this value from every log line from now on (SecretStr or str)."""
    raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    if isinstance(raw, str):
        _registry.add(raw)


def redact_text(text: str) -> str:
    text = _QUERY_RE.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _JSON_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(2)}", text)
    text = _HEADER_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _BEARER_RE.sub(f"Bearer {REDACTED}", text)
    return _registry.scrub(text)


def redact(value: Any, _depth: int = 0) -> Any:
    """Redact a structure: sensitive keys lose their values, strings are scrubbed."""
    if _depth > 8:
        return REDACTED
    if isinstance(value, Mapping):
        return {
            str(k): (REDACTED if is_sensitive_key(str(k)) else redact(v, _depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set):
        items = list(value)
        # (name, value) pairs, e.g. httpx `headers.multi_items()`.
        if len(items) == 2 and isinstance(items[0], str) and is_sensitive_key(items[0]):
            return [items[0], REDACTED]
        return [redact(v, _depth + 1) for v in items]
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    if value is None or isinstance(value, bool | int | float):
        return value
    if hasattr(value, "get_secret_value"):
        return REDACTED
    return redact_text(str(value))


_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation id, extras."""

    def __init__(self, service: str = "") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(message),
        }
        if self.service:
            out["service"] = self.service
        cid = getattr(record, "correlation_id", None) or correlation_id.get()
        if cid:
            out["correlation_id"] = cid
        for key, val in record.__dict__.items():
            if key not in _RESERVED and key not in out and not key.startswith("_"):
                out[key] = REDACTED if is_sensitive_key(key) else redact(val)
        if record.exc_info:
            out["exception"] = redact_text("".join(traceback.format_exception(*record.exc_info)))
        if record.stack_info:
            out["stack"] = redact_text(record.stack_info)
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, redacted the same way."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {
            k: v
            for k, v in record.__dict__.items()
            if k not in _RESERVED and not k.startswith("_") and k != "correlation_id"
        }
        if extras:
            line += " " + orjson.dumps(redact(extras), default=str).decode()
        return redact_text(line)


def configure_logging(
    service: str, level: str = "INFO", json: bool = True, stream: Any = None
) -> logging.Handler:
    """Install one redacting handler on the root logger; route uvicorn's loggers through it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if json:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    return handler


def new_correlation_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def correlation(cid: str | None) -> Iterator[str]:
    """Bind a correlation id (or a new one) for the duration of a block."""
    value = cid or new_correlation_id()
    token = correlation_id.set(value)
    try:
        yield value
    finally:
        correlation_id.reset(token)

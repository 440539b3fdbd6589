"""Structured JSON logging with a correlation id and secret redaction in the logging layer.

Redaction happens in the formatter, so it covers every path: the message, its
args, `extra=` fields (nested dicts and lists), exception text and tracebacks,
and third-party loggers (uvicorn, httpx, aiokafka) that propagate to the root.
Three mechanisms, each catching what the others miss:

1. sensitive *keys* in structured fields (`access_token`, `*_secret`, ...);
2. sensitive `key=value` / `"key": "value"` / `Authorization: ...` *patterns* in text;
3. registered secret *values* (settings secrets, leased tokens) anywhere in the output.

Which keys are sensitive is `tiktok_shop.redaction` (one list, shared with the TikTok client's
call log, which must not depend on this package). Scrubbing registered values costs
O(len(text)) however many are registered, so a log line never waits on the registry's size.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import threading
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from tiktok_shop.redaction import (
    REDACTED,
    SENSITIVE_KEYS,
    SENSITIVE_SUFFIXES,
    is_sensitive_field,
    is_sensitive_key,
)

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)

__all__ = [
    "MAX_SECRET_LENGTH",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "JsonFormatter",
    "RegistryStats",
    "TextFormatter",
    "configure_logging",
    "correlation",
    "correlation_id",
    "is_sensitive_key",
    "new_correlation_id",
    "redact",
    "redact_text",
    "register_secret",
    "secret_registry_stats",
]


def _key_alternation() -> str:
    """Candidate key names for the text patterns, built from `tiktok_shop.redaction`.

    The regexes only *find* `key=value` shapes whose key may be sensitive; each match is then
    decided by `is_sensitive_key`, so exceptions such as `page_token` hold in text too.
    """
    exact = "|".join(re.escape(k) for k in sorted(SENSITIVE_KEYS, key=len, reverse=True))
    tails = "|".join(sorted({re.escape(s[1:]) for s in SENSITIVE_SUFFIXES}))
    return rf"{exact}|[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*[_-](?:{tails})"


_KEY_ALT = _key_alternation()
# key=value in URLs / query strings / form bodies.
_QUERY_RE = re.compile(rf"(?i)(?<![A-Za-z0-9_-])({_KEY_ALT})=([^&\s\"'#,;]+)")
# "key": "value" (JSON) or 'key': 'value' (Python repr).
_JSON_RE = re.compile(rf"(?i)([\"']({_KEY_ALT})[\"']\s*:\s*)([\"'])(.*?)(?<!\\)\3")
# HTTP header lines: `Authorization: Bearer xyz`, `x-tts-access-token: xyz`.
_HEADER_RE = re.compile(
    r"(?i)\b(authorization|x-tts-access-token|x-api-key|cookie)(\s*[:=]\s*)([^\s,;'\"}]+(?: [^\s,;'\"}]+)?)"
)
_BEARER_RE = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")

# Shorter values would mangle ordinary text; `auth_broker.tiktok.describe` uses it as well.
MIN_SECRET_LENGTH = 6
# A credential is well under 1 KB (TikTok tokens, Fernet keys, API keys). Longer runtime values
# are not registered: they are no credential, and holding them would cost memory. Text around
# such a value is still covered by the key and pattern scrubbers above.
MAX_SECRET_LENGTH = 2048
# Scrubbing probes one GRAM-character slice of the text every STRIDE characters. Any value of
# MIN_SECRET_LENGTH or more covers STRIDE consecutive probe positions, so indexing each value
# under STRIDE of its grams finds every occurrence: cost O(len(text) / STRIDE) lookups.
_GRAM = 4
_STRIDE = MIN_SECRET_LENGTH - _GRAM + 1
# Per added value, at most this many placements are tried to find rarely used grams.
_PLACEMENT_TRIES = 64


@dataclass(frozen=True)
class RegistryStats:
    """Size of the registry and the scrubber's cumulative work (for tests and benchmarks)."""

    pinned: int
    runtime: int
    probes: int
    checks: int

    @property
    def size(self) -> int:
        return self.pinned + self.runtime


class _SecretRegistry:
    """Known secret values to scrub wherever they appear, as substrings of any text.

    Two tiers: *pinned* values (settings secrets) are kept forever; *runtime* values (tokens
    the service decrypted or was granted) are bounded and the least recently registered goes
    first — a lease registers its token on every call, so live tokens stay.

    Values are indexed, never compiled: `add` touches STRIDE index entries and `scrub` does
    one dict lookup per STRIDE characters of text plus one comparison per candidate whose
    gram matched, whatever the number of registered values. (A regex alternation of every
    value had to be recompiled after each new value, on the event loop, and ran in
    O(text x values).)
    """

    def __init__(self, capacity: int = 16384, max_length: int = MAX_SECRET_LENGTH) -> None:
        self._pinned: set[str] = set()
        self._runtime: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity
        self._max_length = max_length
        # gram -> (value, offset of the gram in value); tuples are replaced, never mutated,
        # so a scrub on another thread always iterates a consistent bucket.
        self._index: dict[str, tuple[tuple[str, int], ...]] = {}
        self._placed: dict[str, int] = {}  # value -> offset of its first indexed gram
        self._lock = threading.Lock()
        self.probes = 0  # index lookups made by scrub (instrumentation)
        self.checks = 0  # candidate comparisons made by scrub (instrumentation)

    def __len__(self) -> int:
        return len(self._placed)

    def __contains__(self, value: object) -> bool:
        return value in self._placed

    def stats(self) -> RegistryStats:
        return RegistryStats(len(self._pinned), len(self._runtime), self.probes, self.checks)

    def add(self, value: str | None, *, pinned: bool = False) -> bool:
        """Register a value; True when it is scrubbed from now on."""
        if not value or len(value) < MIN_SECRET_LENGTH:
            return False
        if not pinned and len(value) > self._max_length:
            return False
        with self._lock:
            if value in self._pinned:
                return True
            if pinned:
                self._runtime.pop(value, None)
                self._pinned.add(value)
            elif value in self._runtime:
                self._runtime.move_to_end(value)
                return True
            else:
                self._runtime[value] = None
            if value not in self._placed:
                self._index_add(value)
            while len(self._runtime) > self._capacity:
                old, _ = self._runtime.popitem(last=False)
                self._index_remove(old)
        return True

    def _index_add(self, value: str) -> None:
        """Index `value` under the STRIDE grams starting at the least used placement."""
        index = self._index
        best, best_load = 0, -1
        last = len(value) - _GRAM - _STRIDE + 1
        # From the end: tokens share prefixes (`ROW_`, `eyJhbGci`) more often than endings.
        for base in range(last, max(-1, last - _PLACEMENT_TRIES), -1):
            load = sum(
                len(index.get(value[base + k : base + k + _GRAM], ())) for k in range(_STRIDE)
            )
            if best_load < 0 or load < best_load:
                best, best_load = base, load
            if load == 0:
                break
        self._placed[value] = best
        for k in range(_STRIDE):
            off = best + k
            gram = value[off : off + _GRAM]
            index[gram] = (*index.get(gram, ()), (value, off))

    def _index_remove(self, value: str) -> None:
        base = self._placed.pop(value)
        for k in range(_STRIDE):
            off = base + k
            gram = value[off : off + _GRAM]
            rest = tuple(e for e in self._index.get(gram, ()) if e != (value, off))
            if rest:
                self._index[gram] = rest
            else:
                self._index.pop(gram, None)

    def scrub(self, text: str) -> str:
        index = self._index
        n = len(text)
        if not index or n < MIN_SECRET_LENGTH:
            return text
        hits = [i for i in range(0, n - _GRAM + 1, _STRIDE) if text[i : i + _GRAM] in index]
        self.probes += (n - _GRAM) // _STRIDE + 1
        if not hits:
            return text
        spans: list[tuple[int, int]] = []
        for i in hits:
            bucket = index.get(text[i : i + _GRAM], ())
            self.checks += len(bucket)
            for value, off in bucket:
                start = i - off
                if start >= 0 and text.startswith(value, start):
                    spans.append((start, start + len(value)))
        if not spans:
            return text
        spans.sort()
        out: list[str] = []
        pos = 0
        cur_start, cur_end = spans[0]
        for start, end in spans[1:]:
            if start < cur_end:  # overlapping occurrences become one redaction
                cur_end = max(cur_end, end)
                continue
            out += (text[pos:cur_start], REDACTED)
            pos = cur_end
            cur_start, cur_end = start, end
        out += (text[pos:cur_start], REDACTED, text[cur_end:])
        return "".join(out)


_registry = _SecretRegistry()


def register_secret(value: Any, *, pinned: bool = False) -> None:
    """Scrub this value (SecretStr or str) from every log line from now on.

    Only for values the service itself holds and trusts: its settings secrets
    (`pinned=True`, kept forever — `register_settings_secrets`, `create_service_app(secrets=)`),
    tokens it decrypted or was granted by TikTok (runtime tier, bounded, least recently
    registered evicted first). Never call it with something an unauthenticated caller sent
    (a callback's `code` before its state was checked, a header, a body): that would let
    anyone grow the registry and push real tokens out of the runtime tier. Values shorter than
    MIN_SECRET_LENGTH are ignored, runtime values longer than MAX_SECRET_LENGTH too.
    """
    raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    if isinstance(raw, str):
        _registry.add(raw, pinned=pinned)


def secret_registry_stats() -> RegistryStats:
    """How many values are registered (per tier) and how much work scrubbing has done."""
    return _registry.stats()


def _query_sub(m: re.Match[str]) -> str:
    return f"{m.group(1)}={REDACTED}" if is_sensitive_key(m.group(1)) else m.group(0)


def _json_sub(m: re.Match[str]) -> str:
    if not is_sensitive_key(m.group(2)):
        return m.group(0)
    return f"{m.group(1)}{m.group(3)}{REDACTED}{m.group(3)}"


def redact_text(text: str) -> str:
    text = _QUERY_RE.sub(_query_sub, text)
    text = _JSON_RE.sub(_json_sub, text)
    text = _HEADER_RE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _BEARER_RE.sub(f"Bearer {REDACTED}", text)
    return _registry.scrub(text)


def redact(value: Any, _depth: int = 0) -> Any:
    """Redact a structure: sensitive keys lose their values, strings are scrubbed."""
    if _depth > 8:
        return REDACTED
    if isinstance(value, Mapping):
        return {
            str(k): (REDACTED if is_sensitive_field(str(k), v) else redact(v, _depth + 1))
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
                out[key] = REDACTED if is_sensitive_field(key, val) else redact(val)
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

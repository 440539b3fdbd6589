"""API-call log hook: one record per HTTP attempt, always redacted.

A record holds method, path, status, business code, request id, latency and attempt;
request/response headers only when `ClientConfig.log_headers` is on. Tokens, secrets,
`sign` and auth codes are replaced by `[REDACTED]` here, at the source, so no hook
(logger, database, feedback file) can ever receive them. Which names are secret is decided by
`tiktok_shop.redaction`, the list the services' log formatter uses too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from .redaction import REDACTED, is_sensitive_key


def is_secret_key(key: str) -> bool:
    """True for names whose values must never be logged (the list is `tiktok_shop.redaction`)."""
    return is_sensitive_key(key)


def redact_mapping(values: Mapping[str, Any]) -> dict[str, str]:
    """Copy of a header or query mapping with every secret value replaced."""
    return {k: (REDACTED if is_secret_key(k) else str(v)) for k, v in values.items()}


@dataclass(frozen=True)
class ApiCallRecord:
    """What one HTTP attempt did; safe to persist or log as is."""

    operation: str
    method: str
    path: str
    attempt: int
    latency_ms: float
    status: int | None = None
    code: int | None = None
    message: str | None = None
    request_id: str | None = None
    shop_id: str | None = None
    error: str | None = None
    query: dict[str, str] | None = None
    request_headers: dict[str, str] | None = None
    response_headers: dict[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields that are set; the mappings copied (once per call, hot: no `asdict`)."""
        out: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = dict(value) if isinstance(value, dict) else value
        return out


_FIELDS = tuple(f.name for f in fields(ApiCallRecord))


CallLogHook = Callable[[ApiCallRecord], None]


def build_record(
    *,
    operation: str,
    method: str,
    path: str,
    attempt: int,
    latency_ms: float,
    query: Mapping[str, Any] | None,
    request_headers: Mapping[str, str] | None,
    response_headers: Mapping[str, str] | None,
    log_headers: bool,
    status: int | None = None,
    code: int | None = None,
    message: str | None = None,
    request_id: str | None = None,
    shop_id: str | None = None,
    error: str | None = None,
) -> ApiCallRecord:
    """Assemble a record, redacting query and (only when enabled) headers."""
    return ApiCallRecord(
        operation=operation,
        method=method,
        path=path,
        attempt=attempt,
        latency_ms=round(latency_ms, 3),
        status=status,
        code=code,
        message=message,
        request_id=request_id,
        shop_id=shop_id,
        error=error,
        query=redact_mapping(query) if query is not None else None,
        request_headers=(
            redact_mapping(request_headers) if log_headers and request_headers is not None else None
        ),
        response_headers=(
            redact_mapping(response_headers)
            if log_headers and response_headers is not None
            else None
        ),
    )


class LoggingCallLog:
    """Default hook: one structured log line per attempt on `tiktok_shop.calls`."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger("tiktok_shop.calls")

    def __call__(self, record: ApiCallRecord) -> None:
        level = logging.INFO if record.code == 0 else logging.WARNING
        if not self._logger.isEnabledFor(level):
            return  # the record's dict is not built for a line nobody writes
        self._logger.log(
            level,
            "tiktok api %s %s -> %s tiktok_code=%s attempt=%s %.1fms",
            record.method,
            record.path,
            record.status,
            record.code,
            record.attempt,
            record.latency_ms,
            extra={"tiktok_call": record.as_dict()},
        )


class MemoryCallLog:
    """Keeps records in a list: for tests and for per-product feedback history."""

    def __init__(self) -> None:
        self.records: list[ApiCallRecord] = []

    def __call__(self, record: ApiCallRecord) -> None:
        self.records.append(record)

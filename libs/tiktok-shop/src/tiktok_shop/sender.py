"""Sends one prepared request: decodes the envelope, maps errors, writes the call log.

Shared by the Open API engine (core.py) and the OAuth client (oauth.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from .calllog import CallLogHook, build_record
from .config import ClientConfig
from .errors import (
    NetworkError,
    OutcomeUnknownError,
    RateLimitedError,
    ServerError,
    TikTokError,
    error_from_response,
)
from .transport import NOT_SENT_ERRORS, Transport


@dataclass(frozen=True)
class Envelope:
    """A decoded TikTok response."""

    http_status: int
    code: int | None
    message: str
    request_id: str | None
    data: Any


def decode_envelope(response: httpx.Response) -> Envelope | None:
    """The envelope, or None when the body is not one (proxy error page, truncated body)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("code"), int):
        return None
    rid = body.get("request_id")
    return Envelope(
        http_status=response.status_code,
        code=body["code"],
        message=str(body.get("message") or ""),
        request_id=str(rid) if rid else None,
        data=body.get("data"),
    )


class RequestSender:
    def __init__(
        self, config: ClientConfig, transport: Transport, call_log: CallLogHook | None = None
    ) -> None:
        self.config = config
        self.transport = transport
        self.call_log = call_log

    async def send(
        self,
        operation: str,
        request: httpx.Request,
        idempotent: bool,
        attempt: int,
        params: Mapping[str, str],
        shop_id: str | None = None,
    ) -> Any:
        """Send one prepared request, log it, and return `data` or raise the typed error."""
        started = time.perf_counter()
        response: httpx.Response | None = None
        env: Envelope | None = None
        error: TikTokError | None = None
        try:
            response = await self.transport.http.send(request)
        except NOT_SENT_ERRORS as exc:
            error = NetworkError(
                f"{operation}: connection failed ({type(exc).__name__})", sent=False
            )
        except httpx.TransportError as exc:
            what = f"{operation}: no response ({type(exc).__name__})"
            error = (
                NetworkError(what, sent=True)
                if idempotent
                else OutcomeUnknownError(
                    f"{what}; the write may have been applied, reconcile before retrying",
                    operation=operation,
                )
            )
        if response is not None:
            env = decode_envelope(response)
            error = self._error_for(operation, response, env, idempotent)
        self._log(operation, request, response, env, error, attempt, started, params, shop_id)
        if error is not None:
            raise error
        assert env is not None
        return env.data if env.data is not None else {}

    def _error_for(
        self, operation: str, response: httpx.Response, env: Envelope | None, idempotent: bool
    ) -> TikTokError | None:
        status = response.status_code
        if env is not None:
            if env.code == 0 and status < 400:
                return None
            return error_from_response(status, env.code, env.message, env.request_id, env.data)
        if status == 429:
            return RateLimitedError("rate limited (HTTP 429)", http_status=status)
        if not idempotent and (status >= 500 or status < 400):
            # A gateway error or garbled success: the write may have happened.
            return OutcomeUnknownError(
                f"{operation}: HTTP {status} without a TikTok envelope; reconcile before retrying",
                operation=operation,
                http_status=status,
            )
        if status >= 500 or status < 400:
            return ServerError(f"HTTP {status} without a TikTok envelope", http_status=status)
        return error_from_response(status, None, f"HTTP {status} without a TikTok envelope", None)

    def _log(
        self,
        operation: str,
        request: httpx.Request,
        response: httpx.Response | None,
        env: Envelope | None,
        error: TikTokError | None,
        attempt: int,
        started: float,
        params: Mapping[str, str],
        shop_id: str | None,
    ) -> None:
        if self.call_log is None:
            return
        record = build_record(
            operation=operation,
            method=request.method,
            path=request.url.path,
            attempt=attempt,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            query=params,
            request_headers=dict(request.headers),
            response_headers=dict(response.headers) if response is not None else None,
            log_headers=self.config.log_headers,
            status=response.status_code if response is not None else None,
            code=env.code if env is not None else None,
            message=env.message if env is not None and env.code != 0 else None,
            request_id=(env.request_id if env is not None else None)
            or (response.headers.get("x-tt-logid") if response is not None else None),
            shop_id=shop_id,
            error=type(error).__name__ if error is not None else None,
        )
        # A broken hook must never break (or retry) the API call it describes.
        try:
            self.call_log(record)
        except Exception:
            pass

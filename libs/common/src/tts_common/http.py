"""HTTP hardening every service inherits: request limits, security headers, correlation ids.

`install_http_guard` wraps the whole app in one pure ASGI middleware (not Starlette's
`BaseHTTPMiddleware`, which re-wraps every body and hides disconnects). Per request it

- refuses a body larger than the limit with 413 — from `Content-Length` before any handler
  (so before the credential check) and again while a chunked body streams in;
- answers 408 when the body has not fully arrived `body_timeout_s` after the headers, and
  503 `request_timeout` when no response has started after `request_timeout_s` (the handler
  is not cancelled: a half-done write is worse than a late one; its answer is dropped);
- refuses request headers (with the target) larger than `max_header_bytes` with 431 (under
  `tts_common.cli`, uvicorn's h11 parser already refuses them before they are buffered whole,
  with its own plain-text 400: see `server_options`);
- binds a correlation id: the caller's `X-Correlation-Id` only when it is at most 64
  characters of `[A-Za-z0-9._-]`, else a fresh one (never echoed, never logged);
- adds the security headers (`nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy`, a CSP)
  to every response that did not set its own;
- logs a client that went away before its response as one INFO line, never a traceback;
- counts requests and latencies per route for `/metrics`.

Limits are `ServiceSettings` fields (`TTS_MAX_BODY_BYTES`, ...; docs/architecture.md,
"HTTP limits and headers"). A route that needs a larger body (catalog-sync's product snapshot
uploads) gets it by path prefix, after the app is built::

    app = create_service_app(...)
    allow_body(app, "/v1/snapshots", 256 * MiB)
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.requests import ClientDisconnect

from tts_common.errors import error_body, log_unexpected, unexpected_body
from tts_common.logging import correlation
from tts_common.settings import ServiceSettings

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KiB = 1024
MiB = 1024 * KiB

CORRELATION_HEADER = b"x-correlation-id"
_CORRELATION_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
# The status a request is counted under when its client left before any response.
CLIENT_CLOSED = 499

# JSON answers need nothing: no scripts, styles, frames or forms.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# FastAPI's /docs (Swagger UI) and /redoc load their bundles from a CDN and start them from an
# inline script; these pages show the public OpenAPI document only.
DOCS_CSP = (
    "default-src 'none'; "
    "script-src 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


@dataclass
class HttpLimits:
    """The limits one app enforces (`app.state.http_limits`); `allow_body` edits `body_limits`."""

    max_body_bytes: int
    max_header_bytes: int
    body_timeout_s: float
    request_timeout_s: float
    keep_alive_s: int
    # Path prefix -> body limit in bytes; the longest matching prefix wins.
    body_limits: dict[str, int] = field(default_factory=dict)
    # Path prefix -> (body timeout, request timeout) in seconds, for the same prefixes.
    timeouts: dict[str, tuple[float, float]] = field(default_factory=dict)
    docs_paths: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> HttpLimits:
        return cls(
            max_body_bytes=settings.max_body_bytes,
            max_header_bytes=settings.max_header_bytes,
            body_timeout_s=settings.body_timeout_seconds,
            request_timeout_s=settings.request_timeout_seconds,
            keep_alive_s=settings.http_keep_alive_seconds,
        )

    def timeouts_for(self, path: str) -> tuple[float, float]:
        """(body timeout, request timeout) for `path`: its longest registered prefix's."""
        best, found = -1, (self.body_timeout_s, self.request_timeout_s)
        for prefix, value in self.timeouts.items():
            if len(prefix) > best and _under(path, prefix):
                best, found = len(prefix), value
        return found

    def body_limit(self, path: str) -> int:
        """The body limit for `path`: its longest registered prefix's, else the default."""
        best, limit = -1, self.max_body_bytes
        for prefix, value in self.body_limits.items():
            if len(prefix) > best and _under(path, prefix):
                best, limit = len(prefix), value
        return limit


def _under(path: str, prefix: str) -> bool:
    """Is `path` at or below `prefix`, segment by segment? A `{name}` segment of the prefix
    matches any one segment (`/v1/feeds/{feed_id}/products`), so one route's limit need not
    be granted to its whole resource tree."""
    want = prefix.rstrip("/").split("/")
    have = path.split("/")
    if len(have) < len(want):
        return False
    return all(
        w == h or (w.startswith("{") and w.endswith("}") and h != "")
        for w, h in zip(want, have, strict=False)
    )


def allow_body(
    app: FastAPI,
    prefix: str,
    max_bytes: int,
    *,
    body_timeout_s: float | None = None,
    request_timeout_s: float | None = None,
) -> None:
    """Let requests under `prefix` (a path, matched by whole segments; a `{name}` segment
    matches any one) carry up to `max_bytes`.

    A large upload also needs time: `body_timeout_s` / `request_timeout_s` replace the app's
    defaults under the prefix (0 = no request timeout there).
    """
    if not prefix.startswith("/") or max_bytes < 1:
        raise ValueError("allow_body needs a path prefix starting with / and a positive size")
    limits: HttpLimits = app.state.http_limits
    limits.body_limits[prefix] = max_bytes
    if body_timeout_s is not None or request_timeout_s is not None:
        limits.timeouts[prefix] = (
            limits.body_timeout_s if body_timeout_s is None else body_timeout_s,
            limits.request_timeout_s if request_timeout_s is None else request_timeout_s,
        )


def server_options(app: FastAPI) -> dict[str, Any]:
    """`uvicorn.Config` keyword arguments that enforce the app's limits at the socket.

    h11 (not httptools, which buffers request headers without any bound) with
    `h11_max_incomplete_event_size`: a request line plus headers beyond it is refused by
    uvicorn with a plain-text 400 and the connection closed, before the app sees it.
    `timeout_keep_alive` closes idle keep-alive connections.
    """
    limits: HttpLimits | None = getattr(app.state, "http_limits", None)
    if limits is None:
        return {}
    return {
        "http": "h11",
        "h11_max_incomplete_event_size": limits.max_header_bytes,
        "timeout_keep_alive": limits.keep_alive_s,
    }


def clean_correlation_id(raw: bytes | None) -> str | None:
    """The caller's correlation id when it is safe to log and echo, else None (a new one)."""
    if raw is not None and _CORRELATION_ID.fullmatch(raw):
        return raw.decode("ascii")
    return None


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=registry,
        )

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        path = getattr(route, "path", "unmatched")
        self.requests.labels(scope["method"], path, str(status)).inc()
        self.latency.labels(scope["method"], path).observe(seconds)


class _Exchange:
    """One request/response: the wrapped `receive`/`send` and what happened so far."""

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        correlation_id: str,
        body_limit: int,
        body_deadline: float,
        expects_body: bool,
        csp: str,
    ) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self._cid = correlation_id.encode("ascii")
        self._csp = csp.encode("ascii")
        self.body_limit = body_limit
        self.body_deadline = body_deadline
        self.body_bytes = 0
        self.expects_body = expects_body
        self.body_done = False
        self.status: int | None = None  # of the response started (ours or the app's)
        self.complete = False
        self.answered = False  # the guard sent its own response: drop the app's
        self.client_gone = False

    # -- receive ----------------------------------------------------------------------
    async def receive(self) -> Message:
        if self.answered:
            return {"type": "http.disconnect"}
        if self.body_done:
            message = await self._receive()
        else:
            remaining = self.body_deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                message = await asyncio.wait_for(self._receive(), remaining)
            except TimeoutError:
                await self.refuse_slow_body()
                return {"type": "http.disconnect"}
        if message["type"] == "http.disconnect":
            self.client_gone = not self.complete
            return message
        if message["type"] == "http.request":
            self.body_bytes += len(message.get("body", b""))
            if self.body_bytes > self.body_limit:
                await self.refuse_large_body(declared=False)
                return {"type": "http.disconnect"}
            if not message.get("more_body", False):
                self.body_done = True
        return message

    # -- send -------------------------------------------------------------------------
    async def send(self, message: Message) -> None:
        if self.answered or self.client_gone:
            return  # the guard answered already, or nobody is listening
        await self._forward(message)

    async def _forward(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            headers = list(message.get("headers", ()))
            present = {name.lower() for name, _ in headers}
            for name, value in _SECURITY_HEADERS:
                if name not in present:
                    headers.append((name, value))
            if b"content-security-policy" not in present:
                headers.append((b"content-security-policy", self._csp))
            headers = [(n, v) for n, v in headers if n.lower() != CORRELATION_HEADER]
            headers.append((CORRELATION_HEADER, self._cid))
            message = {**message, "headers": headers}
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.complete = True
        await self._send(message)

    # -- the guard's own answers ------------------------------------------------------
    @property
    def started(self) -> bool:
        return self.status is not None

    async def answer(
        self, status: int, body: dict[str, Any], *, close: bool, extra: tuple[Any, ...] = ()
    ) -> None:
        """Send the guard's own JSON response (when none has started) and drop the app's."""
        if self.started or self.answered:
            return
        payload = orjson.dumps(body)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode("ascii")),
            *extra,
        ]
        if close:
            headers.append((b"connection", b"close"))
        await self._forward({"type": "http.response.start", "status": status, "headers": headers})
        await self._forward({"type": "http.response.body", "body": payload})
        self.answered = True

    async def refuse_large_body(self, *, declared: bool) -> None:
        """413. A declared `Content-Length` keeps the connection: the server discards the
        unread body, so the client can read the answer (closing with unread data resets the
        connection and most clients then report a write error instead). A chunked body that
        outgrew the limit closes it: its sender did not say how much more is coming."""
        log.info(
            "request body over the limit refused",
            extra={"path": self.scope["path"], "limit_bytes": self.body_limit},
        )
        await self.answer(413, too_large(self.body_limit), close=not declared)

    async def refuse_slow_body(self) -> None:
        log.info(
            "request body too slow, refused",
            extra={"path": self.scope["path"], "received_bytes": self.body_bytes},
        )
        await self.answer(
            408,
            error_body("request_timeout", "the request body did not arrive in time"),
            close=True,
        )


def too_large(limit: int) -> dict[str, Any]:
    return error_body(
        "body_too_large", f"the request body is larger than the {limit} bytes this path accepts"
    )


class HttpGuard:
    """The pure ASGI middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, limits: HttpLimits, metrics: _Metrics) -> None:
        self.app = app
        self.limits = limits
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        raw_cid: bytes | None = None
        content_length: bytes | None = None
        chunked = False
        header_bytes = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        for name, value in scope["headers"]:
            header_bytes += len(name) + len(value) + 4
            if name == CORRELATION_HEADER:
                raw_cid = value
            elif name == b"content-length":
                content_length = value
            elif name == b"transfer-encoding":
                chunked = True
        path: str = scope["path"]
        limits = self.limits
        body_timeout, request_timeout = limits.timeouts_for(path)
        declared = _content_length(content_length)
        with correlation(clean_correlation_id(raw_cid)) as cid:
            ex = _Exchange(
                scope,
                receive,
                send,
                correlation_id=cid,
                body_limit=limits.body_limit(path),
                body_deadline=started + body_timeout,
                expects_body=chunked or bool(declared),
                csp=DOCS_CSP if path in limits.docs_paths else API_CSP,
            )
            try:
                if header_bytes > limits.max_header_bytes:
                    await ex.answer(
                        431,
                        error_body(
                            "headers_too_large",
                            f"the request headers are larger than {limits.max_header_bytes} bytes",
                        ),
                        close=True,
                    )
                elif declared is not None and declared > ex.body_limit:
                    await ex.refuse_large_body(declared=True)
                else:
                    await self._run(ex, started, request_timeout)
            finally:
                status = ex.status if ex.status is not None else CLIENT_CLOSED
                if ex.client_gone and not ex.answered:
                    status = CLIENT_CLOSED
                    log.info(
                        "client disconnected before the response",
                        extra={
                            "method": scope["method"],
                            "path": path,
                            "received_bytes": ex.body_bytes,
                        },
                    )
                self.metrics.observe(scope, status, time.monotonic() - started)

    async def _run(self, ex: _Exchange, started: float, request_timeout: float) -> None:
        """Call the app; render what it raised; enforce the request timeout."""
        try:
            if request_timeout <= 0:
                await self.app(ex.scope, ex.receive, ex.send)
            else:
                await self._run_with_deadline(ex, started + request_timeout, request_timeout)
        except ClientDisconnect:
            ex.client_gone = ex.client_gone or not ex.answered
        except Exception as exc:
            if ex.answered or ex.client_gone:
                log_unexpected(exc)  # nobody to tell; the log still must
            elif not ex.started:
                await ex.answer(500, unexpected_body(exc), close=False)
            else:
                raise  # a response is half-sent: the server closes the connection

    async def _run_with_deadline(self, ex: _Exchange, deadline: float, limit_s: float) -> None:
        task = asyncio.ensure_future(self.app(ex.scope, ex.receive, ex.send))
        try:
            done, _ = await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
            if not done and not ex.started:
                if ex.expects_body and not ex.body_done:
                    await ex.refuse_slow_body()
                else:
                    log.warning(
                        "request timed out; the handler goes on, its answer is dropped",
                        extra={"path": ex.scope["path"], "limit_s": limit_s},
                    )
                    await ex.answer(
                        503,
                        error_body(
                            "request_timeout",
                            f"the request took longer than {limit_s:g} s; it may still complete",
                        ),
                        close=True,
                        extra=((b"retry-after", b"1"),),
                    )
            await task
        except asyncio.CancelledError:
            task.cancel()
            raise


def _content_length(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None  # the server's parser refuses it; under other servers, streaming counts


def install_http_guard(
    app: FastAPI, settings: ServiceSettings, registry: CollectorRegistry
) -> None:
    """Wrap `app` in the guard; its limits live on `app.state.http_limits` (see `allow_body`)."""
    limits = HttpLimits.from_settings(settings)
    limits.docs_paths = frozenset(
        p for p in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if p
    )
    app.state.http_limits = limits
    app.add_middleware(HttpGuard, limits=limits, metrics=_Metrics(registry))

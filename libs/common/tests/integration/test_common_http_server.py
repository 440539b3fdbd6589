"""tts_common.http on a real socket: uvicorn as `<service> serve` configures it (h11, limits).

What only a real server shows: the header limit is h11's (a plain-text 400 before the app),
a refused 20 MB upload still lets the client read its 413, a stalled body is answered 408,
an idle keep-alive connection is closed. No database or Kafka: a bare guarded app.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request
from prometheus_client import CollectorRegistry
from tts_common.errors import install_error_handlers
from tts_common.http import MiB, install_http_guard
from tts_common.openapi import install_openapi
from tts_common.settings import ServiceSettings
from tts_common.testing.server import serving


def guarded_app(**settings: object) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_openapi(app)
    install_http_guard(app, ServiceSettings(**settings), CollectorRegistry())  # type: ignore[arg-type]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return app


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serving(
        guarded_app(max_header_bytes=8 * 1024, body_timeout_seconds=0.5, http_keep_alive_seconds=1)
    ) as url:
        yield url


def _raw(base: str, request: bytes) -> socket.socket:
    parts = urlsplit(base)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.sendall(request)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection (a reset ends it too)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_a_20mb_upload_is_refused_and_the_client_reads_the_413(base: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        r = client.post("/echo", content=b"x" * (20 * MiB))
        assert r.status_code == 413
        assert r.json()["error"] == "body_too_large"
        assert str(MiB) in r.json()["detail"]
        # The same connection serves the next request: the unread body was discarded.
        assert client.post("/echo", content=b"ok").json() == {"bytes": 2}


def test_headers_over_the_limit_are_refused_by_the_server_before_the_app(
    base: str, captured_logs: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in production (tts_common.logging.configure_logging): uvicorn's records reach the
    # root handler, whatever another in-process server configured before this test.
    for name in ("uvicorn", "uvicorn.error"):
        monkeypatch.setattr(logging.getLogger(name), "propagate", True)
    huge = b"c" * (1024 * 1024)
    answer = b""
    try:
        sock = _raw(
            base, b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Correlation-Id: " + huge + b"\r\n\r\n"
        )
        with sock:
            answer = _read_all(sock)
    except (ConnectionResetError, BrokenPipeError):
        # The server closed with the rest of our headers unread: the kernel resets the
        # connection, and a client may see that before (or instead of) the 400 line.
        pass
    if answer:
        assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
        assert b"text/plain" in answer
    assert huge[:64] not in answer
    # uvicorn logs from its server thread, possibly after the client saw the answer.
    deadline = time.monotonic() + 30
    while "Invalid HTTP request received" not in captured_logs.getvalue():
        assert time.monotonic() < deadline, "uvicorn never logged the refused request"
        time.sleep(0.05)
    logged = captured_logs.getvalue()
    assert huge[:64].decode() not in logged
    assert "Invalid HTTP request received" in logged  # uvicorn's one WARNING line
    # The app never saw it: it would have answered 200.
    assert b" 200 " not in answer


def test_a_body_that_stalls_is_answered_408_and_closed(base: str) -> None:
    sock = _raw(
        base,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 100\r\n\r\nonly ten b",
    )
    with sock:
        answer = _read_all(sock)  # the server closes after its answer
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body)["error"] == "request_timeout"


def test_an_idle_keep_alive_connection_is_closed(base: str) -> None:
    sock = _raw(base, b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    with sock:
        answer = _read_all(sock)  # returns only once the server closes the idle connection
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b"x-content-type-options: nosniff" in answer.lower()

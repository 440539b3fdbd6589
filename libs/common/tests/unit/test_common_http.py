"""tts_common.http: body/header limits, timeouts, correlation ids, security headers, disconnects.

The app here is FastAPI with the same three installs `create_service_app` makes (errors,
OpenAPI, guard), driven in-process: through httpx's ASGI transport, or with hand-written ASGI
messages where a test needs a client that stalls or leaves mid-body.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import BaseModel
from tts_common.errors import install_error_handlers
from tts_common.http import API_CSP, DOCS_CSP, MiB, allow_body, clean_correlation_id, server_options
from tts_common.openapi import install_openapi
from tts_common.settings import ServiceSettings

LIMIT = 64 * 1024


class Item(BaseModel):
    name: str


def build_app(**overrides: Any) -> tuple[FastAPI, dict[str, Any]]:
    """The guarded app and what its handlers saw (`calls`, the `release` event)."""
    seen: dict[str, Any] = {"calls": [], "release": asyncio.Event()}
    settings = ServiceSettings(max_body_bytes=LIMIT, **overrides)
    registry = CollectorRegistry()
    app = FastAPI()
    install_error_handlers(app)
    install_openapi(app)
    from tts_common.http import install_http_guard

    install_http_guard(app, settings, registry)
    seen["registry"] = registry

    @app.post("/items", status_code=201)
    async def create(item: Item) -> Item:
        seen["calls"].append("items")
        return item

    @app.post("/raw")
    async def raw(request: Request) -> dict[str, int]:
        seen["calls"].append("raw")
        return {"bytes": len(await request.body())}

    @app.post(
        "/v1/snapshots/upload",
        openapi_extra={"requestBody": {"content": {"application/octet-stream": {}}}},
    )
    async def snapshot(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        seen["calls"].append("slow")
        await seen["release"].wait()
        seen["calls"].append("slow-done")
        return {"late": "answer"}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    @app.get("/page", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(
            "<p>hi</p>",
            headers={"Cache-Control": "no-store", "Content-Security-Policy": "default-src 'self'"},
        )

    return app, seen


@pytest.fixture
async def guarded() -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    app, seen = build_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        yield client, seen


def records(logs: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in logs.getvalue().splitlines()]


def levels(logs: io.StringIO) -> list[str]:
    return [r["level"] for r in records(logs)]


def _chunks(total: int, size: int = 8192) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            yield b"x" * min(size, total - sent)
            sent += size

    return gen()


# -- bodies -------------------------------------------------------------------------


async def test_a_declared_large_body_is_413_before_any_handler(guarded: Any) -> None:
    client, seen = guarded
    r = await client.post(
        "/items", content=b"{" + b" " * LIMIT + b"}", headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json() == {
        "error": "body_too_large",
        "detail": f"the request body is larger than the {LIMIT} bytes this path accepts",
    }
    assert seen["calls"] == []
    # Declared length: the server discards the rest, the connection stays usable.
    assert r.headers.get("connection") != "close"


async def test_a_chunked_body_is_cut_at_the_limit_and_the_connection_closed(
    guarded: Any, captured_logs: io.StringIO
) -> None:
    client, seen = guarded
    r = await client.post("/raw", content=_chunks(LIMIT * 3))
    assert r.status_code == 413
    assert r.json()["error"] == "body_too_large"
    assert r.headers["connection"] == "close"
    assert seen["calls"] == ["raw"]  # it was reading: it learns the client is gone
    assert "ERROR" not in levels(captured_logs)


async def test_a_body_at_the_limit_passes(guarded: Any) -> None:
    client, _ = guarded
    r = await client.post("/raw", content=b"x" * LIMIT)
    assert r.status_code == 200
    assert r.json() == {"bytes": LIMIT}
    r = await client.post("/raw", content=_chunks(LIMIT))
    assert r.json() == {"bytes": LIMIT}


async def test_allow_body_raises_the_limit_under_a_prefix_only() -> None:
    app, _ = build_app()
    allow_body(app, "/v1/snapshots", 4 * MiB)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        big = b"x" * (2 * MiB)
        assert (await client.post("/v1/snapshots/upload", content=big)).json() == {"bytes": 2 * MiB}
        assert (await client.post("/raw", content=big)).status_code == 413
    limits = app.state.http_limits
    assert limits.body_limit("/v1/snapshots") == 4 * MiB
    assert limits.body_limit("/v1/snapshotsX") == LIMIT  # whole segments only
    with pytest.raises(ValueError):
        allow_body(app, "v1/no-slash", 10)


async def test_allow_body_with_a_path_parameter_covers_that_route_only() -> None:
    app, _ = build_app()
    allow_body(app, "/v1/feeds/{feed_id}/products", 4 * MiB)
    limits = app.state.http_limits
    assert limits.body_limit("/v1/feeds/f1/products") == 4 * MiB
    assert limits.body_limit("/v1/feeds/f1/products/batch") == 4 * MiB
    assert limits.body_limit("/v1/feeds/f1") == LIMIT
    assert limits.body_limit("/v1/feeds/f1/runs") == LIMIT
    assert limits.body_limit("/v1/feeds//products") == LIMIT
    assert limits.body_limit("/v1/feeds/f1/products:upsert") == LIMIT  # another segment
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        big = b"x" * (2 * MiB)
        assert (await client.post("/v1/feeds/f1/products", content=big)).status_code != 413
        assert (await client.post("/v1/feeds/f1/runs", content=big)).status_code == 413


async def test_invalid_json_and_unreadable_bodies_answer_in_the_error_shape(guarded: Any) -> None:
    client, _ = guarded
    r = await client.post("/items", content=b"{bad", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_request"
    assert r.json()["fields"][0]["field"].startswith("body")
    r = await client.post(
        "/items", content=b'{"name": "\xff"}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json() == {"error": "bad_request", "detail": "There was an error parsing the body"}
    r = await client.get("/no/such/path")
    assert r.status_code == 404
    assert r.json() == {"error": "not_found", "detail": "Not Found"}
    r = await client.put("/items")
    assert r.status_code == 405
    assert r.json()["error"] == "method_not_allowed"
    assert "allow" in r.headers


# -- headers and correlation ids ------------------------------------------------------


async def test_headers_over_the_limit_are_431() -> None:
    app, seen = build_app(max_header_bytes=2048)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        r = await client.post("/raw", content=b"x", headers={"x-filler": "a" * 4096})
    assert r.status_code == 431
    assert r.json()["error"] == "headers_too_large"
    assert seen["calls"] == []


@pytest.mark.parametrize(
    "value",
    [
        "a" * 65,
        "a" * (1024 * 1024),
        "has space",
        "new\nline-injection",
        "quote\"and'",
        "ünïcode",
        "",
    ],
    ids=["65-chars", "1MB", "space", "newline", "quotes", "non-ascii", "empty"],
)
async def test_an_unsafe_correlation_id_is_replaced_never_echoed_nor_logged(
    value: str, guarded: Any, captured_logs: io.StringIO
) -> None:
    client, _ = guarded
    raw = value.encode()
    r = await client.post(
        "/items",
        json={"name": "x"},
        headers=[(b"x-correlation-id", raw)],  # type: ignore[arg-type]
    )
    # A 1 MB header is over the header limit itself (under uvicorn, h11 refuses it sooner).
    assert r.status_code == (431 if len(raw) > 16 * 1024 else 201)
    echoed = r.headers["x-correlation-id"]
    assert echoed != value
    assert len(echoed) == 32 and all(c in "0123456789abcdef" for c in echoed)
    if len(value) > 8:
        assert value not in captured_logs.getvalue()


async def test_a_safe_correlation_id_is_kept(guarded: Any) -> None:
    client, _ = guarded
    cid = "Order-42.retry_1-" + "x" * 47  # 64 characters
    r = await client.post("/items", json={"name": "x"}, headers={"x-correlation-id": cid})
    assert r.headers["x-correlation-id"] == cid
    assert clean_correlation_id(cid.encode()) == cid
    assert clean_correlation_id((cid + "x").encode()) is None
    assert clean_correlation_id(None) is None


async def test_every_response_carries_the_security_headers(guarded: Any) -> None:
    client, _ = guarded
    for r in (
        await client.post("/items", json={"name": "x"}),
        await client.get("/nowhere"),
        await client.post("/raw", content=b"x" * (LIMIT + 1)),
        await client.get("/boom"),
    ):
        assert r.headers["x-content-type-options"] == "nosniff", r.status_code
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["content-security-policy"] == API_CSP
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert docs.headers["content-security-policy"] == DOCS_CSP


async def test_a_response_keeps_its_own_csp_and_cache_control(guarded: Any) -> None:
    client, _ = guarded
    r = await client.get("/page")
    assert r.headers["content-security-policy"] == "default-src 'self'"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers.get_list("content-security-policy") == ["default-src 'self'"]


# -- unexpected errors ----------------------------------------------------------------


async def test_an_unexpected_error_is_one_500_and_one_error_log(
    guarded: Any, captured_logs: io.StringIO
) -> None:
    client, _ = guarded
    r = await client.get("/boom")
    assert r.status_code == 500
    assert r.json() == {
        "error": "internal_error",
        "detail": "unexpected error; see the service log",
    }
    errors = [r for r in records(captured_logs) if r["level"] == "ERROR"]
    assert len(errors) == 1, errors
    assert "kaboom" in json.dumps(errors[0])


# -- raw ASGI: stalls, timeouts, disconnects --------------------------------------------


class Exchange:
    """Drive one request by hand: `chunks` are delivered, then `after` (stall or disconnect)."""

    def __init__(
        self, app: FastAPI, method: str, path: str, chunks: list[bytes], after: str
    ) -> None:
        self.app = app
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"svc"), (b"transfer-encoding", b"chunked")],
            "client": ("127.0.0.1", 1),
            "server": ("svc", 80),
        }
        self.chunks = list(chunks)
        self.after = after
        self.sent: list[dict[str, Any]] = []
        self.never = asyncio.Event()
        self.answered = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        if self.chunks:
            return {"type": "http.request", "body": self.chunks.pop(0), "more_body": True}
        if self.after == "disconnect":
            return {"type": "http.disconnect"}
        await self.never.wait()  # a client that stalls mid-body
        raise AssertionError("unreachable")

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            self.answered.set()

    async def run(self) -> None:
        await self.app(self.scope, self.receive, self.send)

    @property
    def status(self) -> int | None:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        assert len(starts) <= 1, starts
        return int(starts[0]["status"]) if starts else None


async def test_a_body_that_stalls_is_408() -> None:
    app, seen = build_app(body_timeout_seconds=0.2)
    ex = Exchange(app, "POST", "/raw", [b"part"], after="stall")
    await ex.run()
    assert ex.status == 408
    body = json.loads(b"".join(m.get("body", b"") for m in ex.sent[1:]))
    assert body["error"] == "request_timeout"
    assert seen["calls"] == ["raw"]


async def test_a_client_leaving_mid_body_is_one_info_line_not_an_error(
    captured_logs: io.StringIO,
) -> None:
    app, seen = build_app()
    ex = Exchange(app, "POST", "/raw", [b"x" * 100], after="disconnect")
    await ex.run()
    assert seen["calls"] == ["raw"]
    assert ex.sent == []  # nothing is sent to a client that is gone
    lines = records(captured_logs)
    assert [line["level"] for line in lines if line["level"] in ("ERROR", "CRITICAL")] == []
    assert not any("Traceback" in json.dumps(line) for line in lines)
    gone = [line for line in lines if "disconnected" in line["message"]]
    assert len(gone) == 1 and gone[0]["level"] == "INFO"
    metrics = generate_latest(seen["registry"]).decode()
    assert 'route="/raw",status="499"' in metrics


async def test_a_body_model_route_with_a_leaving_client_logs_no_error(
    captured_logs: io.StringIO,
) -> None:
    app, seen = build_app()
    ex = Exchange(app, "POST", "/items", [b'{"name": '], after="disconnect")
    await ex.run()
    assert ex.sent == []
    assert seen["calls"] == []
    assert "ERROR" not in levels(captured_logs)


async def test_a_request_over_the_timeout_is_503_and_the_late_answer_is_dropped() -> None:
    app, seen = build_app(request_timeout_seconds=0.2)
    ex = Exchange(app, "GET", "/slow", [], after="stall")
    ex.scope["headers"] = [(b"host", b"svc")]
    task = asyncio.ensure_future(ex.run())
    await ex.answered.wait()  # the guard answers while the handler still waits
    assert seen["calls"] == ["slow"]
    assert ex.status == 503
    assert json.loads(ex.sent[1]["body"])["error"] == "request_timeout"
    assert (b"retry-after", b"1") in ex.sent[0]["headers"]
    seen["release"].set()
    await task
    assert seen["calls"] == ["slow", "slow-done"]  # not cancelled: it finished its work
    assert len(ex.sent) == 2  # ... and its answer went nowhere


# -- OpenAPI and server options -------------------------------------------------------


def test_openapi_documents_the_error_shape_and_the_limits() -> None:
    app, _ = build_app()
    allow_body(app, "/v1/snapshots", 4 * MiB)
    doc = app.openapi()
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert set(schemas["ErrorBody"]["required"]) == {"error", "detail"}
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    items = doc["paths"]["/items"]["post"]["responses"]
    for status in ("400", "408", "413", "422", "503"):
        assert items[status]["content"] == ref, status
    assert str(LIMIT) in items["413"]["description"]
    assert (
        str(4 * MiB)
        in doc["paths"]["/v1/snapshots/upload"]["post"]["responses"]["413"]["description"]
    )
    # No body, no body errors.
    assert "413" not in doc["paths"]["/slow"]["get"]["responses"]


def test_server_options_enforce_the_header_limit_with_h11() -> None:
    app, _ = build_app(max_header_bytes=8192, http_keep_alive_seconds=7)
    assert server_options(app) == {
        "http": "h11",
        "h11_max_incomplete_event_size": 8192,
        "timeout_keep_alive": 7,
    }
    assert server_options(FastAPI()) == {}


def test_upload_prefixes_get_their_own_timeouts() -> None:
    from tts_common.http import HttpLimits

    limits = HttpLimits(
        max_body_bytes=1024,
        max_header_bytes=16384,
        body_timeout_s=15.0,
        request_timeout_s=60.0,
        keep_alive_s=5,
    )
    limits.timeouts["/v1/feeds"] = (3600.0, 0.0)
    assert limits.timeouts_for("/v1/feeds/x/products") == (3600.0, 0.0)
    assert limits.timeouts_for("/v1/feedsx") == (15.0, 60.0)  # whole segments only
    assert limits.timeouts_for("/healthz") == (15.0, 60.0)

"""Composition root: `create_app(settings)` builds the state, the routers and the handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .envelope import error_response
from .errors import ApiError
from .faults import ConnectionFaultMiddleware, DropConnection
from .routes_admin import router as admin_router
from .routes_auth import router as auth_router
from .routes_catalog import router as catalog_router
from .routes_events import router as events_router
from .routes_fulfillment import router as fulfillment_router
from .routes_logistics import router as logistics_router
from .routes_orders import router as orders_router
from .routes_products import router as products_router
from .routes_seed import router as seed_router
from .settings import Settings
from .state import SandboxState

log = logging.getLogger("tiktok_sandbox")

# How often the background ticker applies clock-driven transitions (audits, order holds)
# so that webhooks fire even when nobody reads.
TICK_SECONDS = 1.0
PATH_NOT_FOUND = "Invalid path. The requested API path does not exist."
INTERNAL_ERROR = "Internal error. Please try again."


async def _ticker(state: SandboxState) -> None:
    while True:
        await asyncio.sleep(TICK_SECONDS)
        try:
            state.advance()
        except Exception:  # a bug in one transition must not stop the ticker
            log.exception("sandbox ticker failed")


def create_app(settings: Settings | None = None, state: SandboxState | None = None) -> FastAPI:
    state = state or SandboxState(settings or Settings.from_env())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await state.webhooks.start()
        ticker = asyncio.create_task(_ticker(state))
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await state.webhooks.stop()

    app = FastAPI(title="TikTok Shop sandbox", lifespan=lifespan, docs_url="/sandbox/docs")
    app.state.sandbox = state

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        # Process health for supervisors; not a TikTok path, so no envelope.
        return Response(b'{"status":"ok"}', media_type="application/json")

    for router in (
        auth_router,
        catalog_router,
        products_router,
        orders_router,
        logistics_router,
        fulfillment_router,
        events_router,
        admin_router,
        seed_router,
    ):
        app.include_router(router)
    _install_handlers(app, state)
    # Added first, so it runs inside the fault middleware (which may still drop it).
    app.add_middleware(InternalErrorMiddleware)
    app.add_middleware(ConnectionFaultMiddleware)
    return app


class InternalErrorMiddleware:
    """A sandbox bug answers HTTP 500 `36009003` and the connection stays open.

    Starlette's handler for bare `Exception` answers but then re-raises, and uvicorn
    closes the socket: a keep-alive client would then see a reset on its *next* call,
    a transport fault TikTok does not produce. Catching here ends the request cleanly.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:  # too late for an answer: let the server end the connection
                raise
            log.exception("unhandled sandbox error")
            response = error_response(ApiError(36009003, INTERNAL_ERROR, 500))
            await response(scope, receive, send)


def _install_handlers(app: FastAPI, state: SandboxState) -> None:
    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        state.stats.error(exc.code)
        return error_response(exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        # Unknown path and unknown method on a known path both mean "no such API".
        if exc.status_code in (404, 405):
            state.stats.error(36009009)
            return error_response(ApiError(36009009, PATH_NOT_FOUND, http_status=404))
        return error_response(ApiError(36009004, str(exc.detail), http_status=exc.status_code))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(ApiError(36009004, f"param {where} is invalid"))

    async def on_drop(request: Request, exc: Exception) -> Response:
        # The middleware swallows this response and aborts the connection.
        return Response(status_code=500)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(DropConnection, on_drop)

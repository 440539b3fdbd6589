"""The console's composition root: a FastAPI app of server-rendered pages.

Not `tts_common.app.create_service_app`: that one owns a database engine, a Kafka producer and
a readiness check on both, none of which the console has (it talks to the services over HTTP
only). It reuses the same pieces instead — `tts_common.http`'s guard (limits, security
headers, correlation ids, request metrics), `tts_common.logging`, `tts_common.settings` — and
serves `/healthz`, `/readyz` and `/metrics` like every service (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from tts_common.http import allow_body, install_http_guard
from tts_common.settings import register_settings_secrets

from console import (
    routes_analysis,
    routes_auth,
    routes_connections,
    routes_feeds,
    routes_lists,
    routes_orders,
    routes_runs,
)
from console.backends import BackendDown, BackendRefused, Backends
from console.config import Settings
from console.passwords import parse_users
from console.ratelimit import SignInLimiter
from console.sessions import Signer
from console.web import Console, CsrfRefused, SignInRequired, is_htmx, render

log = logging.getLogger(__name__)
NAME = "console"
STATIC = Path(__file__).parent / "static"

# Pages load only the console's own script and stylesheet; forms post only to the console.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class PageHeaders:
    """Sets the console's CSP (and no-store) on its HTML pages before tts_common.http's guard
    adds its API defaults (`form-action 'none'` would forbid every form).

    Forms post to the console only; the TikTok authorize page a connect form leads to is a
    link on the answer, not a redirect of the form.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.csp = PAGE_CSP.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if ctype.startswith(b"text/html") and b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", self.csp))
                    headers.append((b"cache-control", b"no-store"))
                elif scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"public, max-age=3600"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process serves requests")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": NAME}

    @router.get("/readyz", summary="Readiness: the console serves pages; which services answer")
    async def readyz(request: Request) -> JSONResponse:
        # Ready whatever the services say: a page whose service is down shows a banner.
        console: Console = request.app.state.console

        async def probe(b: object) -> tuple[str, str]:
            from console.backends import Backend

            assert isinstance(b, Backend)
            try:
                r = await b.client.get("/healthz", timeout=2)
                return b.name, "ok" if r.status_code == 200 else f"HTTP {r.status_code}"
            except Exception as exc:
                return b.name, f"not reachable ({type(exc).__name__})"

        results = await asyncio.gather(*(probe(b) for b in console.backends.all()))
        return JSONResponse({"status": "ready", "checks": dict(results)})

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        target = "/sign-in?next=" + quote(exc.next_path, safe="/")
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, exc: CsrfRefused) -> Response:
        log.info("form refused: missing or wrong CSRF token", extra={"path": request.url.path})
        return render(
            request,
            "error.html",
            {
                "title": "Form expired",
                "message": "This form has expired or did not come from "
                "the console. Reload the page and send it again.",
            },
            status_code=403,
        )

    @app.exception_handler(BackendDown)
    async def _down(request: Request, exc: BackendDown) -> Response:
        template = "banner.html" if is_htmx(request) else "error.html"
        return render(
            request,
            template,
            {"title": f"{exc.service} is not available"},
            banners=[exc],
            status_code=200 if is_htmx(request) else 503,
        )

    @app.exception_handler(BackendRefused)
    async def _refused(request: Request, exc: BackendRefused) -> Response:
        template = "refused.html" if is_htmx(request) else "error.html"
        return render(
            request,
            template,
            {"title": "Not possible", "message": f"{exc.service}: {exc.detail}"},
            status_code=200 if is_htmx(request) else exc.status,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code < 400:
            return Response(status_code=exc.status_code, headers=exc.headers)
        message = exc.detail if isinstance(exc.detail, str) else "This page does not exist."
        return render(
            request,
            "error.html",
            {"title": f"Error {exc.status_code}", "message": message},
            status_code=exc.status_code,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}"
            for e in exc.errors()
        )
        return render(
            request, "error.html", {"title": "Bad request", "message": problems}, status_code=422
        )


def create_app(settings: Settings) -> FastAPI:
    register_settings_secrets(settings)
    secret = settings.session_secret.get_secret_value().encode() or secrets.token_bytes(32)
    registry = CollectorRegistry()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        console = Console(
            settings=settings,
            signer=Signer(secret, settings.session_max_age_seconds),
            backends=Backends.from_settings(settings),
            users=parse_users(settings.console_users.get_secret_value()),
            sign_in_limiter=SignInLimiter(
                burst=settings.sign_in_max_failures,
                window_seconds=settings.sign_in_failure_window_seconds,
                global_burst=settings.sign_in_max_failures_all,
            ),
        )
        app.state.console = console
        try:
            yield
        finally:
            await console.backends.aclose()

    app = FastAPI(title=NAME, version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.registry = registry
    _install_handlers(app)
    app.add_middleware(PageHeaders)
    install_http_guard(app, settings, registry)  # added last: the outermost layer
    # Product files and mapping CSVs stream through to catalog-sync.
    allow_body(app, "/upload", settings.max_upload_bytes, body_timeout_s=3600, request_timeout_s=0)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.include_router(_health_router())
    for module in (
        routes_auth,
        routes_connections,
        routes_feeds,
        routes_lists,
        routes_analysis,
        routes_runs,
        routes_orders,
    ):
        app.include_router(module.router)
    return app

"""What every page shares: the signed-in session, CSRF checks, rendering, banners.

A page handler takes `session: SessionDep` (not signed in: a redirect to the sign-in page,
for htmx requests an `HX-Redirect`), and a form handler `form: FormDep` (the form, its CSRF
token checked). `render` fills the layout's context: the user, the CSRF token, the banners.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from console.backends import BackendDown, Backends
from console.config import Settings
from console.ratelimit import SignInLimiter
from console.sessions import SESSION_COOKIE, Session, Signer

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
CSRF_HEADER = "x-csrf-token"
# An id or name that goes into a service's URL path: one segment, no dot segments.
Ident = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._:-]{0,127}$")]


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A form without this session's CSRF token: refused, nothing done."""


@dataclass
class Console:
    """What the app holds (`app.state.console`): settings, the signer, the backends, the
    bound on failed sign-ins."""

    settings: Settings
    signer: Signer
    backends: Backends
    users: dict[str, Any] = field(default_factory=dict)
    sign_in_limiter: SignInLimiter = field(default_factory=SignInLimiter)


def console_of(request: Request) -> Console:
    return request.app.state.console  # type: ignore[no-any-return]


def backends(request: Request) -> Backends:
    return console_of(request).backends


def _signed_in(request: Request) -> Session:
    session = console_of(request).signer.session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        path = request.url.path
        if request.url.query and request.method == "GET":
            path += "?" + request.url.query
        raise SignInRequired(path if request.method == "GET" else "/")
    request.state.session = session
    return session


SessionDep = Annotated[Session, Depends(_signed_in)]


def check_csrf(request: Request, session: Session, token: str | None) -> None:
    token = token or request.headers.get(CSRF_HEADER)
    if not console_of(request).signer.check_csrf(session.nonce, token):
        raise CsrfRefused()


async def _form(request: Request, session: SessionDep) -> FormData:
    form = await request.form()
    token = form.get("csrf")
    check_csrf(request, session, token if isinstance(token, str) else None)
    return form


FormDep = Annotated[FormData, Depends(_form)]


def csrf_header(request: Request, session: SessionDep) -> Session:
    """For raw-body posts (uploads): the token comes in the `X-CSRF-Token` header."""
    check_csrf(request, session, None)
    return session


CsrfHeaderDep = Annotated[Session, Depends(csrf_header)]


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    banners: list[BackendDown] | None = None,
) -> HTMLResponse:
    session: Session | None = getattr(request.state, "session", None)
    signer = console_of(request).signer
    ctx: dict[str, Any] = {
        "request": request,
        "session": session,
        "csrf": signer.csrf(session.nonce) if session else "",
        "banners": banners or [],
        "nav": template.split("/")[0].split(".")[0],
    }
    ctx.update(context or {})
    return TEMPLATES.TemplateResponse(request, template, ctx, status_code=status_code)


def text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else default


def flag(form: FormData, name: str) -> bool:
    return form.get(name) in ("on", "true", "1")

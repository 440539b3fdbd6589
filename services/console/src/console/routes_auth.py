"""Sign-in and sign-out.

Two ways in: the auth-broker's admin key (checked by one read of the broker's admin API,
then forgotten) or a console user of `TTS_CONSOLE_USERS` (scrypt hashes). A success sets
the signed session cookie (HttpOnly, SameSite=Lax, Secure per `TTS_COOKIE_SECURE`); a
failure answers the form again with the message beside the field. Failed attempts are
bounded per client address and in all (`console.ratelimit`, a fixed-size structure): past the
bound the form answers 429 with Retry-After and "Too many attempts, try again in N s" beside
the field; nothing else is remembered about an attempt.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from console.backends import BackendDown
from console.passwords import check_password
from console.sessions import PRE_COOKIE, PRE_MAX_AGE, SESSION_COOKIE
from console.web import FormDep, SessionDep, console_of, render, text

log = logging.getLogger(__name__)
router = APIRouter()


def safe_next(value: str | None) -> str:
    """Only a path of this site: never `//host` or a URL (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/feeds"
    return value


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=console_of(request).settings.secure_cookie,
        path="/",
    )


def _sign_in_page(
    request: Request, next_path: str, errors: dict[str, str] | None = None, **values: Any
) -> Response:
    signer = console_of(request).signer
    nonce, cookie = signer.new_pre()
    response = render(
        request,
        "sign_in.html",
        {
            "next": next_path,
            "sign_in_csrf": signer.csrf(nonce),
            "errors": errors or {},
            "values": values,
            "users_configured": bool(console_of(request).users),
        },
        status_code=400 if errors else 200,
    )
    _cookie(response, request, PRE_COOKIE, cookie, PRE_MAX_AGE)
    return response


@router.get("/", include_in_schema=False)
async def home(session: SessionDep) -> Response:
    return RedirectResponse("/feeds", status_code=303)


@router.get("/sign-in", include_in_schema=False)
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    return _sign_in_page(request, safe_next(next))


def client_address(request: Request) -> str:
    """The caller's address as the server sees it (behind a reverse proxy, run the server
    with its proxy-headers options so this is the browser's address, not the proxy's)."""
    return request.client.host if request.client else "unknown"


def _too_many(
    request: Request, next_path: str, method: str, field: str, wait: int, username: str
) -> Response:
    log.info("console sign-in rate limited", extra={"method": method, "retry_after": wait})
    response = _sign_in_page(
        request,
        next_path,
        {field: f"Too many attempts, try again in {wait} s."},
        method=method,
        username=username,
    )
    response.status_code = 429
    response.headers["Retry-After"] = str(wait)
    return response


@router.post("/sign-in", include_in_schema=False)
async def sign_in(request: Request) -> Response:
    console = console_of(request)
    form = await request.form()
    next_path = safe_next(text(form, "next"))
    nonce = console.signer.pre_nonce(request.cookies.get(PRE_COOKIE))
    token = form.get("csrf")
    if not console.signer.check_csrf(nonce, token if isinstance(token, str) else None):
        return _sign_in_page(
            request, next_path, {"form": "The sign-in form expired; please sign in again."}
        )
    method = text(form, "method", "admin")
    limiter, client = console.sign_in_limiter, client_address(request)
    errors: dict[str, str] = {}
    user, kind = "", ""
    if method == "user":
        name = text(form, "username")
        password = form.get("password")
        if not name:
            errors["username"] = "Enter your user name."
        if not isinstance(password, str) or not password:
            errors["password"] = "Enter your password."
        elif name:
            # Every check of a password takes a token first (console.ratelimit).
            if (wait := limiter.take(client)) is not None:
                return _too_many(request, next_path, method, "password", wait, name)
            if check_password(console.users, name, password):
                limiter.give_back(client)
            else:
                errors["password"] = "Unknown user name or wrong password."
        user, kind = name, "user"
    else:
        key = form.get("admin_key")
        if not isinstance(key, str) or not key.strip():
            errors["admin_key"] = "Enter the auth-broker's admin key."
        elif (wait := limiter.take(client)) is not None:
            return _too_many(request, next_path, method, "admin_key", wait, "")
        else:
            try:
                ok = await console.backends.check_admin_key(key.strip())
            except BackendDown as exc:
                limiter.give_back(client)  # nothing was checked: not the caller's failure
                errors["admin_key"] = (
                    f"The auth-broker cannot check the key now: {exc.reason}. Try again later."
                )
                ok = False
            if ok:
                limiter.give_back(client)
            elif "admin_key" not in errors:
                errors["admin_key"] = "The auth-broker does not accept this admin key."
        user, kind = "admin", "admin"
    if errors:
        log.info("console sign-in refused", extra={"method": method})
        return _sign_in_page(
            request, next_path, errors, method=method, username=text(form, "username")
        )
    _, cookie = console.signer.new_session(user, kind)
    log.info("console sign-in", extra={"user": user, "method": kind})
    response = RedirectResponse(next_path, status_code=303)
    _cookie(response, request, SESSION_COOKIE, cookie, console.settings.session_max_age_seconds)
    response.delete_cookie(PRE_COOKIE, path="/")
    return response


@router.post("/sign-out", include_in_schema=False)
async def sign_out(form: FormDep) -> Response:
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response

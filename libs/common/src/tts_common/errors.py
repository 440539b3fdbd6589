"""One error base for every service, rendered by one FastAPI handler, in one shape (`ErrorBody`)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

log = logging.getLogger(__name__)


class FieldProblem(BaseModel):
    """One invalid request field: where it is (`body.name`, `query.limit`) and what is wrong."""

    field: str
    problem: str


class ErrorBody(BaseModel):
    """Every error response of every service (documented in each OpenAPI by tts_common.openapi)."""

    error: str
    detail: str
    fields: list[FieldProblem] | None = None


def error_body(
    code: str, detail: str, fields: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "detail": detail}
    if fields is not None:
        body["fields"] = fields
    return body


# Codes for the statuses Starlette/FastAPI raise themselves (unknown path, wrong method, ...).
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    503: "unavailable",
}


def log_unexpected(exc: BaseException) -> None:
    log.error("unhandled error", exc_info=exc, extra={"error_class": type(exc).__name__})


def unexpected_body(exc: BaseException) -> dict[str, Any]:
    """Log `exc` once, with its traceback, and return the 500 body, which leaks nothing."""
    log_unexpected(exc)
    return error_body("internal_error", "unexpected error; see the service log")


class AppError(Exception):
    """Base error: carries its HTTP status, a stable code and whether a retry may help."""

    status_code: int = 500
    code: str = "internal_error"
    retriable: bool = False

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        retriable: bool | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        if retriable is not None:
            self.retriable = retriable


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    """Authenticated, but the credentials do not grant this (e.g. a missing API key scope)."""

    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Unavailable(AppError):
    status_code = 503
    code = "unavailable"
    retriable = True


# PostgreSQL refuses text holding the NUL character: character_not_in_repertoire (a TEXT
# parameter) and untranslatable_character (a JSON string "\u0000" in JSONB). Both are the
# request's fault, whatever field carried it (a query parameter, a body field).
_NUL_SQLSTATES = frozenset({"22021", "22P05"})
NUL_DETAIL = (
    "a text value of the request holds the NUL character (\\u0000 or %00), which cannot be"
    " stored or searched for; remove it"
)


def refused_text(exc: BaseException) -> bool:
    """Did PostgreSQL refuse a text value of the request (the NUL character)?"""
    seen: BaseException | None = exc
    for _ in range(4):  # the DBAPI error, its driver's error, what caused that
        if seen is None:
            return False
        if getattr(seen, "sqlstate", None) in _NUL_SQLSTATES:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False


def install_error_handlers(app: FastAPI) -> None:
    """Render every error as `{"error": code, "detail": message}`; never leak internals."""

    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.detail), status_code=exc.status_code)

    @app.exception_handler(DBAPIError)
    async def _database(_: Request, exc: DBAPIError) -> JSONResponse:
        if refused_text(exc):
            return JSONResponse(error_body("bad_text", NUL_DETAIL), status_code=400)
        raise exc  # the database failed: a 500 (or 503) from the outer handlers

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI's own 400 (a body it cannot read, e.g. not UTF-8), 404 (no such path), 405...
        if exc.status_code < 400:
            return Response(status_code=exc.status_code, headers=exc.headers)
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        detail = exc.detail if isinstance(exc.detail, str) else code
        return JSONResponse(
            error_body(code, detail), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"]} for e in exc.errors()
        ]
        return JSONResponse(
            error_body("invalid_request", "fix the listed fields", problems), status_code=422
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        # Reached only without tts_common.http's guard, which renders (and logs) these itself.
        if isinstance(exc, ClientDisconnect):
            # Not an error: the client left mid-request, nobody reads an answer.
            log.debug("client disconnected before the request was read")
            return Response(status_code=400)
        return JSONResponse(unexpected_body(exc), status_code=500)

"""Each service's OpenAPI document tells the truth about its error answers.

FastAPI documents 200/201 and a 422 `HTTPValidationError` (`detail` an array) on its own; our
services answer every error as `tts_common.errors.ErrorBody` and also answer 400, 401, 408,
413, 503... `install_openapi(app)` post-processes the generated document once:

- every 422 is `ErrorBody` (with `fields`), and FastAPI's validation schemas are dropped;
- an operation with a request body also documents 400 (a body that cannot be read), 408 (a
  body too slow, `TTS_BODY_TIMEOUT_SECONDS`) and 413 (naming its limit, tts_common.http);
- an operation with a security requirement documents 401;
- with a request timeout (`TTS_REQUEST_TIMEOUT_SECONDS` > 0), every operation documents 503.

What only a route knows (404, 409, 502, ...) it declares itself with `error_responses(...)`.
The contract tests (tests/contract) hold every service to its document with schemathesis.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel

from tts_common.errors import ErrorBody
from tts_common.http import HttpLimits

ERROR_REF = "#/components/schemas/ErrorBody"
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

DESCRIPTIONS: dict[int, str] = {
    400: "The request cannot be used as sent",
    401: "Credentials missing or not valid",
    403: "The credentials do not grant this",
    404: "Not found",
    408: "The request body did not arrive in time (`request_timeout`)",
    409: "Conflicts with the current state",
    413: "The request body is too large (`body_too_large`)",
    422: "Validation error: `fields` lists each invalid field (`invalid_request`)",
    502: "TikTok Shop failed or refused",
    503: "Unavailable for now; retry later",
}


class Readiness(BaseModel):
    """`/readyz`: `checks` maps each dependency to "ok" or why it does not answer."""

    status: Literal["ready", "not ready"]
    checks: dict[str, str]


READINESS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Readiness, "description": "Ready: the database and Kafka answer"},
    503: {"model": Readiness, "description": "Not ready: `checks` names what does not answer"},
}
METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text exposition format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


def error_content() -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": ERROR_REF}}}


def error_responses(
    *statuses: int, described: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=`: each status answered with `ErrorBody` (JSON).

    `error_responses(401, 404)`; a route-specific text: `described={409: "connection revoked"}`.
    """
    texts = {**{s: DESCRIPTIONS.get(s, "Error") for s in statuses}, **(described or {})}
    return {
        status: {"model": ErrorBody, "description": text} for status, text in sorted(texts.items())
    }


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": error_content()}


def _operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path, op)
        for path, item in schema.get("paths", {}).items()
        for method, op in item.items()
        if method in HTTP_METHODS
    ]


def document_errors(schema: dict[str, Any], limits: HttpLimits | None) -> None:
    """Rewrite `schema` (a generated OpenAPI document) in place; see the module docstring."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in error_schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components.setdefault("ErrorBody", error_schema)

    for path, op in _operations(schema):
        responses: dict[str, Any] = op.setdefault("responses", {})
        if "422" in responses:
            responses["422"] = _error(DESCRIPTIONS[422])
        if "requestBody" in op:
            responses.setdefault("400", _error("The request body cannot be read (`bad_request`)"))
            responses.setdefault("408", _error(DESCRIPTIONS[408]))
            if limits is not None:
                limit = limits.body_limit(path)
                responses.setdefault(
                    "413", _error(f"The request body is larger than {limit} bytes")
                )
        if op.get("security"):
            responses.setdefault("401", _error(DESCRIPTIONS[401]))
        if limits is not None and limits.request_timeout_s > 0:
            responses.setdefault(
                "503",
                _error(
                    "Unavailable, or no answer within the request timeout "
                    f"({limits.request_timeout_s:g} s, `request_timeout`); retry later"
                ),
            )
        op["responses"] = dict(sorted(responses.items()))

    for name in _FASTAPI_VALIDATION:
        definition = components.pop(name, None)
        if definition is not None and f'"#/components/schemas/{name}"' in json.dumps(schema):
            components[name] = definition  # still used by a route of the service's own


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` return the document rewritten by `document_errors` (built once)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()  # FastAPI builds and caches it on app.openapi_schema
            document_errors(schema, getattr(app.state, "http_limits", None))
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]

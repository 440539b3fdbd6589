"""The request check pipeline as FastAPI dependencies.

Order (docs/sandbox.md, "Request checks"): path (routing, 404/36009009) → app_key →
timestamp window → sign → access token → access scope (105005, `scopes.py`) → shop_cipher
required/forbidden → rate limit → faults.
Handlers declare `ctx: ShopRequest` or `ctx: AppRequest` and only raise business errors.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request

from . import signing
from .errors import ApiError
from .faults import DropConnection, mark_drop
from .oauth import AccessToken
from .scopes import ACCESS_DENIED, ACCESS_DENIED_CODE, required_scope
from .state import SandboxState

INVALID_APP_KEY = "Invalid credentials. Invalid `app_key` query parameter."
MISSING_SIGN = (
    "Missing credentials. The request does not include a required signature in the query."
)
INVALID_SIGN = "Invalid credentials. The `sign` query parameter is invalid."
INVALID_TOKEN = "Invalid credentials. The `x-tts-access-token` header is invalid."
EXPIRED_TOKEN = (
    "Expired credentials. The `access_token` or `x-tts-access-token` header has expired."
)
CIPHER_REQUIRED = (
    "Missing identifier. The `shop_cipher` query parameter is required to identify the target shop."
)
CIPHER_UNEXPECTED = (
    "Unexpected identifier. The `shop_cipher` query parameter is not required for this request."
)
CIPHER_INVALID = "Invalid identifier. The `shop_cipher` query parameter is invalid."
TOO_MANY = "Too many requests. You've made too many requests in a short period of time."
INTERNAL = "Internal error. Please try again."


@dataclass(frozen=True)
class ShopContext:
    shop: dict[str, Any]
    shop_id: str
    seller_id: str
    app_key: str
    operation: str


@dataclass(frozen=True)
class AppContext:
    seller_id: str
    app_key: str
    operation: str
    shop_id: str = ""


async def get_state(request: Request) -> SandboxState:
    # async on purpose: FastAPI runs sync dependencies in a thread pool (costly per request).
    state: SandboxState = request.app.state.sandbox
    return state


def operation_id(request: Request) -> str:
    """`METHOD /path/template`, e.g. `POST /product/202309/products` (stats, limits, faults)."""
    route = request.scope.get("route")
    template = getattr(route, "path", request.url.path)
    return f"{request.method} {template}"


async def json_body(request: Request) -> dict[str, Any]:
    """The parsed JSON body (`{}` when empty); a non-object body is a param error."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(36009004, "param body is invalid: not valid JSON") from exc
    if not isinstance(parsed, dict):
        raise ApiError(36009004, "param body is invalid: expected a JSON object")
    return parsed


async def _verify_signed(request: Request, state: SandboxState, operation: str) -> str:
    """app_key → timestamp → sign → token → scope; returns the token's seller id."""
    settings = state.settings
    params = dict(request.query_params)
    if params.get("app_key") != settings.app_key:
        raise ApiError(36009004, INVALID_APP_KEY, http_status=400)
    # The window is checked against the real clock: clients sign with wall time even
    # when the sandbox clock has been advanced.
    try:
        ts = int(params.get("timestamp", ""))
    except ValueError:
        raise ApiError(
            36009004, "Invalid timestamp. The `timestamp` query parameter is invalid.", 400
        ) from None
    now = time.time()
    if ts < now - settings.timestamp_max_age_seconds:
        raise ApiError(36009004, "Invalid timestamp. The request timestamp is too old.", 400)
    if ts > now + settings.timestamp_max_ahead_seconds:
        raise ApiError(
            36009004, "Invalid timestamp. The request timestamp is too far in the future.", 400
        )
    given = params.get("sign")
    if not given:
        raise ApiError(36009004, MISSING_SIGN, http_status=401)
    content_type = request.headers.get("content-type", "")
    body = b""
    if request.method != "GET" and not content_type.startswith("multipart/form-data"):
        body = await request.body()
    if not signing.verify(settings.app_secret, request.url.path, params, body, given):
        raise ApiError(106001, INVALID_SIGN, http_status=401)
    token = request.headers.get("x-tts-access-token") or params.get("access_token") or ""
    record = state.auth.lookup_access(token)
    if record is None:
        raise ApiError(36009004, INVALID_TOKEN, http_status=401)
    if record.expires_at <= state.clock.now():
        raise ApiError(105002, EXPIRED_TOKEN, http_status=401)
    _check_scope(record, operation)
    return record.seller_id


def _check_scope(record: AccessToken, operation: str) -> None:
    # HTTP 200 [inferred]: no source gives the status of 105005, and business errors
    # default to 200 ("Common errors"). Checked after the token (a scope is a property of a
    # valid token) and before the cipher, like the other authorization checks.
    if required_scope(operation) not in record.scopes:
        raise ApiError(ACCESS_DENIED_CODE, ACCESS_DENIED)


async def limits_and_faults(
    request: Request, state: SandboxState, app_key: str, shop_id: str, operation: str
) -> None:
    if not state.ratelimiter.allow(app_key, shop_id, operation):
        state.stats.limited(operation)
        raise ApiError(36009002, TOO_MANY, http_status=429)
    decision = state.faults.decide(operation, shop_id, is_write=request.method != "GET")
    if decision is None:
        return
    if decision.latency_seconds:
        await asyncio.sleep(decision.latency_seconds)
    if decision.action is None:
        return
    state.stats.fault(decision.action)
    if decision.action == "error":
        raise ApiError(36009003, INTERNAL, http_status=503)
    if decision.action == "timeout":
        await asyncio.sleep(decision.timeout_seconds)
        mark_drop(request.scope)
        raise DropConnection()
    if decision.action == "reset":
        mark_drop(request.scope)
        raise DropConnection()
    # drop_response: let the handler commit, then the middleware drops the answer.
    mark_drop(request.scope)


async def require_shop(request: Request) -> ShopContext:
    state: SandboxState = request.app.state.sandbox
    operation = operation_id(request)
    state.stats.call(operation, request.url.path)
    seller_id = await _verify_signed(request, state, operation)
    cipher = request.query_params.get("shop_cipher")
    if not cipher:
        raise ApiError(106013, CIPHER_REQUIRED, http_status=400)
    shop = state.shops_by_cipher.get(cipher)
    if shop is None or shop["seller_id"] != seller_id:
        raise ApiError(36009004, CIPHER_INVALID, http_status=400)
    await limits_and_faults(request, state, state.settings.app_key, shop["id"], operation)
    return ShopContext(shop, shop["id"], seller_id, state.settings.app_key, operation)


async def require_app(request: Request) -> AppContext:
    state: SandboxState = request.app.state.sandbox
    operation = operation_id(request)
    state.stats.call(operation)
    seller_id = await _verify_signed(request, state, operation)
    if "shop_cipher" in request.query_params:
        raise ApiError(36009004, CIPHER_UNEXPECTED, http_status=400)
    await limits_and_faults(request, state, state.settings.app_key, "", operation)
    return AppContext(seller_id, state.settings.app_key, operation)


ShopRequest = Annotated[ShopContext, Depends(require_shop)]
AppRequest = Annotated[AppContext, Depends(require_app)]
StateDep = Annotated[SandboxState, Depends(get_state)]

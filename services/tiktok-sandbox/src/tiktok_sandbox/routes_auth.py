"""Auth host and authorization routes: authorize page, token get/refresh, authorized shops.

The auth host paths (`/open/authorize`, `/api/v2/token/*`) are unsigned GETs without a
token header, exactly like `auth.tiktok-shops.com`; the sandbox serves them on the same port.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from .envelope import ok
from .errors import ApiError
from .scopes import ALL_SCOPES, parse_requested
from .security import AppRequest, StateDep, json_body, limits_and_faults, operation_id
from .seed import REGION_TO_SELLER, public_shop
from .state import SandboxState

router = APIRouter()

INVALID_APP_KEY = "Invalid credentials. Invalid `app_key` query parameter."
INVALID_APP_SECRET = "Invalid credentials. Invalid `app_secret` query parameter."


def _check_service(state: SandboxState, request: Request) -> str:
    """The authorize link carries `service_id` (or `app_key` on the legacy link)."""
    q = request.query_params
    if q.get("service_id") != state.settings.service_id and q.get("app_key") != (
        state.settings.app_key
    ):
        raise ApiError(36009004, "param service_id is invalid", http_status=400)
    return q.get("state", "")


@router.get("/open/authorize", response_class=HTMLResponse)
@router.get("/oauth/authorize", response_class=HTMLResponse)
async def authorize_page(request: Request, state: StateDep) -> Response:
    oauth_state = _check_service(state, request)
    rows = []
    for region in ("US", "UK"):
        seller = state.sellers[REGION_TO_SELLER[region]]
        query = urlencode(
            {"service_id": state.settings.service_id, "state": oauth_state, "region": region}
        )
        rows.append(
            f'<li><a id="approve-{region}" href="/open/authorize/approve?{html.escape(query)}">'
            f"Authorize as {html.escape(seller['seller_name'])} ({region})</a></li>"
        )
    page = (
        "<!doctype html><title>TikTok Shop sandbox - authorize</title>"
        "<h1>Authorize the app</h1><p>Sandbox: pick the seller that grants access.</p>"
        f"<ul>{''.join(rows)}</ul>"
    )
    return HTMLResponse(page)


@router.get("/open/authorize/approve")
async def authorize_approve(request: Request, state: StateDep) -> Response:
    oauth_state = _check_service(state, request)
    seller_id = REGION_TO_SELLER.get(request.query_params.get("region", "").upper())
    if seller_id is None:
        raise ApiError(36009004, "param region is invalid", http_status=400)
    code = state.auth.issue_code(seller_id)
    sep = "&" if "?" in state.settings.redirect_url else "?"
    target = state.settings.redirect_url + sep + urlencode({"code": code, "state": oauth_state})
    return RedirectResponse(target, status_code=302)


async def _token_request(
    request: Request, state: SandboxState, grant_type: str, credential: str
) -> str:
    """Checks of the two token endpoints, in order; the value of their `credential` param."""
    operation = operation_id(request)
    state.stats.call(operation)
    await limits_and_faults(request, state, state.settings.app_key, "", operation)
    q = request.query_params
    if q.get("app_key") != state.settings.app_key:
        raise ApiError(36009004, INVALID_APP_KEY)
    if q.get("app_secret") != state.settings.app_secret:
        raise ApiError(36009004, INVALID_APP_SECRET)
    if q.get("grant_type") != grant_type:
        raise ApiError(36009004, "param grant_type is invalid")
    value = q.get(credential, "")
    if not value:
        raise ApiError(36009004, f"param {credential} is missing")
    return value


@router.get("/api/v2/token/get")
async def token_get(request: Request, state: StateDep) -> Response:
    code = await _token_request(request, state, "authorized_code", "auth_code")
    return ok(state.auth.exchange_code(code))


@router.get("/api/v2/token/refresh")
async def token_refresh(request: Request, state: StateDep) -> Response:
    refresh = await _token_request(request, state, "refresh_token", "refresh_token")
    return ok(state.auth.refresh_grant(refresh))


@router.get("/authorization/202309/shops")
async def authorized_shops(ctx: AppRequest, state: StateDep) -> Response:
    seller = state.sellers[ctx.seller_id]
    shops = [public_shop(state.shops[sid]) for sid in seller["shop_ids"]]
    return ok({"shops": shops})


@router.post("/sandbox/v1/authorizations")
async def create_authorization(request: Request, state: StateDep) -> Response:
    """Test shortcut for the browser step: returns an auth code for the region's seller.

    Optional `"scopes": [...]` grants only those scopes (default: all, like the
    authorize page), so tests can produce tokens that hit 105005.
    """
    body = await json_body(request)
    region = str(body.get("region", "")).upper()
    seller_id = REGION_TO_SELLER.get(region)
    if seller_id is None:
        raise ApiError(36009004, 'param body.region must be "US" or "UK"')
    scopes = ALL_SCOPES
    if "scopes" in body:
        try:
            scopes = parse_requested(body["scopes"])
        except ValueError as exc:
            raise ApiError(36009004, str(exc)) from None
    code = state.auth.issue_code(seller_id, scopes)
    seller = state.sellers[seller_id]
    return ok(
        {
            "code": code,
            "seller_id": seller_id,
            "seller_name": seller["seller_name"],
            "shop_ids": list(seller["shop_ids"]),
            "redirect_url": state.settings.redirect_url,
            "scopes": list(scopes),
        }
    )

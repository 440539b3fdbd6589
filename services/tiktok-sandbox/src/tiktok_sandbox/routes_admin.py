"""Admin routes under `/sandbox/v1`: clock, faults, stats, shop products and listing caps.

Unsigned on purpose: they are the test harness's controls, not part of the emulated API.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from .envelope import ok
from .errors import ApiError
from .faults import parse_rule
from .security import StateDep, json_body

router = APIRouter(prefix="/sandbox/v1")


@router.get("/clock")
async def get_clock(state: StateDep) -> Response:
    return ok({"now": state.clock.now_int(), "offset_seconds": state.clock.offset})


@router.post("/clock")
async def advance_clock(request: Request, state: StateDep) -> Response:
    body = await json_body(request)
    try:
        seconds = float(body.get("advance_seconds", 0))
        state.clock.advance(seconds)
    except (TypeError, ValueError) as exc:
        raise ApiError(36009004, "param body.advance_seconds must be a number >= 0") from exc
    state.advance()
    return ok({"now": state.clock.now_int(), "offset_seconds": state.clock.offset})


@router.get("/faults")
async def list_faults(state: StateDep) -> Response:
    return ok({"rules": state.faults.rules()})


@router.post("/faults")
async def add_fault(request: Request, state: StateDep) -> Response:
    """Add a fault rule; `{"revoke_authorization": {"shop_id": ...}}` revokes instead."""
    body = await json_body(request)
    revoke = body.get("revoke_authorization")
    if revoke is not None:
        shop_id = str((revoke or {}).get("shop_id", ""))
        if not state.revoke_shop(shop_id):
            raise ApiError(36009004, "param body.revoke_authorization.shop_id is invalid")
        state.stats.fault("revoke_authorization")
        return ok({"revoked_shop_id": shop_id})
    rule = state.faults.add(parse_rule(body))
    return ok({"rule": rule.public()})


@router.delete("/faults")
async def clear_faults(state: StateDep) -> Response:
    state.faults.clear()
    return ok({})


@router.get("/stats")
async def get_stats(state: StateDep) -> Response:
    state.advance()
    data = state.stats.snapshot()
    data["products_by_shop"] = state.products.count_by_shop()
    data["orders_by_shop"] = state.orders.count_by_shop()
    data["duplicate_seller_skus"] = state.products.duplicate_seller_skus()
    data["token_refreshes"] = state.auth.refresh_count
    data["webhooks"] = state.webhooks.snapshot()
    return ok(data)


@router.get("/requests")
async def request_log(request: Request, state: StateDep) -> Response:
    """When each call arrived (`at`, epoch seconds), oldest first: `?operation=` (an operation
    id as in the stats) and `?since=` (epoch seconds) narrow it. The newest 200,000 calls."""
    try:
        since = float(request.query_params.get("since") or 0)
    except ValueError:
        raise ApiError(36009004, "param since must be a number (epoch seconds)") from None
    operation = request.query_params.get("operation") or None
    return ok({"requests": state.stats.request_log(operation, since)})


@router.delete("/stats")
async def reset_stats(state: StateDep) -> Response:
    state.stats.reset()
    return ok({})


@router.get("/shops/{shop_id}/products")
async def shop_products(shop_id: str, state: StateDep) -> Response:
    if state.shop(shop_id) is None:
        raise ApiError(36009004, "param shop_id is invalid")
    state.advance()
    products = state.products.list_shop(shop_id)
    return ok({"total_count": len(products), "products": products})


@router.get("/shops/{shop_id}/listing_limit")
async def get_listing_limit(shop_id: str, state: StateDep) -> Response:
    """The shop's new-shop daily listing cap and today's use (docs/sandbox.md)."""
    if state.shop(shop_id) is None:
        raise ApiError(36009004, "param shop_id is invalid")
    return ok(state.listing_limits.status(shop_id, state.clock.now()))


@router.put("/shops/{shop_id}/listing_limit")
async def set_listing_limit(shop_id: str, request: Request, state: StateDep) -> Response:
    """`{"daily_limit": N}`: at most N creates per UTC day (0 = no cap); `null` restores
    `SANDBOX_NEW_SHOP_DAILY_LISTING_LIMIT`. Today's count is kept."""
    if state.shop(shop_id) is None:
        raise ApiError(36009004, "param shop_id is invalid")
    body = await json_body(request)
    limit = body.get("daily_limit", ...)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ApiError(36009004, "param body.daily_limit must be an integer >= 0 or null")
    state.listing_limits.set(shop_id, limit)
    return ok(state.listing_limits.status(shop_id, state.clock.now()))

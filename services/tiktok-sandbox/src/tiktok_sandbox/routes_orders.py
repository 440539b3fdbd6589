"""Routes: orders search and detail ("Get Order List", "Get Order Detail"), and admin controls.

TikTok API: `POST /order/202309/orders/search`, `GET /order/{202309,202507}/orders?ids=`.
Admin (unsigned, `/sandbox/v1/orders`): place an order, then drive it through the
buyer and carrier side of the flow (pay, cancel, request_cancel, collect, deliver,
complete). See docs/sandbox-orders.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from .carrier import Carrier
from .envelope import ok
from .errors import ApiError
from .order_build import SHIPPING_TYPES, bad_request
from .order_query import PARAM_ERROR, parse_enum, parse_paging, parse_time_filters
from .orders import STATUSES, OrderRecord
from .security import ShopRequest, StateDep, json_body
from .state import SandboxState

router = APIRouter()

MAX_DETAIL_IDS = 50


@router.post("/order/202309/orders/search")
async def get_order_list(ctx: ShopRequest, state: StateDep, request: Request) -> Response:
    paging = parse_paging(request.query_params)
    body = await json_body(request)
    filters: dict[str, Any] = dict(parse_time_filters(body))
    filters["order_status"] = parse_enum(body, "order_status", STATUSES)
    filters["shipping_type"] = parse_enum(body, "shipping_type", SHIPPING_TYPES)
    buyer = body.get("buyer_user_id")
    if buyer is not None and not isinstance(buyer, str):
        raise ApiError(PARAM_ERROR, "param body.buyer_user_id is invalid: a string is expected")
    filters["buyer_user_id"] = buyer or None
    flag = body.get("is_buyer_request_cancel")
    if flag is not None and not isinstance(flag, bool):
        raise ApiError(PARAM_ERROR, "param body.is_buyer_request_cancel is invalid")
    filters["is_buyer_request_cancel"] = flag
    return ok(state.orders.search(ctx.shop_id, filters, paging))


@router.get("/order/202309/orders")
@router.get("/order/202507/orders")
async def get_order_detail(ctx: ShopRequest, state: StateDep, request: Request) -> Response:
    raw = request.query_params.get("ids") or ""
    ids = [i.strip() for i in raw.split(",") if i.strip()]
    if not ids:
        raise ApiError(PARAM_ERROR, "param query.ids is missing")
    if len(ids) > MAX_DETAIL_IDS:
        raise ApiError(PARAM_ERROR, f"param query.ids is invalid: at most {MAX_DETAIL_IDS} ids")
    return ok({"orders": state.orders.detail(ctx.shop_id, ids)})


# ---- admin ---------------------------------------------------------------------------------


def _admin_view(state: SandboxState, rec: OrderRecord) -> dict[str, Any]:
    return {"order": state.orders.render(rec), "package_ids": list(rec.package_ids)}


def _shop_for(state: SandboxState, body: dict[str, Any]) -> dict[str, Any]:
    shop_id = body.get("shop_id")
    if shop_id:
        shop = state.shop(str(shop_id))
        if shop is None:
            raise bad_request(f"shop_id {shop_id} is not a seeded shop")
        return shop
    region = str(body.get("region") or "").upper()
    region = "GB" if region == "UK" else region
    for shop in state.shops.values():
        if region and shop["region"] == region:
            return shop
    raise bad_request('give "shop_id" or "region" ("US" or "UK")')


@router.post("/sandbox/v1/orders")
async def place_order(request: Request, state: StateDep) -> Response:
    body = await json_body(request)
    rec = state.orders.place(_shop_for(state, body), body)
    return ok(_admin_view(state, rec))


@router.get("/sandbox/v1/orders/{order_id}")
async def admin_get_order(order_id: str, state: StateDep) -> Response:
    state.orders.advance(state.clock.now())
    with state.lock:
        return ok(_admin_view(state, state.orders.admin_get(order_id)))


@router.post("/sandbox/v1/orders/{order_id}/{action}")
async def admin_order_action(
    order_id: str, action: str, request: Request, state: StateDep
) -> Response:
    body = await json_body(request)
    carrier = Carrier(state.orders)
    actions = {
        "pay": lambda: state.orders.pay(order_id),
        "cancel": lambda: state.orders.cancel(order_id, body),
        "request_cancel": lambda: state.orders.request_cancel(order_id),
        "collect": lambda: carrier.collect(order_id),
        "deliver": lambda: carrier.deliver(order_id),
        "complete": lambda: carrier.complete(order_id),
    }
    if action not in actions:
        raise ApiError(40400, f"unknown order action {action!r}: {', '.join(actions)}", 404)
    rec = actions[action]()
    return ok(_admin_view(state, rec))

"""Routes: fulfilment of seller-shipped orders (docs/sandbox-orders.md); logic in fulfillment.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from .envelope import ok
from .fulfillment import Fulfillment
from .order_query import parse_enum, parse_paging, parse_time_filters
from .package_reads import PackageReads
from .security import ShopRequest, StateDep, json_body

router = APIRouter()

PACKAGE_STATUSES = ("TO_FULFILL", "PROCESSING", "FULFILLING", "COMPLETED", "CANCELLED")


@router.post("/fulfillment/202309/packages/{package_id}/ship")
async def ship_package(
    package_id: str, ctx: ShopRequest, state: StateDep, request: Request
) -> Response:
    body = await json_body(request)
    Fulfillment(state.orders).ship_package(ctx.shop_id, package_id, body)
    return ok({})


@router.post("/fulfillment/202309/packages/ship")
async def batch_ship_packages(ctx: ShopRequest, state: StateDep, request: Request) -> Response:
    body = await json_body(request)
    return ok(Fulfillment(state.orders).batch_ship(ctx.shop_id, body))


@router.post("/fulfillment/202309/orders/{order_id}/packages")
async def mark_package_as_shipped(
    order_id: str, ctx: ShopRequest, state: StateDep, request: Request
) -> Response:
    body = await json_body(request)
    return ok(Fulfillment(state.orders).mark_as_shipped(ctx.shop_id, order_id, body))


@router.post("/fulfillment/202309/orders/{order_id}/shipping_info/update")
async def update_order_shipping_info(
    order_id: str, ctx: ShopRequest, state: StateDep, request: Request
) -> Response:
    body = await json_body(request)
    Fulfillment(state.orders).update_shipping_info(ctx.shop_id, body, order_id=order_id)
    return ok({})


@router.post("/fulfillment/202309/packages/{package_id}/shipping_info/update")
async def update_package_shipping_info(
    package_id: str, ctx: ShopRequest, state: StateDep, request: Request
) -> Response:
    body = await json_body(request)
    Fulfillment(state.orders).update_shipping_info(ctx.shop_id, body, package_id=package_id)
    return ok({})


@router.post("/fulfillment/202309/packages/search")
async def search_package(ctx: ShopRequest, state: StateDep, request: Request) -> Response:
    paging = parse_paging(request.query_params)
    body = await json_body(request)
    filters: dict[str, Any] = dict(parse_time_filters(body))
    filters["package_status"] = parse_enum(body, "package_status", PACKAGE_STATUSES)
    return ok(PackageReads(state.orders).search_packages(ctx.shop_id, filters, paging))


@router.get("/fulfillment/202309/packages/{package_id}")
async def get_package_detail(package_id: str, ctx: ShopRequest, state: StateDep) -> Response:
    return ok(PackageReads(state.orders).package_detail(ctx.shop_id, package_id))


@router.get("/fulfillment/202309/orders/{order_id}/tracking")
async def get_order_tracking(order_id: str, ctx: ShopRequest, state: StateDep) -> Response:
    return ok(PackageReads(state.orders).order_tracking(ctx.shop_id, order_id))

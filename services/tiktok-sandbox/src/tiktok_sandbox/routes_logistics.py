"""Routes: warehouses, delivery options per warehouse, shipping providers per option.

TikTok's "Get Warehouse List 202309", "Get Warehouse Delivery Options 202309" and
"Get Shipping Providers 202309".
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from .envelope import ok
from .errors import ApiError
from .logistics_seed import market, public_copy
from .security import ShopRequest

router = APIRouter()

# [inferred] codes: no public source gives them.
WAREHOUSE_NOT_FOUND = 21001001
DELIVERY_OPTION_NOT_FOUND = 21001002


@router.get("/logistics/202309/warehouses")
async def get_warehouse_list(ctx: ShopRequest) -> Response:
    return ok({"warehouses": public_copy(market(ctx.shop["region"]).warehouses)})


@router.get("/logistics/202309/warehouses/{warehouse_id}/delivery_options")
async def get_warehouse_delivery_options(warehouse_id: str, ctx: ShopRequest) -> Response:
    logistics = market(ctx.shop["region"])
    if logistics.warehouse(warehouse_id) is None:
        raise ApiError(WAREHOUSE_NOT_FOUND, f"The warehouse {warehouse_id} does not exist.")
    options = logistics.delivery_options.get(warehouse_id, [])
    return ok({"delivery_options": public_copy(options)})


@router.get("/logistics/202309/delivery_options/{delivery_option_id}/shipping_providers")
async def get_shipping_providers(delivery_option_id: str, ctx: ShopRequest) -> Response:
    logistics = market(ctx.shop["region"])
    if logistics.delivery_option(delivery_option_id) is None:
        raise ApiError(
            DELIVERY_OPTION_NOT_FOUND, f"The delivery option {delivery_option_id} does not exist."
        )
    providers = logistics.shipping_providers.get(delivery_option_id, [])
    return ok({"shipping_providers": public_copy(providers)})

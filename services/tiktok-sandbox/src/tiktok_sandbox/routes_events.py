"""Routes: webhook subscriptions ("Update Shop Webhook 202309" & co) and the delivery log.

The delivery log is sandbox admin (docs/sandbox-orders.md).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from .envelope import ok
from .errors import ApiError
from .security import ShopRequest, StateDep, json_body

router = APIRouter()

WEBHOOKS_PATH = "/event/202309/webhooks"


@router.get(WEBHOOKS_PATH)
async def get_shop_webhooks(ctx: ShopRequest, state: StateDep) -> Response:
    webhooks = state.webhooks.list(ctx.shop_id)
    return ok({"total_count": len(webhooks), "webhooks": webhooks})


@router.put(WEBHOOKS_PATH)
async def update_shop_webhook(ctx: ShopRequest, state: StateDep, request: Request) -> Response:
    body = await json_body(request)
    state.webhooks.subscribe(
        ctx.shop_id, str(body.get("event_type") or ""), str(body.get("address") or "")
    )
    return ok({})


@router.delete(WEBHOOKS_PATH)
async def delete_webhook_for_an_event(
    ctx: ShopRequest, state: StateDep, request: Request
) -> Response:
    body = await json_body(request)
    event_type = body.get("event_type")
    if not event_type:
        raise ApiError(36009004, "param body.event_type is missing")
    state.webhooks.delete(ctx.shop_id, str(event_type))
    return ok({})


@router.get("/sandbox/v1/webhooks/deliveries")
async def webhook_deliveries(state: StateDep, limit: int = 100) -> Response:
    """Recent delivery attempts (newest last) and the dispatcher's counters."""
    return ok({"stats": state.webhooks.snapshot(), "deliveries": state.webhooks.deliveries(limit)})

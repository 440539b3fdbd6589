"""Orders (order-ingest) and Shipments (shipment-notifier): lists with filters, one order.

One order's page shows its TikTok status and times, its line items and packages, the events
pushed to the OMS (the deliveries, one per version) and the shipments sent for it. The
buyer's personal data (names, addresses, phone numbers) is not shown: the console is an
operator's screen, not an OMS.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from console.backends import BackendDown, BackendRefused
from console.web import Ident, SessionDep, backends, render

router = APIRouter()
ORDER_STATUSES = (
    "UNPAID",
    "ON_HOLD",
    "AWAITING_SHIPMENT",
    "PARTIALLY_SHIPPING",
    "AWAITING_COLLECTION",
    "IN_TRANSIT",
    "DELIVERED",
    "COMPLETED",
    "CANCELLED",
)
SHIPMENT_STATUSES = ("queued", "deferred", "sending", "notified", "rejected", "superseded")


def order_summary(order: dict[str, Any]) -> dict[str, Any]:
    """What the list and the page show of TikTok's order object (no personal data)."""
    doc = order.get("order") or {}
    items = doc.get("line_items") or []
    payment = doc.get("payment") or {}
    return {
        **{
            k: order.get(k)
            for k in (
                "id",
                "status",
                "create_time",
                "update_time",
                "shop_id",
                "fulfillment_type",
                "shipping_type",
                "ready_to_ship",
                "cancellable_until",
                "package_ids",
            )
        },
        "items": [
            {
                k: li.get(k)
                for k in (
                    "id",
                    "product_name",
                    "sku_name",
                    "seller_sku",
                    "sale_price",
                    "display_status",
                )
            }
            for li in items
        ],
        "total": payment.get("total_amount"),
        "currency": payment.get("currency"),
    }


@router.get("/orders", include_in_schema=False)
async def orders(
    request: Request,
    session: SessionDep,
    status: str | None = Query(None, max_length=40),
    updated_after: str | None = Query(None, max_length=40),
    cursor: str | None = Query(None, max_length=200),
) -> Response:
    errors: dict[str, str] = {}
    page: dict[str, Any] = {"orders": [], "has_more": False, "next_cursor": None}
    try:
        page = await backends(request).orders.get(
            "/v1/orders",
            params={
                "status": status,
                "updated_after": updated_after,
                "cursor": cursor,
                "limit": 100,
            },
        )
    except BackendRefused as exc:
        fields = exc.field_errors()
        errors = {k: v for k, v in fields.items() if k in ("status", "updated_after")} or {
            "status": exc.detail
        }
    return render(
        request,
        "orders.html",
        {
            "orders": [order_summary(o) for o in page["orders"]],
            "has_more": page.get("has_more"),
            "next_cursor": page.get("next_cursor"),
            "filter_status": status or "",
            "updated_after": updated_after or "",
            "statuses": ORDER_STATUSES,
            "errors": errors,
        },
        status_code=422 if errors else 200,
    )


@router.get("/orders/{order_id}", include_in_schema=False)
async def order(request: Request, order_id: Ident, session: SessionDep) -> Response:
    b = backends(request)
    found = await b.orders.get(f"/v1/orders/{order_id}")
    banners: list[BackendDown] = []

    async def deliveries() -> list[dict[str, Any]]:
        got = await b.orders.get(f"/v1/orders/{order_id}/deliveries")
        return list(got["items"])

    async def shipments() -> list[dict[str, Any]]:
        try:
            got = await b.shipments.get("/v1/shipments", params={"order_id": order_id})
        except BackendDown as exc:
            banners.append(exc)
            return []
        return list(got["shipments"])

    events, sent = await asyncio.gather(deliveries(), shipments())
    return render(
        request,
        "order.html",
        {"order": order_summary(found), "deliveries": events, "shipments": sent},
        banners=banners,
    )


@router.get("/shipments", include_in_schema=False)
async def shipments(
    request: Request,
    session: SessionDep,
    status: str | None = Query(None, max_length=20),
    order_id: str | None = Query(None, max_length=100),
    tracking_number: str | None = Query(None, max_length=100),
    page_token: str | None = Query(None, max_length=200),
) -> Response:
    errors: dict[str, str] = {}
    page: dict[str, Any] = {"shipments": [], "next_page_token": None}
    if status and status not in SHIPMENT_STATUSES:
        errors["status"] = "Choose one of the listed statuses."
    else:
        try:
            page = await backends(request).shipments.get(
                "/v1/shipments",
                params={
                    "status": status,
                    "order_id": order_id,
                    "tracking_number": tracking_number,
                    "page_token": page_token,
                    "limit": 100,
                },
            )
        except BackendRefused as exc:
            errors = exc.field_errors() or {"status": exc.detail}
    return render(
        request,
        "shipments.html",
        {
            "shipments": page["shipments"],
            "next_page_token": page.get("next_page_token"),
            "filter_status": status or "",
            "order_id": order_id or "",
            "tracking_number": tracking_number or "",
            "statuses": SHIPMENT_STATUSES,
            "errors": errors,
        },
        status_code=422 if errors else 200,
    )

"""`tts orders list`: the orders order-ingest imported (docs/orders.md), paged by its cursor.

`GET /v1/orders` pages in update-sequence order with `next_cursor` / `has_more`; the command
follows the cursor until it has `--limit` orders or there are no more.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from tts_cli import render
from tts_cli.context import config, wants_json
from tts_cli.options import JsonOpt, aware

app = typer.Typer(help="Orders imported from TikTok (order-ingest).")

PAGE = 500


@app.command("list")
def list_orders(
    ctx: typer.Context,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", help="TikTok order status, e.g. AWAITING_SHIPMENT (repeatable)"),
    ] = None,
    updated_after: Annotated[
        datetime | None,
        typer.Option("--updated-after", help="only orders TikTok updated later (ISO time)"),
    ] = None,
    limit: Annotated[int, typer.Option(help="at most this many orders", min=1)] = 100,
    json_out: JsonOpt = False,
) -> None:
    """Orders in the order order-ingest stored their changes."""
    params: dict[str, Any] = {}
    if status:
        params["status"] = status
    if updated_after is not None:
        params["updated_after"] = aware(updated_after).isoformat()
    orders: list[dict[str, Any]] = []
    more = False
    with config(ctx).orders() as api:
        cursor: str | None = None
        while len(orders) < limit:
            page_params = {**params, "limit": min(PAGE, limit - len(orders))}
            if cursor:
                page_params["cursor"] = cursor
            page = api.json("GET", "/v1/orders", params=page_params)
            orders.extend(page.get("orders") or [])
            cursor = page.get("next_cursor")
            more = bool(page.get("has_more"))
            if not more:
                break
    if wants_json(ctx, json_out):
        render.emit_json(orders)
        return
    render.table(
        "orders",
        ["id", "status", "shop", "created", "updated", "lines", "packages"],
        (
            [
                o["id"],
                o.get("status"),
                o.get("shop_id"),
                o.get("create_time"),
                o.get("update_time"),
                len(o.get("line_item_ids") or []),
                len(o.get("package_ids") or []),
            ]
            for o in orders
        ),
        empty="no orders match",
    )
    if more:
        render.note(f"showing the first {len(orders)}; --limit shows more")

"""`POST /sandbox/v1/shops/{shop_id}/products:bulk-seed`: stand a large catalogue up at once.

A benchmark or a test that needs 100,000 listings already at TikTok (an "adopt existing
listings" run, a no-change rerun) cannot wait for 100,000 signed creates and their audits.
This admin route takes NDJSON, one "Create Product 202309" body per line, validates each
like a create (category, attributes, brand, SKUs, prices, stock, seller SKUs unique in the
shop) and stores it as if it had been created and approved long ago: status ACTIVATE, audit
APPROVED, SKU ids assigned. No webhook is sent (nothing happened "now"), the daily listing
cap is not charged and no rate limit applies (unsigned: the harness's control, not the API).
Image uris are taken as given (nothing needs uploading first).

Each line is decided on its own: a refused line is reported with its line number and
TikTok's code and message, the others are stored. The body is read as it arrives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from .envelope import ok
from .errors import ApiError
from .product_validation import validate_product
from .security import StateDep
from .snowflake import new_id
from .state import SandboxState

router = APIRouter(prefix="/sandbox/v1")

MAX_PROBLEMS = 100  # problems listed in the answer; every refused line is counted


async def _lines(request: Request) -> AsyncIterator[tuple[int, bytes]]:
    """(line number, line) of the NDJSON body, streamed; blank lines skipped."""
    rest = b""
    number = 0
    async for chunk in request.stream():
        rest += chunk
        *whole, rest = rest.split(b"\n")
        for line in whole:
            number += 1
            if line.strip():
                yield number, line
    if rest.strip():
        yield number + 1, rest


def seed_one(state: SandboxState, shop: dict[str, Any], body: Any) -> dict[str, Any]:
    """Validate one create body and store it live and approved; raises `ApiError`."""
    if not isinstance(body, dict):
        raise ApiError(36009004, "each line must be a JSON object (a Create Product body)")
    store = state.products
    with state.lock:
        spec, problems = validate_product(
            shop,
            body,
            lambda uri: True,  # images are taken as given
            lambda seller_sku: store.sku_owner.get((shop["id"], seller_sku)),
            brand_lookup=lambda brand_id: state.brands.find(shop["seller_id"], brand_id),
        )
        if problems:
            code, message = problems[0]
            raise ApiError(code, message)
        now = state.clock.now_int()
        product: dict[str, Any] = {
            "id": new_id(),
            "shop_id": shop["id"],
            "create_time": now,
            "status": "DRAFT",
            "audit_status": "NONE",
        }
        store._apply(product, spec, now)  # SKU ids, indexes; starts an audit we end at once
        store._pending.discard(product["id"])
        product.pop("audit_due", None)
        product["status"] = "ACTIVATE"
        product["audit_status"] = "APPROVED"
        store.products[product["id"]] = product
        store.by_shop.setdefault(shop["id"], {})[product["id"]] = product
        return product


@router.post("/shops/{shop_id}/products:bulk-seed")
async def bulk_seed(shop_id: str, request: Request, state: StateDep) -> Response:
    """NDJSON of Create Product bodies → live products; `{seeded, refused, problems,
    product_ids}` (`product_ids` in line order, only with `?ids=true`)."""
    shop = state.shop(shop_id)
    if shop is None:
        raise ApiError(36009004, "param shop_id is invalid")
    want_ids = request.query_params.get("ids", "").lower() in ("1", "true")
    seeded = refused = 0
    problems: list[dict[str, Any]] = []
    ids: list[str] = []
    async for number, line in _lines(request):
        try:
            try:
                body = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise ApiError(36009004, "the line is not valid JSON") from None
            product = seed_one(state, shop, body)
        except ApiError as exc:
            refused += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append({"line": number, "code": exc.code, "message": exc.message})
            continue
        seeded += 1
        if want_ids:
            ids.append(product["id"])
    data: dict[str, Any] = {"seeded": seeded, "refused": refused, "problems": problems}
    if want_ids:
        data["product_ids"] = ids
    return ok(data)

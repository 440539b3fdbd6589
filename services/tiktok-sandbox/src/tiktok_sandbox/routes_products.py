"""Product routes at 202309 and the newer versions (edit 202509, search 202312/202502)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile

from . import product_codes as C
from .envelope import ok
from .errors import ApiError
from .paging import decode_token, encode_token, page_size
from .product_images import inspect_image, new_uri
from .product_views import inventory_entry, product_detail, search_item, write_result
from .security import AppRequest, ShopRequest, StateDep, json_body

router = APIRouter()

SEARCH_STATUSES = frozenset(
    {
        "ALL",
        "DRAFT",
        "PENDING",
        "FAILED",
        "ACTIVATE",
        "SELLER_DEACTIVATED",
        "PLATFORM_DEACTIVATED",
        "FREEZE",
        "DELETED",
    }
)
SEARCH_CAP = 10_000


@router.post("/product/202309/images/upload")
async def upload_image(ctx: AppRequest, request: Request, state: StateDep) -> Response:
    form = await request.form()
    try:
        upload = form.get("data")
        use_case = str(form.get("use_case") or "MAIN_IMAGE")
        if not isinstance(upload, UploadFile):
            raise ApiError(C.PARAM_INVALID, "param data is missing")
        content = await upload.read()
    finally:
        await form.close()
    fmt, width, height = inspect_image(content, use_case)
    uri = new_uri()
    url = f"{str(request.base_url).rstrip('/')}/sandbox/v1/images/{uri}"
    record = {"uri": uri, "url": url, "width": width, "height": height, "use_case": use_case}
    state.products.add_image({**record, "format": fmt}, content)
    return ok(record)


@router.get("/sandbox/v1/images/{uri:path}")
async def image_content(uri: str, state: StateDep) -> Response:
    record = state.products.images.get(uri)
    if record is None or "content" not in record:
        raise ApiError(36009009, "Invalid path. The requested API path does not exist.", 404)
    return Response(record["content"], media_type=f"image/{record['format']}")


@router.post("/product/202309/products")
async def create_product(ctx: ShopRequest, request: Request, state: StateDep) -> Response:
    product = state.products.create(ctx.shop, await json_body(request))
    return ok(write_result(product))


async def edit_product(
    product_id: str, ctx: ShopRequest, request: Request, state: StateDep
) -> Response:
    product = state.products.edit(ctx.shop, product_id, await json_body(request), partial=False)
    return ok(write_result(product))


async def partial_edit_product(
    product_id: str, ctx: ShopRequest, request: Request, state: StateDep
) -> Response:
    product = state.products.edit(ctx.shop, product_id, await json_body(request), partial=True)
    return ok(write_result(product))


for _version in ("202309", "202509"):
    router.add_api_route(
        f"/product/{_version}/products/{{product_id}}", edit_product, methods=["PUT"]
    )
    router.add_api_route(
        f"/product/{_version}/products/{{product_id}}/partial_edit",
        partial_edit_product,
        methods=["POST"],
    )


def _bool_param(raw: str | None, name: str) -> bool:
    if raw is None or raw == "" or raw.lower() in ("false", "0"):
        return False
    if raw.lower() in ("true", "1"):
        return True
    raise ApiError(C.PARAM_INVALID, f"param {name} is invalid")


@router.get("/product/202309/products/{product_id}")
async def get_product(
    product_id: str, ctx: ShopRequest, request: Request, state: StateDep
) -> Response:
    """Get Product 202309: the live content; `return_under_review_version=true` returns the
    version under review instead (an edit of a live product, or a product PENDING its
    first audit), and 12052547 when there is none."""
    under_review = _bool_param(
        request.query_params.get("return_under_review_version"), "return_under_review_version"
    )
    state.products.advance(state.clock.now())
    with state.lock:
        product = state.products.require(ctx.shop_id, product_id)
        if under_review and not (product.get("revision") or product["status"] == "PENDING"):
            raise ApiError(C.NO_VERSION_UNDER_REVIEW, C.NO_VERSION_UNDER_REVIEW_MSG)
        return ok(product_detail(state.products, product, under_review=under_review))


def _time_filter(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(C.PARAM_INVALID, f"param body.{name} is invalid")
    return value


async def search_products(ctx: ShopRequest, request: Request, state: StateDep) -> Response:
    body = await json_body(request)
    size = page_size(request.query_params.get("page_size"), default=20)
    offset = decode_token("products", request.query_params.get("page_token"))
    if offset + size > SEARCH_CAP:
        raise ApiError(C.SEARCH_CAP, "Only the first 10,000 results can be retrieved.")
    status = str(body.get("status") or "ALL")
    if status not in SEARCH_STATUSES:
        raise ApiError(C.PARAM_INVALID, "param body.status is invalid")
    seller_skus = body.get("seller_skus") or []
    if not isinstance(seller_skus, list) or len(seller_skus) > 10:
        raise ApiError(C.PARAM_INVALID, "param body.seller_skus accepts at most 10 values")
    wanted_skus = {str(s) for s in seller_skus}
    bounds = {
        n: _time_filter(body, n)
        for n in ("create_time_ge", "create_time_le", "update_time_ge", "update_time_le")
    }
    state.products.advance(state.clock.now())
    with state.lock:
        matches = []
        candidates = state.products.shop_products(ctx.shop_id)
        if wanted_skus and status != "DELETED":
            # By the seller-SKU index, not a scan: a shop of 100,000 listings searched once
            # per product (an adopt run) would otherwise be quadratic. Deleted products are
            # not indexed; the filters below still decide.
            owners = state.products.sku_owner
            ids = {owners.get((ctx.shop_id, s)) for s in wanted_skus}
            candidates = [state.products.products[i] for i in ids if i is not None]
        for p in candidates:
            if status == "ALL" and p["status"] == "DELETED":
                continue
            if status != "ALL" and p["status"] != status:
                continue
            if wanted_skus and not wanted_skus & {s["seller_sku"] for s in p["skus"]}:
                continue
            if not _in_bounds(p, bounds):
                continue
            matches.append(p)
        # Newest first; ids are time-ordered, so the order is stable across pages.
        matches.sort(key=lambda p: int(p["id"]), reverse=True)
        page = [search_item(p, ctx.shop["region"]) for p in matches[offset : offset + size]]
    more = offset + size < len(matches)
    return ok(
        {
            "products": page,
            "total_count": len(matches),
            "next_page_token": encode_token("products", offset + size) if more else "",
        }
    )


def _in_bounds(product: dict[str, Any], b: dict[str, int | None]) -> bool:
    ct, ut = product["create_time"], product["update_time"]
    return not (
        (b["create_time_ge"] is not None and ct < b["create_time_ge"])
        or (b["create_time_le"] is not None and ct > b["create_time_le"])
        or (b["update_time_ge"] is not None and ut < b["update_time_ge"])
        or (b["update_time_le"] is not None and ut > b["update_time_le"])
    )


for _version in ("202309", "202312", "202502"):
    router.add_api_route(f"/product/{_version}/products/search", search_products, methods=["POST"])


def _product_ids(body: dict[str, Any]) -> list[str]:
    ids = body.get("product_ids")
    if not isinstance(ids, list) or not 1 <= len(ids) <= 20:
        raise ApiError(C.PARAM_INVALID, "param body.product_ids must hold 1 to 20 ids")
    return [str(i) for i in ids]


def _batch(action: str) -> Any:
    async def handler(ctx: ShopRequest, request: Request, state: StateDep) -> Response:
        ids = _product_ids(await json_body(request))
        return ok({"errors": state.products.batch(ctx.shop_id, action, ids)})

    handler.__name__ = f"{action}_products"
    return handler


router.add_api_route("/product/202309/products", _batch("delete"), methods=["DELETE"])
for _action in ("activate", "deactivate", "recover"):
    router.add_api_route(f"/product/202309/products/{_action}", _batch(_action), methods=["POST"])


@router.post("/product/202309/products/listing_check")
async def listing_check(ctx: ShopRequest, request: Request, state: StateDep) -> Response:
    problems = state.products.check(ctx.shop, await json_body(request))
    reasons: dict[int, list[str]] = {}
    for code, message in problems:
        reasons.setdefault(code, []).append(message)
    return ok(
        {
            "check_result": "FAILED" if problems else "PASS",
            "fail_reasons": [{"code": c, "reasons": r} for c, r in reasons.items()],
            "warnings": [],
        }
    )


def _skus_body(body: dict[str, Any]) -> list[Any]:
    skus = body.get("skus")
    if not isinstance(skus, list) or not skus:
        raise ApiError(C.PARAM_INVALID, "param body.skus is missing")
    return skus


@router.post("/product/202309/products/{product_id}/prices/update")
async def update_price(
    product_id: str, ctx: ShopRequest, request: Request, state: StateDep
) -> Response:
    state.products.update_prices(ctx.shop, product_id, _skus_body(await json_body(request)))
    return ok({})


@router.post("/product/202309/products/{product_id}/inventory/update")
async def update_inventory(
    product_id: str, ctx: ShopRequest, request: Request, state: StateDep
) -> Response:
    skus = _skus_body(await json_body(request))
    errors = state.products.update_inventory(ctx.shop, product_id, skus)
    return ok({"errors": errors} if errors else {})


def _id_list(body: dict[str, Any], name: str) -> list[str]:
    """An optional list of ids (strings or numbers); any other shape is a param error."""
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(i, (str, int)) and not isinstance(i, bool) for i in value
    ):
        raise ApiError(C.PARAM_INVALID, f"param body.{name} is invalid: a list of ids")
    return [str(i) for i in value]


@router.post("/product/202309/inventory/search")
async def inventory_search(ctx: ShopRequest, request: Request, state: StateDep) -> Response:
    body = await json_body(request)
    product_ids, sku_ids = _id_list(body, "product_ids"), _id_list(body, "sku_ids")
    if not product_ids and not sku_ids:
        raise ApiError(C.PARAM_INVALID, "param body.product_ids or body.sku_ids is required")
    store = state.products
    out = []
    with state.lock:
        if product_ids:
            for pid in product_ids:
                product = store.products.get(str(pid))
                if product is not None and product["shop_id"] == ctx.shop_id:
                    out.append(inventory_entry(product))
        else:
            wanted = set(sku_ids)
            by_product: dict[str, set[str]] = {}
            for sid in wanted:
                entry = store.skus.get(sid)
                if entry is not None and store.products[entry[0]]["shop_id"] == ctx.shop_id:
                    by_product.setdefault(entry[0], set()).add(sid)
            for pid, sids in by_product.items():
                out.append(inventory_entry(store.products[pid], sids))
    return ok({"inventory": out})

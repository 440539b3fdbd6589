"""Catalogue reads: categories, attributes, rules, brands, recommend category."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response

from .catalog_attributes import attributes_for, rules_for
from .catalog_seed import Category, CategoryTree, catalog, tree_for_shop
from .envelope import ok
from .errors import ApiError
from .paging import decode_token, encode_token, page_size
from .security import AppRequest, ShopRequest, StateDep, json_body

router = APIRouter()

CATEGORY_NOT_FOUND = (12052023, "Category does not exist.")
CATEGORY_NOT_LEAF = (12052024, "Category is not final category.")
NO_RECOMMENDATION = (12019064, "No category can be recommended for this product.")


def leaf_or_error(tree: CategoryTree, category_id: str) -> Category:
    cat = tree.get(category_id)
    if cat is None:
        raise ApiError(*CATEGORY_NOT_FOUND)
    if not cat.is_leaf:
        raise ApiError(*CATEGORY_NOT_LEAF)
    return cat


@router.get("/product/202309/categories")
async def get_categories(ctx: ShopRequest, request: Request) -> Response:
    q = request.query_params
    tree = tree_for_shop(ctx.shop, q.get("category_version"))
    return ok({"categories": [c.public() for c in tree.search(q.get("keyword"))]})


@router.get("/product/202309/categories/{category_id}/attributes")
async def get_attributes(category_id: str, ctx: ShopRequest, request: Request) -> Response:
    tree = tree_for_shop(ctx.shop, request.query_params.get("category_version"))
    return ok({"attributes": attributes_for(leaf_or_error(tree, category_id))})


@router.get("/product/202309/categories/{category_id}/rules")
async def get_rules(category_id: str, ctx: ShopRequest, request: Request) -> Response:
    version = request.query_params.get("category_version")
    if version:
        return ok(rules_for(leaf_or_error(tree_for_shop(ctx.shop, version), category_id)))
    # Rules do not depend on the version: without one, any tree of the shop's market.
    trees = catalog().market_trees(ctx.shop["market"])
    tree = next((t for t in trees if t.get(category_id) is not None), trees[0])
    return ok(rules_for(leaf_or_error(tree, category_id)))


def _flag(raw: str | None) -> bool | None:
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise ApiError(36009004, "param is_authorized is invalid")


@router.get("/product/202309/brands")
async def get_brands(ctx: ShopRequest, request: Request, state: StateDep) -> Response:
    q = request.query_params
    size = page_size(q.get("page_size"))
    offset = decode_token("brands", q.get("page_token"))
    if q.get("category_id"):
        trees = catalog().market_trees(ctx.shop["market"])
        if all(t.get(q["category_id"]) is None for t in trees):
            raise ApiError(*CATEGORY_NOT_FOUND)
    authorized = _flag(q.get("is_authorized"))
    name = (q.get("brand_name") or "").lower()
    brands = [
        b
        for b in state.brands.for_seller(ctx.seller_id)
        if (authorized is None or (b["authorized_status"] == "AUTHORIZED") == authorized)
        and (not name or name in b["name"].lower())
    ]
    page = brands[offset : offset + size]
    more = offset + size < len(brands)
    return ok(
        {
            "brands": page,
            "total_count": len(brands),
            "next_page_token": encode_token("brands", offset + size) if more else "",
        }
    )


@router.post("/product/202309/brands")
async def create_custom_brand(ctx: AppRequest, request: Request, state: StateDep) -> Response:
    """Create Custom Brands 202309: no shop_cipher, `{"name"}` -> `data.id`."""
    body = await json_body(request)
    return ok({"id": state.brands.create(ctx.seller_id, body.get("name"))["id"]})


def _words(text: str) -> set[str]:
    # Crude singularisation so "Sofas" matches "sofa" and "Necklaces" matches "necklace".
    return {
        w[:-1] if len(w) > 3 and w.endswith("s") else w for w in re.findall(r"[a-z]+", text.lower())
    }


@router.post("/product/202309/categories/recommend")
async def recommend_category(ctx: ShopRequest, request: Request) -> Response:
    body = await json_body(request)
    title = body.get("product_title")
    if not isinstance(title, str) or not title.strip():
        raise ApiError(36009004, "param body.product_title is missing")
    # Omitted = v1, TikTok's default; US shops must send v2 (12052217), as for categories.
    version = body.get("category_version")
    tree = tree_for_shop(ctx.shop, str(version) if version else None)
    wanted = _words(title + " " + str(body.get("description") or ""))
    best: tuple[int, int, str] | None = None
    best_leaf: Category | None = None
    for leaf in tree.leaves():
        leaf_score = len(_words(leaf.local_name) & wanted)
        if not leaf_score:
            continue
        path_score = len(_words(" ".join(leaf.path)) & wanted)
        # The leaf name dominates; the path breaks ties; the id keeps it deterministic.
        key = (leaf_score, path_score, leaf.id)
        if best is None or key > best:
            best, best_leaf = key, leaf
    if best_leaf is None:
        raise ApiError(*NO_RECOMMENDATION)
    chain = [
        {
            "id": c.id,
            "name": c.local_name,
            "level": c.level,
            "is_leaf": c.is_leaf,
            "permission_statuses": list(c.permission_statuses),
        }
        for c in tree.chain(best_leaf.id)
    ]
    return ok({"leaf_category_id": best_leaf.id, "categories": chain})

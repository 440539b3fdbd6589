"""Stored products rendered in the API's response shapes.

Shapes from TikTok's "Create Product 202309" and "Get Product 202309" pages.
"""

from __future__ import annotations

from typing import Any

from .catalog_seed import catalog


def _image(store: Any, uri: str) -> dict[str, Any]:
    record = store.images.get(uri, {})
    url = record.get("url", "")
    return {
        "uri": uri,
        "urls": [url] if url else [],
        "thumb_urls": [url] if url else [],
        "width": record.get("width", 0),
        "height": record.get("height", 0),
    }


def _price(sku: dict[str, Any]) -> dict[str, str]:
    price = sku.get("price") or {}
    amount = price.get("amount", "")
    return {
        "tax_exclusive_price": amount,
        "sale_price": amount,
        "currency": price.get("currency", ""),
    }


def latest(product: dict[str, Any]) -> dict[str, Any]:
    """The newest submitted content: the version under review of a live product, or its own.

    A live (ACTIVATE) product that is edited keeps selling its approved content while the
    edit is audited ("Edit Product 202309"; "Get Product 202309",
    `return_under_review_version`): that edit is `product["revision"]`, `{spec, skus}`.
    """
    revision: dict[str, Any] | None = product.get("revision")
    return revision if revision is not None else product


def _skus(version: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for sku in version["skus"]:
        entry: dict[str, Any] = {
            "id": sku["id"],
            "seller_sku": sku["seller_sku"],
            "price": _price(sku),
            "inventory": [dict(i) for i in sku["inventory"]],
            "sales_attributes": [dict(a) for a in sku["sales_attributes"]],
            "external_sku_id": sku["external_sku_id"],
        }
        if sku.get("identifier_code"):
            entry["identifier_code"] = sku["identifier_code"]
        out.append(entry)
    return out


def product_detail(
    store: Any, product: dict[str, Any], under_review: bool = False
) -> dict[str, Any]:
    """`GET /product/{v}/products/{id}` data: the live content, or with `under_review` the
    version under review (`return_under_review_version=true`). Status and audit are the
    product's either way: a live product under re-review stays ACTIVATE, audit AUDITING."""
    version = latest(product) if under_review else product
    spec = version["spec"]
    shop = store.state.shops[product["shop_id"]]
    tree = (
        catalog().tree(shop["market"], spec["category_version"]) or catalog().trees[shop["market"]]
    )
    brand = store.state.brands.find(shop["seller_id"], spec["brand_id"] or "")
    data: dict[str, Any] = {
        "id": product["id"],
        "status": product["status"],
        "title": spec["title"],
        "description": spec["description"],
        "category_chains": [
            {"id": c.id, "parent_id": c.parent_id, "local_name": c.local_name, "is_leaf": c.is_leaf}
            for c in tree.chain(spec["category_id"])
        ],
        "main_images": [_image(store, u) for u in spec["main_images"]],
        "skus": _skus(version),
        "product_attributes": [dict(a) for a in spec["product_attributes"]],
        "create_time": product["create_time"],
        "update_time": product["update_time"],
        "audit": {"status": product["audit_status"]},
        "is_not_for_sale": bool(spec["extras"].get("is_not_for_sale", False)),
    }
    if product.get("audit_failed_reasons"):
        data["audit_failed_reasons"] = [dict(r) for r in product["audit_failed_reasons"]]
    if brand:
        data["brand"] = {"id": brand["id"], "name": brand["name"]}
    for key in ("package_weight", "package_dimensions"):
        if spec.get(key):
            data[key] = spec[key]
    for key, value in spec["extras"].items():
        data.setdefault(key, value)
    return data


def search_item(product: dict[str, Any], region: str) -> dict[str, Any]:
    """One `data.products[]` entry of product search."""
    return {
        "id": product["id"],
        "title": product["spec"]["title"],
        "status": product["status"],
        "skus": [
            {
                "id": s["id"],
                "seller_sku": s["seller_sku"],
                "price": {k: v for k, v in _price(s).items() if k != "sale_price"},
                "inventory": [dict(i) for i in s["inventory"]],
            }
            for s in product["skus"]
        ],
        "sales_regions": [region],
        "create_time": product["create_time"],
        "update_time": product["update_time"],
        "audit": {"status": product["audit_status"]},
        "is_not_for_sale": bool(product["spec"]["extras"].get("is_not_for_sale", False)),
    }


def write_result(product: dict[str, Any]) -> dict[str, Any]:
    """Create/edit response data: ids of the product and of each SKU it was sent with."""
    version = latest(product)
    return {
        "product_id": product["id"],
        "skus": [
            {
                "id": s["id"],
                "seller_sku": s["seller_sku"],
                "external_sku_id": s["external_sku_id"],
                "sales_attributes": [
                    {"id": a["id"], "value_id": a["value_id"]} for a in s["sales_attributes"]
                ],
            }
            for s in version["skus"]
        ],
        "warnings": [],
    }


def inventory_entry(product: dict[str, Any], sku_ids: set[str] | None = None) -> dict[str, Any]:
    skus = []
    for s in product["skus"]:
        if sku_ids is not None and s["id"] not in sku_ids:
            continue
        total = sum(i["quantity"] for i in s["inventory"])
        skus.append(
            {
                "id": s["id"],
                "seller_sku": s["seller_sku"],
                "total_available_quantity": total,
                "total_committed_quantity": 0,
                "warehouse_inventory": [
                    {
                        "warehouse_id": i["warehouse_id"],
                        "available_quantity": i["quantity"],
                        "committed_quantity": 0,
                    }
                    for i in s["inventory"]
                ],
            }
        )
    return {"product_id": product["id"], "skus": skus}


def as_input(product: dict[str, Any]) -> dict[str, Any]:
    """The newest content of a product back in create-body form (the base of a partial
    edit: an edit made while another is under review builds on the one under review)."""
    version = latest(product)
    spec = version["spec"]
    body: dict[str, Any] = {
        "save_mode": "AS_DRAFT" if product["status"] == "DRAFT" else "LISTING",
        "title": spec["title"],
        "description": spec["description"],
        "category_id": spec["category_id"],
        "category_version": spec["category_version"],
        "main_images": [{"uri": u} for u in spec["main_images"]],
        "product_attributes": spec["product_attributes"],
        "skus": [
            {
                "id": s["id"],
                "seller_sku": s["seller_sku"],
                "external_sku_id": s["external_sku_id"],
                "sales_attributes": s["sales_attributes"],
                "price": s["price"],
                "inventory": s["inventory"],
                "identifier_code": s["identifier_code"],
            }
            for s in version["skus"]
        ],
        **spec["extras"],
    }
    for key in ("brand_id", "package_weight", "package_dimensions"):
        if spec.get(key):
            body[key] = spec[key]
    return body

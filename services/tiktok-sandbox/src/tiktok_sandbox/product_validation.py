"""Create/edit product validation: the rules of docs/sandbox.md ("Validation").

Limits (title, SKUs, images, stock...) are those of TikTok's "Create Product 202309".

`validate_product` returns the normalised spec the store keeps, plus every problem
found as `(code, message)`: create/edit fail on the first, listing_check reports all.
Pure functions of (shop, body, lookups): unit-testable without HTTP.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from . import product_codes as C
from .catalog_attributes import attributes_for
from .catalog_seed import Category, catalog
from .logistics_seed import warehouse_ids

ALLOWED_TAGS = frozenset({"p", "img", "ul", "ol", "li", "br", "strong", "b", "i", "em", "u"})
TAG_RE = re.compile(r"<\s*/?\s*([a-zA-Z][a-zA-Z0-9]*)")
# CJK ideographs (unified, extension A, compatibility): "no Chinese" in titles and brand names.
CHINESE_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
PRICE_LIMITS = {
    "US": ("USD", Decimal("0.01"), Decimal("7600")),
    "UK": ("GBP", Decimal("0.01"), Decimal("5600")),
}
IDENTIFIER_LENGTHS = {"GTIN": {14}, "EAN": {8, 13, 14}, "UPC": {12}, "ISBN": {13}}
UNIT_PAIRS = {"KILOGRAM": "CENTIMETER", "POUND": "INCH"}
MAX_STOCK = 999_999


@dataclass
class Problems:
    items: list[tuple[int, str]] = field(default_factory=list)

    def add(self, code: int, message: str) -> None:
        self.items.append((code, message))


def stable_value_id(*parts: str) -> str:
    """Id for a custom (seller-typed) attribute name or value: same text, same id."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return str(7_000_000_000_000_000_000 + int.from_bytes(digest, "big") % 10**18)


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def normal_version(version: Any) -> str:
    """`category_version` as stored: lower case, v1 when omitted (TikTok's default)."""
    return (str(version) if version else "v1").lower()


def resolve_category(
    shop: dict[str, Any], category_id: str, version: str | None, p: Problems
) -> Category | None:
    market = shop["market"]
    # v1 is TikTok's default for every market ("Get Categories 202309"): a US body without
    # `category_version` is a v1 body and fails like an explicit v1 (12052217).
    version = normal_version(version)
    if version not in ("v1", "v2"):
        p.add(C.PARAM_INVALID, "param category_version is invalid")
        return None
    tree = catalog().tree(market, version)
    if tree is None:
        p.add(C.CATEGORY_VERSION_US_V2, "US shops must use category_version v2.")
        return None
    cat = tree.get(category_id)
    if cat is None:
        # An id of the other version's tree (a UK v1 id sent as v2, a v2 id sent as v1).
        if catalog().other_versions_have(market, version, category_id):
            p.add(C.CATEGORY_VERSION_MISMATCH, "Category version and categoryID are not matched.")
        else:
            p.add(C.CATEGORY_NOT_FOUND, f"Category [{category_id}] does not exist.")
        return None
    if not cat.is_leaf:
        p.add(C.CATEGORY_NOT_LEAF, "Category is not final category.")
        return None
    if cat.invite_only:
        p.add(
            C.CATEGORY_NO_PERMISSION,
            f"No permission to list in category [{category_id}] (INVITE_ONLY).",
        )
    return cat


BrandLookup = Callable[[str], "dict[str, Any] | None"]


def _check_brand(brand_id: str, lookup: BrandLookup, p: Problems) -> None:
    brand = lookup(brand_id)
    if brand is None or brand["brand_status"] != "AVAILABLE":
        p.add(C.BRAND_NOT_FOUND, f"Brand [{brand_id}] does not exist.")
    elif brand["authorized_status"] != "AUTHORIZED":
        p.add(C.BRAND_UNAUTHORIZED, f"Brand [{brand_id}] is not authorized for this shop.")


def _check_description(desc: str, listing: bool, p: Problems) -> None:
    if not desc.strip():
        if listing:
            p.add(C.DESCRIPTION_REQUIRED, "The description is required.")
        return
    if len(desc) > 10_000:
        p.add(C.DESCRIPTION_INVALID, "The description cannot exceed 10000 characters.")
    bad = sorted({t.lower() for t in TAG_RE.findall(desc)} - ALLOWED_TAGS)
    if bad:
        p.add(
            C.DESCRIPTION_INVALID,
            f"The description contains unsupported HTML tags: {', '.join(bad)}.",
        )


def _check_images(
    images: Any, listing: bool, known: Callable[[str], bool], p: Problems
) -> list[str]:
    uris = (
        [_str(i.get("uri")) for i in images if isinstance(i, dict)]
        if isinstance(images, list)
        else []
    )
    if not uris and listing:
        p.add(C.MAIN_IMAGE_REQUIRED, "At least one main image is required.")
    if len(uris) > 9:
        p.add(C.MAIN_IMAGE_TOO_MANY, "A product can have at most 9 main images.")
    for uri in uris:
        if not known(uri):
            p.add(C.IMAGE_NOT_UPLOADED, f"The image [{uri}] was not uploaded.")
    return uris


def _match_value(attr: dict[str, Any], value: dict[str, Any]) -> dict[str, str] | None:
    """A predefined value by id (the id wins) or by name, else a custom value if allowed."""
    vid, vname = _str(value.get("id")), _str(value.get("name"))
    if vid and attr["is_customizable"] and vname and vid == stable_value_id(attr["id"], vname):
        return {"id": vid, "name": vname}  # a custom value echoed back (e.g. partial edit)
    if vid:
        return next(
            ({"id": v["id"], "name": v["name"]} for v in attr["values"] if v["id"] == vid), None
        )
    known = next((v for v in attr["values"] if v["name"].lower() == vname.lower()), None)
    if known:
        return {"id": known["id"], "name": known["name"]}
    if attr["is_customizable"] and 0 < len(vname) <= 500:
        return {"id": stable_value_id(attr["id"], vname), "name": vname}
    return None


def check_product_attributes(
    cat: Category, given: Any, listing: bool, p: Problems
) -> list[dict[str, Any]]:
    attrs = {a["id"]: a for a in attributes_for(cat) if a["type"] == "PRODUCT_PROPERTY"}
    out: list[dict[str, Any]] = []
    chosen: dict[str, set[str]] = {}
    for item in given if isinstance(given, list) else []:
        attr = attrs.get(_str(item.get("id")) if isinstance(item, dict) else "")
        if attr is None:
            p.add(
                C.ATTRIBUTE_INVALID,
                f"The attribute [{_str(item.get('id') if isinstance(item, dict) else item)}] does not belong to the category.",
            )
            continue
        values = item.get("values") or []
        matched = [_match_value(attr, v) for v in values if isinstance(v, dict)]
        if not values or any(m is None for m in matched):
            p.add(C.ATTRIBUTE_INVALID, f"The value of attribute [{attr['name']}] is invalid.")
            continue
        if len(matched) > 1 and not attr.get("is_multiple_selection"):
            p.add(C.ATTRIBUTE_INVALID, f"The attribute [{attr['name']}] accepts one value.")
            continue
        clean = [m for m in matched if m is not None]
        chosen[attr["id"]] = {m["id"] for m in clean}
        out.append({"id": attr["id"], "name": attr["name"], "values": clean})
    if listing:
        for attr in attrs.values():
            required = attr["is_requried"] or any(
                c["attribute_value_id"] in chosen.get(c["attribute_id"], set())
                for c in attr.get("requirement_conditions", [])
            )
            if required and attr["id"] not in chosen:
                p.add(C.ATTRIBUTE_REQUIRED, f"The attribute [{attr['name']}] is required.")
    return out


def _check_sales_attributes(cat: Category, given: Any, p: Problems) -> list[dict[str, Any]]:
    sales = {a["id"]: a for a in attributes_for(cat) if a["type"] == "SALES_PROPERTY"}
    by_name = {a["name"].lower(): a for a in sales.values()}
    out = []
    for item in given if isinstance(given, list) else []:
        if not isinstance(item, dict):
            p.add(C.SALES_ATTRIBUTE_INVALID, "A sales attribute must be an object.")
            continue
        aid, name = _str(item.get("id")), _str(item.get("name"))
        attr = sales.get(aid) if aid else by_name.get(name.lower())
        if aid and attr is None:
            p.add(C.SALES_ATTRIBUTE_INVALID, f"The sales attribute [{aid}] does not exist.")
            continue
        if attr is None and not 1 <= len(name) <= 20:
            p.add(C.SALES_ATTRIBUTE_INVALID, "A sales attribute name must be 1-20 characters.")
            continue
        vid, vname = _str(item.get("value_id")), _str(item.get("value_name"))
        value: dict[str, str] | None = None
        if attr is not None:
            value = _match_value(attr, {"id": vid, "name": vname})
        elif 0 < len(vname) <= 50:
            value = {"id": stable_value_id(name, vname), "name": vname}
        if value is None or len(value["name"]) > 50:
            p.add(
                C.SALES_ATTRIBUTE_INVALID, f"The sales attribute value [{vid or vname}] is invalid."
            )
            continue
        attr_id = attr["id"] if attr else stable_value_id(name)
        attr_name = attr["name"] if attr else name
        entry = {
            "id": attr_id,
            "name": attr_name,
            "value_id": value["id"],
            "value_name": value["name"],
        }
        if isinstance(item.get("sku_img"), dict):
            entry["sku_img"] = {"uri": _str(item["sku_img"].get("uri"))}
        out.append(entry)
    if len({a["id"] for a in out}) > 3:
        p.add(C.SALES_ATTRIBUTE_INVALID, "A product can have at most 3 variation levels.")
    return out


def check_price(shop: dict[str, Any], price: Any, p: Problems) -> dict[str, str] | None:
    currency, low, high = PRICE_LIMITS[shop["market"]]
    if not isinstance(price, dict) or not isinstance(price.get("amount"), str):
        p.add(C.PRICE_INVALID, "price.amount is required as a decimal string.")
        return None
    try:
        amount = Decimal(price["amount"])
    except InvalidOperation:
        p.add(C.PRICE_INVALID, f"price.amount [{price['amount']}] is not a decimal.")
        return None
    if price.get("currency") != currency:
        p.add(C.CURRENCY_INVALID, f"The currency must be {currency} in this market.")
    if not amount.is_finite() or not low <= amount <= high:
        p.add(C.PRICE_INVALID, f"The price must be between {low} and {high} {currency}.")
    return {"amount": price["amount"], "currency": currency}


def check_inventory(shop: dict[str, Any], inventory: Any, p: Problems) -> list[dict[str, Any]]:
    valid = set(warehouse_ids(shop["region"]))
    out = []
    for inv in inventory if isinstance(inventory, list) else []:
        wid = _str(inv.get("warehouse_id")) if isinstance(inv, dict) else ""
        qty = inv.get("quantity") if isinstance(inv, dict) else None
        if wid not in valid:
            p.add(C.WAREHOUSE_NOT_FOUND, f"Warehouse [{wid}] does not exist.")
            continue
        if not isinstance(qty, int) or isinstance(qty, bool) or not 0 <= qty <= MAX_STOCK:
            p.add(C.STOCK_OUT_OF_RANGE, f"The stock must be an integer from 0 to {MAX_STOCK}.")
            continue
        out.append({"warehouse_id": wid, "quantity": qty})
    return out


def _check_package(shop: dict[str, Any], body: dict[str, Any], listing: bool, p: Problems) -> None:
    weight, dims = body.get("package_weight"), body.get("package_dimensions")
    if not isinstance(weight, dict):
        if listing:
            p.add(C.PACKAGE_WEIGHT_REQUIRED, "package_weight is required.")
        # No weight to pair with (a draft): the dimension unit alone must still be
        # a known one, and INCH is US only like POUND.
        dims_unit = dims.get("unit") if isinstance(dims, dict) else None
        if dims_unit is not None and (
            dims_unit not in UNIT_PAIRS.values() or (dims_unit == "INCH" and shop["market"] != "US")
        ):
            p.add(
                C.PACKAGE_UNIT_INVALID,
                f"package_dimensions.unit [{dims_unit}] is not allowed here.",
            )
        return
    unit = weight.get("unit")
    if unit not in UNIT_PAIRS or (unit == "POUND" and shop["market"] != "US"):
        p.add(C.PACKAGE_UNIT_INVALID, f"package_weight.unit [{unit}] is not allowed here.")
    try:
        if Decimal(_str(weight.get("value"))) <= 0:
            raise InvalidOperation
    except InvalidOperation:
        p.add(C.PACKAGE_UNIT_INVALID, "package_weight.value must be a positive decimal string.")
    if isinstance(dims, dict) and dims.get("unit") != UNIT_PAIRS.get(unit or ""):
        p.add(
            C.PACKAGE_UNIT_INVALID, "Units must pair up: CENTIMETER with KILOGRAM, INCH with POUND."
        )


def _check_identifier(code: Any, p: Problems) -> None:
    if not isinstance(code, dict):
        return
    value, kind = _str(code.get("code")), _str(code.get("type"))
    if (
        kind not in IDENTIFIER_LENGTHS
        or not value.isdigit()
        or len(value) not in IDENTIFIER_LENGTHS[kind]
    ):
        p.add(C.IDENTIFIER_INVALID, f"The identifier code is not a valid {kind or 'code'}.")


def validate_product(
    shop: dict[str, Any],
    body: dict[str, Any],
    image_known: Callable[[str], bool],
    sku_owner: Callable[[str], str | None],
    product_id: str | None = None,
    brand_lookup: BrandLookup | None = None,
) -> tuple[dict[str, Any], list[tuple[int, str]]]:
    """Normalise and check a create/edit body; `sku_owner(seller_sku)` -> owning product id.

    `brand_lookup(brand_id)` finds a brand the shop may name (default: the catalogue's).
    """
    p = Problems()
    listing = body.get("save_mode", "LISTING") != "AS_DRAFT"
    title = _str(body.get("title"))
    if not 1 <= len(title) <= 255:
        p.add(C.TITLE_LENGTH, "The product title must be 1-255 characters.")
    elif CHINESE_RE.search(title):
        p.add(C.TITLE_LENGTH, "Chinese characters are not allowed in the product title.")
    _check_description(_str(body.get("description")), listing, p)
    cat = resolve_category(shop, _str(body.get("category_id")), body.get("category_version"), p)
    if body.get("brand_id"):
        _check_brand(_str(body["brand_id"]), brand_lookup or catalog().brands_by_id.get, p)
    images = _check_images(body.get("main_images"), listing, image_known, p)
    raw_skus = body.get("skus")
    skus_in: list[Any] = raw_skus if isinstance(raw_skus, list) else []
    if not skus_in:
        p.add(C.SKU_REQUIRED, "At least one SKU is required.")
    if len(skus_in) > 100:
        p.add(C.SKU_TOO_MANY, "A single product cannot have more than 100 different SKUs.")
    skus: list[dict[str, Any]] = []
    seen: set[str] = set()
    for raw in skus_in:
        sku = raw if isinstance(raw, dict) else {}
        seller_sku = _str(sku.get("seller_sku"))
        if len(seller_sku) > 50:
            p.add(
                C.SELLER_SKU_TOO_LONG,
                f"The seller SKU [{seller_sku[:50]}...] exceeds 50 characters.",
            )
        elif seller_sku and (seller_sku in seen or sku_owner(seller_sku) not in (None, product_id)):
            p.add(C.SELLER_SKU_DUPLICATE, f"The seller SKU [{seller_sku}] already exists.")
        seen.add(seller_sku)
        _check_identifier(sku.get("identifier_code"), p)
        skus.append(
            {
                "id": _str(sku.get("id")) or None,
                "seller_sku": seller_sku,
                "external_sku_id": _str(sku.get("external_sku_id")),
                "sales_attributes": _check_sales_attributes(cat, sku.get("sales_attributes"), p)
                if cat
                else [],
                "price": check_price(shop, sku.get("price"), p),
                "inventory": check_inventory(shop, sku.get("inventory"), p),
                "identifier_code": sku.get("identifier_code"),
            }
        )
    combos = [tuple(a["value_id"] for a in s["sales_attributes"]) for s in skus]
    if len(skus) > 1 and len(set(combos)) != len(combos):
        p.add(
            C.SALES_ATTRIBUTE_INVALID, "Each SKU needs a distinct combination of sales attributes."
        )
    attrs = check_product_attributes(cat, body.get("product_attributes"), listing, p) if cat else []
    _check_package(shop, body, listing, p)
    spec = {
        "save_mode": "LISTING" if listing else "AS_DRAFT",
        "title": title,
        "description": _str(body.get("description")),
        "category_id": cat.id if cat else _str(body.get("category_id")),
        "category_version": normal_version(body.get("category_version")),
        "brand_id": _str(body.get("brand_id")) or None,
        "main_images": images,
        "skus": skus,
        "product_attributes": attrs,
        "package_weight": body.get("package_weight"),
        "package_dimensions": body.get("package_dimensions"),
        "extras": {k: body[k] for k in PASS_THROUGH if k in body},
    }
    return spec, p.items


# Accepted and echoed back, not validated beyond JSON types.
PASS_THROUGH = (
    "video",
    "size_chart",
    "certifications",
    "is_cod_allowed",
    "delivery_option_ids",
    "external_product_id",
    "is_not_for_sale",
    "manufacturer_ids",
    "responsible_person_ids",
)

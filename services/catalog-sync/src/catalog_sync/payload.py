"""The delta export's payload builder: one product's export rows -> the TikTok request body
and the hashes the delta compares (docs/feeds.md, "Payload").

`build_product(rows, market=..., warehouse_id=..., images=...)` takes the merged variant
rows of one parent (`dataflow.group_variants`, main first) and returns a `BuiltProduct`:

- `document`: the "Create Product 202309" / "Edit Product 202509" body as plain JSON
  values, canonical (decimals normalised, product attributes by id, sales attributes by
  name, inventory by warehouse; SKUs and images keep the feed's order, which TikTok shows).
  `to_input(sku_ids)` turns it into the client's `ProductInput` (with the TikTok SKU ids an
  edit needs); `price_update` / `inventory_update` build "Update Price 202309" and "Update
  Inventory 202309" bodies;
- `content_hash` (everything but prices and stock: a change means an edit), per SKU
  (`skus[seller_sku]`) `price_hash` and `inventory_hash` (a change means only a price or
  stock update), and `seller_skus` (a removed variant means an edit without that SKU).
  Hashes are BLAKE2b of sorted-key JSON of strings and integers: the same on every run and
  in every process, whatever the rows' key order or the way a number was written;
- `errors`: what TikTok would refuse, as (attribute, message, product_id) — bad data never
  raises; `warnings`: what was adjusted (images beyond 9, negative stock sent as 0...).

`diff(old, new)` lists the field-level changes between two documents for the dry run.

Pure: no database, no HTTP. Images are resolved beforehand (`payload_images`). Limits are
those of "Create Product 202309" (as `readiness` checks them and the sandbox enforces them).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from tiktok_shop.models.products import (
    InventoryInput,
    Price,
    ProductInput,
    SkuInventoryUpdate,
    SkuPriceUpdate,
    UpdateInventoryRequest,
    UpdatePriceRequest,
)

from catalog_sync import naming as N
from catalog_sync.classify import (
    CUSTOM_VALUE_MAX,
    DESCRIPTION_MAX,
    DIMENSION_UNITS,
    IDENTIFIER_TYPES,
    MAX_SKUS,
    MAX_STOCK,
    PRICE_RANGES,
    SALES_NAME_MAX,
    SALES_VALUE_MAX,
    SELLER_SKU_MAX,
    TITLE_MAX,
    WEIGHT_UNITS,
)
from catalog_sync.payload_images import (
    SKU_QUANTITY_PREFIX,
    ImageResolver,
    ImageUseCase,
    SkuCells,
    main_image_urls,
    sku_cells,
)
from catalog_sync.readiness_checks import ALLOWED_TAGS
from catalog_sync.rules import RuleContext, StripHtml
from catalog_sync.taxonomy import category_version

# Bumped whenever the builder's output for the same rows changes: products skipped as in sync
# (catalog_sync.runs) are then evaluated again.
PAYLOAD_VERSION = 1

# "Create Product 202309": units pair up, KILOGRAM with CENTIMETER, POUND with INCH.
UNIT_PAIRS = {"KILOGRAM": "CENTIMETER", "POUND": "INCH"}
# Digits per identifier type ("Create Product 202309" identifier_code).
IDENTIFIER_LENGTHS = {"GTIN": (14,), "EAN": (8, 13, 14), "UPC": (12,), "ISBN": (13,)}
# The type of a code given without `sku.gtin_type`, by its length.
IDENTIFIER_BY_LENGTH = {8: "EAN", 12: "UPC", 13: "EAN", 14: "GTIN"}
MAX_VARIATION_LEVELS = 3
# Bumped when the document's shape changes, so every stored hash differs once (one edit
# per product) instead of silently comparing two different canonical forms.
HASH_VERSION = b"tts-payload-v1"

_CENT = Decimal("0.01")
_ANY_TAG = re.compile(r"<[^>]*>")
_NO_LISTS = RuleContext()
_strip_description = StripHtml(allowed_tags=tuple(sorted(ALLOWED_TAGS))).compile()
# CJK ideographs (unified, extension A, compatibility): no Chinese in titles (12052051).
_CHINESE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True, slots=True)
class PayloadIssue:
    """A problem (or an adjustment) of one product: the export attribute it is about, and
    the variant's `product_id` for a per-SKU one ("" for the product)."""

    attribute: str
    message: str
    product_id: str = ""


@dataclass(frozen=True, slots=True)
class SkuParts:
    """What the planner compares per SKU: price and stock, apart from the content."""

    seller_sku: str
    price: dict[str, str]
    inventory: list[dict[str, Any]]
    price_hash: str
    inventory_hash: str


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One difference between two documents: `path` like `skus[sku-1].price.amount`;
    `old` / `new` None when the field is absent on that side."""

    path: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class BuiltProduct:
    """A product ready to send (when `ok`), with its hashes (meaningful only when `ok`)."""

    parent_id: str
    document: dict[str, Any]
    content_hash: str
    skus: dict[str, SkuParts]
    errors: tuple[PayloadIssue, ...] = ()
    warnings: tuple[PayloadIssue, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def seller_skus(self) -> frozenset[str]:
        return frozenset(self.skus)

    def hashes(self) -> dict[str, Any]:
        """The hashes to store with what TikTok accepted (JSON)."""
        return {
            "content": self.content_hash,
            "skus": {
                s: {"price": p.price_hash, "inventory": p.inventory_hash}
                for s, p in self.skus.items()
            },
        }

    def to_input(self, sku_ids: Mapping[str, str] | None = None) -> ProductInput:
        """The client's create/edit body. For an edit give the TikTok SKU id of every SKU
        TikTok already has (seller_sku -> id): "Edit Product 202509" deletes SKUs sent
        without their id and creates them anew."""
        if self.errors:
            raise ValueError(f"product {self.parent_id!r} has errors and cannot be sent")
        body = dict(self.document)
        if sku_ids:
            body["skus"] = [
                {**sku, "id": sku_ids[sku["seller_sku"]]} if sku["seller_sku"] in sku_ids else sku
                for sku in body["skus"]
            ]
        return ProductInput.model_validate(body)

    def price_update(
        self, sku_ids: Mapping[str, str], seller_skus: Iterable[str] | None = None
    ) -> UpdatePriceRequest:
        """ "Update Price 202309" body for `seller_skus` (default: all), by TikTok SKU id."""
        return UpdatePriceRequest(
            skus=[
                SkuPriceUpdate(id=_sku_id(sku_ids, s), price=Price(**self.skus[s].price))
                for s in self._selected(seller_skus)
            ]
        )

    def inventory_update(
        self, sku_ids: Mapping[str, str], seller_skus: Iterable[str] | None = None
    ) -> UpdateInventoryRequest:
        """ "Update Inventory 202309" body for `seller_skus` (default: all)."""
        return UpdateInventoryRequest(
            skus=[
                SkuInventoryUpdate(
                    id=_sku_id(sku_ids, s),
                    inventory=[InventoryInput(**i) for i in self.skus[s].inventory],
                )
                for s in self._selected(seller_skus)
            ]
        )

    def _selected(self, seller_skus: Iterable[str] | None) -> list[str]:
        if seller_skus is None:
            return list(self.skus)
        chosen = list(seller_skus)
        unknown = [s for s in chosen if s not in self.skus]
        if unknown:
            raise KeyError(f"not SKUs of {self.parent_id!r}: {', '.join(unknown)}")
        return chosen


def _sku_id(sku_ids: Mapping[str, str], seller_sku: str) -> str:
    try:
        return sku_ids[seller_sku]
    except KeyError:
        raise KeyError(f"no TikTok SKU id for seller SKU {seller_sku!r}") from None


def canonical_hash(value: Any) -> str:
    """Stable hash of a JSON value: sorted keys, compact, UTF-8; the same in every process."""
    data = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(data, digest_size=16, person=HASH_VERSION).hexdigest()


# --- building -----------------------------------------------------------------------------


class _Issues:
    __slots__ = ("errors", "warnings")

    def __init__(self) -> None:
        self.errors: list[PayloadIssue] = []
        self.warnings: list[PayloadIssue] = []

    def error(self, attribute: str, message: str, product_id: str = "") -> None:
        self.errors.append(PayloadIssue(attribute, message, product_id))

    def warn(self, attribute: str, message: str, product_id: str = "") -> None:
        self.warnings.append(PayloadIssue(attribute, message, product_id))


def _positive(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() and number > 0 else None


def _plain(number: Decimal) -> str:
    """`1.50` -> `1.5`, `1E+1` -> `10`: one spelling per number."""
    return format(number.normalize(), "f")


def _has_chinese(text: str) -> bool:
    return _CHINESE.search(text) is not None


def build_product(
    rows: Sequence[dict[str, str]],
    *,
    market: str,
    warehouse_id: str,
    images: ImageResolver,
) -> BuiltProduct:
    """The TikTok body of one product from its merged variant rows (main first).

    `market` is the feed's (`US` or `UK`; another raises ValueError, a configuration
    error); `warehouse_id` receives `sku.quantity`. Bad data never raises: it is reported
    in `errors`.
    """
    if market not in PRICE_RANGES:
        raise ValueError(f"unknown market {market!r}: expected one of US, UK")
    issues = _Issues()
    if not rows:
        issues.error(N.PRODUCT_ID, "no variant rows")
        return BuiltProduct("", {}, "", {}, tuple(issues.errors))
    main = rows[0]
    parent_id = main.get(N.PARENT_ID, "").strip() or main.get(N.PRODUCT_ID, "").strip()
    doc: dict[str, Any] = {}
    _title(main, doc, issues)
    _description(main, doc, issues)
    _category(main, market, doc, issues)
    _main_images(main, images, doc, issues)
    attributes = _product_attributes(main, issues)
    if attributes:
        doc["product_attributes"] = attributes
    _package(main, market, doc, issues)
    contents, parts = _skus(rows, market, warehouse_id, images, issues)
    content = dict(doc)
    content["skus"] = contents
    doc["skus"] = [
        {
            **sku,
            "price": parts[sku["seller_sku"]].price,
            "inventory": parts[sku["seller_sku"]].inventory,
        }
        for sku in contents
    ]
    return BuiltProduct(
        parent_id=parent_id,
        document=doc,
        content_hash="" if issues.errors else canonical_hash(content),
        skus=parts,
        errors=tuple(issues.errors),
        warnings=tuple(issues.warnings),
    )


def _title(main: dict[str, str], doc: dict[str, Any], issues: _Issues) -> None:
    title = main.get(N.PRODUCT_NAME, "").strip()
    if not title:
        issues.error(N.PRODUCT_NAME, "the title is required")
    elif len(title) > TITLE_MAX:
        issues.error(N.PRODUCT_NAME, f"the title has {len(title)} characters, at most {TITLE_MAX}")
    elif _has_chinese(title):
        issues.error(N.PRODUCT_NAME, "Chinese characters are not allowed in the title")
    doc["title"] = title


def _description(main: dict[str, str], doc: dict[str, Any], issues: _Issues) -> None:
    text = _strip_description(main.get(N.DESCRIPTION, ""), main, _NO_LISTS).strip()
    if not _ANY_TAG.sub("", text).strip() and "<img" not in text:  # nothing to read or see
        issues.error(N.DESCRIPTION, "the description is required")
    elif len(text) > DESCRIPTION_MAX:
        issues.error(
            N.DESCRIPTION, f"the description has {len(text)} characters, at most {DESCRIPTION_MAX}"
        )
    doc["description"] = text


def _category(main: dict[str, str], market: str, doc: dict[str, Any], issues: _Issues) -> None:
    category_id = main.get(N.CATEGORY_ID, "").strip()
    if not category_id:
        issues.error(N.CATEGORY_ID, "the category is required")
    elif not category_id.isdigit():
        issues.error(N.CATEGORY_ID, f"{category_id!r} is not a TikTok category id (digits)")
    doc["category_id"] = category_id
    doc["category_version"] = category_version(market)
    brand_id = main.get(N.BRAND_ID, "").strip()
    if brand_id:
        if not brand_id.isdigit():
            issues.error(N.BRAND_ID, f"{brand_id!r} is not a TikTok brand id (digits)")
        doc["brand_id"] = brand_id


def _main_images(
    main: dict[str, str], images: ImageResolver, doc: dict[str, Any], issues: _Issues
) -> None:
    urls, dropped = main_image_urls(main)
    if dropped:
        issues.warn(N.IMAGES, f"{len(urls) + dropped} images, the first {N.MAX_IMAGES} are sent")
    if not urls:
        issues.error(N.IMAGES, "at least one image is required")
    refs = []
    for url in urls:
        uri = images.uri(url, ImageUseCase.MAIN_IMAGE)
        if uri is None:
            issues.error(N.IMAGES, f"no uploaded TikTok image for {url}")
        else:
            refs.append({"uri": uri})
    doc["main_images"] = refs


def _product_attributes(main: dict[str, str], issues: _Issues) -> list[dict[str, Any]]:
    """`product_attribute.<Name>#<id>` cells -> [{id, values}] by attribute id."""
    out: dict[str, tuple[str, list[dict[str, str]]]] = {}
    for key, cell in main.items():
        if not key.startswith(N.PRODUCT_ATTRIBUTE_PREFIX) or not cell.strip():
            continue
        parsed = N.parse_category_attribute(key)
        if parsed is None:
            issues.warn(key, "not sent: a category attribute is product_attribute.<Name>#<id>")
            continue
        if parsed.attribute_id in out:
            issues.error(
                key,
                f"attribute {parsed.attribute_id} is also given as {out[parsed.attribute_id][0]}",
            )
            continue
        values: list[dict[str, str]] = []
        for text in N.split_multi(cell):
            value, value_id = N.parse_predefined(text)
            if value_id is not None:
                item = {"id": value_id}
            elif len(value) > CUSTOM_VALUE_MAX:
                issues.error(
                    key, f"a value has {len(value)} characters, at most {CUSTOM_VALUE_MAX}"
                )
                continue
            else:
                item = {"name": value}
            if item not in values:
                values.append(item)
        if values:
            out[parsed.attribute_id] = (key, values)
    return [
        {"id": attr_id, "values": out[attr_id][1]}
        for attr_id in sorted(out, key=lambda i: (len(i), i))
    ]


def _unit(
    text: str, allowed: tuple[str, ...], attribute: str, market: str, issues: _Issues
) -> str | None:
    unit = text.strip().upper()
    if unit in allowed:
        return unit
    if unit in UNIT_PAIRS or unit in UNIT_PAIRS.values():
        issues.error(
            attribute, f"{unit} is not allowed in the {market} market: use {' or '.join(allowed)}"
        )
    else:
        issues.error(attribute, f"unknown unit {text.strip()!r}: use {' or '.join(allowed)}")
    return None


def _package(main: dict[str, str], market: str, doc: dict[str, Any], issues: _Issues) -> None:
    weight_units, dimension_units = WEIGHT_UNITS[market], DIMENSION_UNITS[market]
    weight_text = main.get(N.PACKAGE_WEIGHT, "").strip()
    weight_unit_text = main.get(N.PACKAGE_WEIGHT_UNIT, "").strip()
    dims_unit_text = main.get(N.PACKAGE_DIMENSION_UNIT, "").strip()
    sides = {
        name: main.get(name, "").strip()
        for name in (N.PACKAGE_LENGTH, N.PACKAGE_WIDTH, N.PACKAGE_HEIGHT)
    }
    # A missing unit is only guessed where no other is possible (one choice in the market,
    # or the pair of the other unit): guessing between kilograms and pounds is not safe.
    weight_unit: str | None = None
    if weight_unit_text:
        weight_unit = _unit(weight_unit_text, weight_units, N.PACKAGE_WEIGHT_UNIT, market, issues)
    elif dims_unit_text.upper() in dimension_units:
        weight_unit = next(w for w, d in UNIT_PAIRS.items() if d == dims_unit_text.upper())
    elif len(weight_units) == 1:
        weight_unit = weight_units[0]
    elif weight_text:
        issues.error(
            N.PACKAGE_WEIGHT_UNIT, f"the weight unit is required: {' or '.join(weight_units)}"
        )
    if not weight_text:
        issues.error(N.PACKAGE_WEIGHT, "the package weight is required")
    else:
        weight = _positive(weight_text)
        if weight is None:
            issues.error(N.PACKAGE_WEIGHT, f"{weight_text!r} is not a number greater than 0")
        elif weight_unit is not None:
            doc["package_weight"] = {"value": _plain(weight), "unit": weight_unit}
    if not any(sides.values()):
        return
    values: dict[str, str] = {}
    for name, text in sides.items():
        if not text:
            issues.error(name, "length, width and height go together: this one is missing")
            continue
        number = _positive(text)
        if number is None:
            issues.error(name, f"{text!r} is not a number greater than 0")
        else:
            values[name] = _plain(number)
    if dims_unit_text:
        dims_unit = _unit(dims_unit_text, dimension_units, N.PACKAGE_DIMENSION_UNIT, market, issues)
    else:
        dims_unit = UNIT_PAIRS.get(weight_unit or "")
        if dims_unit is None and not weight_unit_text:  # else the weight unit is wrong
            issues.error(
                N.PACKAGE_DIMENSION_UNIT,
                f"the dimension unit is required: {' or '.join(dimension_units)}",
            )
    if dims_unit is not None and weight_unit is not None and UNIT_PAIRS[weight_unit] != dims_unit:
        issues.error(
            N.PACKAGE_DIMENSION_UNIT,
            f"{dims_unit} does not go with {weight_unit}: use {UNIT_PAIRS[weight_unit]}",
        )
    elif dims_unit is not None and len(values) == 3:
        doc["package_dimensions"] = {
            "length": values[N.PACKAGE_LENGTH],
            "width": values[N.PACKAGE_WIDTH],
            "height": values[N.PACKAGE_HEIGHT],
            "unit": dims_unit,
        }


def _skus(
    rows: Sequence[dict[str, str]],
    market: str,
    warehouse_id: str,
    images: ImageResolver,
    issues: _Issues,
) -> tuple[list[dict[str, Any]], dict[str, SkuParts]]:
    if len(rows) > MAX_SKUS:
        issues.error(N.PARENT_ID, f"{len(rows)} SKUs, at most {MAX_SKUS}")
    currency, low, high = PRICE_RANGES[market]
    low_price, high_price = Decimal(low), Decimal(high)
    contents: list[dict[str, Any]] = []
    parts: dict[str, SkuParts] = {}
    combos: dict[tuple[tuple[str, str], ...], str] = {}
    levels: dict[frozenset[str], str] = {}
    for row in rows:
        product_id = row.get(N.PRODUCT_ID, "").strip()
        if not product_id:
            issues.error(N.PRODUCT_ID, "a variant has no product_id (its seller SKU)")
            continue
        if product_id in parts:
            issues.error(N.PRODUCT_ID, "the product_id appears twice in this product", product_id)
            continue
        if len(product_id) > SELLER_SKU_MAX:
            issues.error(
                N.PRODUCT_ID,
                f"the seller SKU has {len(product_id)} characters, at most {SELLER_SKU_MAX}",
                product_id,
            )
        seller_sku_cell = row.get(N.SKU_SELLER_SKU, "").strip()
        if seller_sku_cell and seller_sku_cell != product_id:
            issues.warn(
                N.SKU_SELLER_SKU,
                f"not sent: the seller SKU is the product_id ({product_id})",
                product_id,
            )
        cells = sku_cells(row)
        sales = _sales_attributes(cells, product_id, images, issues)
        sku: dict[str, Any] = {"seller_sku": product_id, "sales_attributes": sales}
        identifier = _identifier(row, product_id, issues)
        if identifier is not None:
            sku["identifier_code"] = identifier
        price = _price(row, product_id, currency, low_price, high_price, issues)
        inventory = _inventory(row, cells, product_id, warehouse_id, issues)
        contents.append(sku)
        parts[product_id] = SkuParts(
            seller_sku=product_id,
            price=price,
            inventory=inventory,
            price_hash=canonical_hash(price),
            inventory_hash=canonical_hash(inventory),
        )
        combo = tuple(
            (a["name"].casefold(), a.get("value_id") or a.get("value_name", "").casefold())
            for a in sales
        )
        if combo in combos and len(rows) > 1:
            shown = ", ".join(
                f"{a['name']}={a.get('value_name') or a.get('value_id')}" for a in sales
            )
            issues.error(
                N.PARENT_ID,
                f"variants {combos[combo]} and {product_id} have the same variation"
                + (f" ({shown})" if shown else " (no sales attribute values)"),
                product_id,
            )
        combos.setdefault(combo, product_id)
        levels.setdefault(frozenset(a["name"] for a in sales), product_id)
    names = set().union(*levels) if levels else set()
    if len(names) > MAX_VARIATION_LEVELS:
        issues.error(
            N.PARENT_ID, f"{len(names)} variation levels ({', '.join(sorted(names))}), at most 3"
        )
    if len(levels) > 1:
        described = "; ".join(
            f"{pid}: {', '.join(sorted(level)) or 'none'}" for level, pid in levels.items()
        )
        issues.error(N.PARENT_ID, f"variants differ in their sales attributes ({described})")
    return contents, parts


def _sales_attributes(
    cells: SkuCells, product_id: str, images: ImageResolver, issues: _Issues
) -> list[dict[str, Any]]:
    sales: list[dict[str, Any]] = []
    for name, text in cells.sales:
        if not name or len(name) > SALES_NAME_MAX:
            issues.error(
                N.sales_attribute(name),
                f"a sales attribute name has 1-{SALES_NAME_MAX} characters",
                product_id,
            )
            continue
        value, value_id = N.parse_predefined(text)
        attribute: dict[str, Any] = {"name": name}
        if value_id is not None:
            attribute["value_id"] = value_id
        elif len(value) > SALES_VALUE_MAX:
            issues.error(
                N.sales_attribute(name),
                f"the value has {len(value)} characters, at most {SALES_VALUE_MAX}",
                product_id,
            )
            continue
        else:
            attribute["value_name"] = value
        url = cells.images.get(name)
        if url is not None:
            uri = images.uri(url, ImageUseCase.ATTRIBUTE_IMAGE)
            if uri is None:
                issues.error(
                    N.sales_attribute_image(name), f"no uploaded TikTok image for {url}", product_id
                )
            else:
                attribute["sku_img"] = {"uri": uri}
        sales.append(attribute)
    if len(sales) > 1:
        sales.sort(key=lambda a: a["name"])
    return sales


def _identifier(row: dict[str, str], product_id: str, issues: _Issues) -> dict[str, str] | None:
    code = row.get(N.SKU_GTIN, "").strip()
    if not code:
        return None
    kind = row.get(N.SKU_GTIN_TYPE, "").strip().upper()
    if not code.isdigit():
        issues.error(N.SKU_GTIN, f"{code!r} is not an identifier code (digits)", product_id)
        return None
    if not kind:
        kind = IDENTIFIER_BY_LENGTH.get(len(code), "")
        if not kind:
            issues.error(
                N.SKU_GTIN, f"{len(code)} digits: not a GTIN, EAN, UPC or ISBN", product_id
            )
            return None
    elif kind not in IDENTIFIER_TYPES:
        issues.error(
            N.SKU_GTIN_TYPE, f"unknown type {kind!r}: use {', '.join(IDENTIFIER_TYPES)}", product_id
        )
        return None
    if len(code) not in IDENTIFIER_LENGTHS[kind]:
        lengths = " or ".join(map(str, IDENTIFIER_LENGTHS[kind]))
        issues.error(N.SKU_GTIN, f"a {kind} has {lengths} digits, not {len(code)}", product_id)
        return None
    return {"code": code, "type": kind}


def _price(
    row: dict[str, str],
    product_id: str,
    currency: str,
    low: Decimal,
    high: Decimal,
    issues: _Issues,
) -> dict[str, str]:
    text = row.get(N.SKU_PRICE, "").strip()
    given = row.get(N.SKU_CURRENCY, "").strip().upper()
    if given and given != currency:
        issues.error(
            N.SKU_CURRENCY, f"{given} is not the market's currency: use {currency}", product_id
        )
    if not text:
        issues.error(N.SKU_PRICE, "the price is required", product_id)
        return {}
    amount = _positive(text)
    if amount is None:
        issues.error(N.SKU_PRICE, f"{text!r} is not a price greater than 0", product_id)
        return {}
    cents = amount.quantize(_CENT)
    if cents != amount:
        issues.error(N.SKU_PRICE, f"{text} has more than 2 decimals", product_id)
        return {}
    if not low <= cents <= high:
        issues.error(N.SKU_PRICE, f"{cents} is outside {low}-{high} {currency}", product_id)
    return {"amount": format(cents, "f"), "currency": currency}


def _quantity(text: str, attribute: str, product_id: str, issues: _Issues) -> int | None:
    if text.isdigit():
        quantity = int(text)
    else:
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite() or number != number.to_integral_value():
            issues.error(attribute, f"{text!r} is not a whole number", product_id)
            return None
        quantity = int(number)
    if quantity < 0:
        issues.warn(attribute, f"negative stock {quantity} is sent as 0", product_id)
        return 0
    if quantity > MAX_STOCK:
        issues.error(attribute, f"stock {quantity} is above {MAX_STOCK}", product_id)
        return None
    return quantity


def _inventory(
    row: dict[str, str], cells: SkuCells, product_id: str, warehouse_id: str, issues: _Issues
) -> list[dict[str, Any]]:
    stock: dict[str, int] = {}
    default = row.get(N.SKU_QUANTITY, "").strip()
    if default:
        if not warehouse_id:
            issues.error(N.SKU_QUANTITY, "no warehouse is set for sku.quantity", product_id)
        else:
            quantity = _quantity(default, N.SKU_QUANTITY, product_id, issues)
            if quantity is not None:
                stock[warehouse_id] = quantity
    for key, text in cells.stock:
        warehouse = key[len(SKU_QUANTITY_PREFIX) :]
        if not warehouse.isdigit():
            issues.error(key, f"{warehouse!r} is not a TikTok warehouse id (digits)", product_id)
            continue
        quantity = _quantity(text, key, product_id, issues)
        if quantity is not None:
            stock[warehouse] = quantity  # the warehouse's own column wins over sku.quantity
    if not default and not cells.stock:
        issues.error(N.SKU_QUANTITY, "the stock is required", product_id)
    if len(stock) == 1:
        ((only, quantity),) = stock.items()
        return [{"warehouse_id": only, "quantity": quantity}]
    return [
        {"warehouse_id": w, "quantity": stock[w]} for w in sorted(stock, key=lambda i: (len(i), i))
    ]


# --- diff ---------------------------------------------------------------------------------

# Lists of objects compared item by item, by this key (the path names the key's value).
_KEYED_LISTS = {
    "skus": "seller_sku",
    "product_attributes": "id",
    "sales_attributes": "name",
    "inventory": "warehouse_id",
}


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldChange]:
    """Field-level changes from document `old` to `new` (the dry run's diff).

    Paths are dotted, list items of SKUs, attributes and inventory by key
    (`skus[sku-1].price.amount`, `product_attributes[100392].values`,
    `skus[sku-1].inventory[7068517275539719942].quantity`); a reordering of such a list
    is one change of `<list>` listing the keys; other lists (images, values) compare
    whole.
    """
    out: list[FieldChange] = []
    _diff_mapping("", old, new, out)
    return out


def _diff_mapping(
    path: str, old: Mapping[str, Any], new: Mapping[str, Any], out: list[FieldChange]
) -> None:
    for key in sorted(old.keys() | new.keys()):
        _diff_value(f"{path}.{key}" if path else key, key, old.get(key), new.get(key), out)


def _diff_value(path: str, name: str, old: Any, new: Any, out: list[FieldChange]) -> None:
    if old == new:
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        _diff_mapping(path, old, new, out)
        return
    key = _KEYED_LISTS.get(name)
    if key and _keyed(old, key) and _keyed(new, key):
        _diff_keyed(path, key, old, new, out)
        return
    out.append(FieldChange(path, old, new))


def _keyed(items: Any, key: str) -> bool:
    return isinstance(items, list) and all(isinstance(i, Mapping) and key in i for i in items)


def _diff_keyed(
    path: str,
    key: str,
    old: list[Mapping[str, Any]],
    new: list[Mapping[str, Any]],
    out: list[FieldChange],
) -> None:
    before = {str(item[key]): item for item in old}
    after = {str(item[key]): item for item in new}
    for k, item in before.items():
        item_path = f"{path}[{k}]"
        if k not in after:
            out.append(FieldChange(item_path, item, None))
        else:
            _diff_mapping(item_path, item, after[k], out)
    for k, item in after.items():
        if k not in before:
            out.append(FieldChange(f"{path}[{k}]", None, item))
    kept_before = [k for k in before if k in after]
    kept_after = [k for k in after if k in before]
    if kept_before != kept_after:
        out.append(FieldChange(path, kept_before, kept_after))

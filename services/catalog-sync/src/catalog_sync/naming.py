"""Export attribute naming: the names a feed's export stage uses, and the value encodings.

The export stage speaks Productsup's vocabulary for the TikTok Shop product export (see
docs/feeds.md, "Attribute naming"), so a feed manager coming from Productsup finds the same
attributes:

- common attributes, one per product (`product_id`, `parent_id`, `product_name`, ...);
- category attributes `product_attribute.<Name>#<attribute id>`, the attribute id being the
  one TikTok's "Get Attributes 202309" returns for the category;
- per-variant attributes with the `sku.` prefix (`sku.price`, `sku.sales_attribute.<Name>`, ...);
- a predefined value is written `Value:::::ValueId` (the value id from "Get Attributes
  202309"), a multi-value attribute joins its values with `#`.

Pure string helpers, no I/O; they run once per cell on large feeds, so they stay small.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

# Common (shared) attributes of the main product.
PRODUCT_ID = "product_id"
PARENT_ID = "parent_id"
PRODUCT_NAME = "product_name"
DESCRIPTION = "description"
CATEGORY_ID = "category_id"
CATEGORY_PATH = "category_path"
BRAND_ID = "brand_id"
BRAND_NAME = "brand_name"
IMAGES = "images"
MAIN_IMAGE = "main_image"
PACKAGE_WEIGHT = "package_weight"
PACKAGE_WEIGHT_UNIT = "package_weight_unit"
PACKAGE_LENGTH = "package_length"
PACKAGE_WIDTH = "package_width"
PACKAGE_HEIGHT = "package_height"
PACKAGE_DIMENSION_UNIT = "package_dimension_unit"

# Per-variant (SKU) attributes.
SKU_PREFIX = "sku."
SKU_PRICE = "sku.price"
SKU_CURRENCY = "sku.currency"
SKU_QUANTITY = "sku.quantity"
SKU_SELLER_SKU = "sku.seller_sku"
SKU_IMAGE = "sku.image"
SKU_GTIN = "sku.gtin"
SKU_GTIN_TYPE = "sku.gtin_type"
SALES_ATTRIBUTE_PREFIX = "sku.sales_attribute."
SALES_ATTRIBUTE_IMAGE_PREFIX = "sku.sales_attribute_image."

PRODUCT_ATTRIBUTE_PREFIX = "product_attribute."
CATEGORY_ATTRIBUTE_ID_SEPARATOR = "#"
PREDEFINED_SEPARATOR = ":::::"
MULTI_SEPARATOR = "#"
# "Create Product 202309" takes at most 9 main images.
MAX_IMAGES = 9

COMMON_ATTRIBUTES: tuple[str, ...] = (
    PRODUCT_ID,
    PARENT_ID,
    PRODUCT_NAME,
    DESCRIPTION,
    CATEGORY_ID,
    CATEGORY_PATH,
    BRAND_ID,
    BRAND_NAME,
    IMAGES,
    MAIN_IMAGE,
    PACKAGE_WEIGHT,
    PACKAGE_WEIGHT_UNIT,
    PACKAGE_LENGTH,
    PACKAGE_WIDTH,
    PACKAGE_HEIGHT,
    PACKAGE_DIMENSION_UNIT,
)
SKU_ATTRIBUTES: tuple[str, ...] = (
    SKU_PRICE,
    SKU_CURRENCY,
    SKU_QUANTITY,
    SKU_SELLER_SKU,
    SKU_IMAGE,
    SKU_GTIN,
    SKU_GTIN_TYPE,
)


class CategoryAttribute(NamedTuple):
    """A parsed `product_attribute.<Name>#<attribute id>`."""

    name: str
    attribute_id: str


class PredefinedValue(NamedTuple):
    """A parsed `Value:::::ValueId`; `value_id` is None for a free-text (customized) value."""

    value: str
    value_id: str | None


def category_attribute(name: str, attribute_id: str | int) -> str:
    """`product_attribute.<Name>#<attribute id>`, e.g. `product_attribute.Material#100157`."""
    attr_id = str(attribute_id)
    if not name.strip():
        raise ValueError("a category attribute needs a name")
    if not attr_id.isdigit():
        raise ValueError(f"a TikTok attribute id is numeric, got {attr_id!r}")
    return f"{PRODUCT_ATTRIBUTE_PREFIX}{name}{CATEGORY_ATTRIBUTE_ID_SEPARATOR}{attr_id}"


def parse_category_attribute(attribute: str) -> CategoryAttribute | None:
    """(name, attribute id) of a category attribute name, None for any other name.

    The id follows the last `#`, so a name that itself contains `#` still parses.
    """
    if not attribute.startswith(PRODUCT_ATTRIBUTE_PREFIX):
        return None
    name, sep, attr_id = attribute[len(PRODUCT_ATTRIBUTE_PREFIX) :].rpartition(
        CATEGORY_ATTRIBUTE_ID_SEPARATOR
    )
    if not sep or not name or not attr_id.isdigit():
        return None
    return CategoryAttribute(name, attr_id)


def is_category_attribute(attribute: str) -> bool:
    return parse_category_attribute(attribute) is not None


def is_sku_attribute(attribute: str) -> bool:
    """True for per-variant `sku.*` attributes."""
    return attribute.startswith(SKU_PREFIX)


def is_variant_attribute(attribute: str) -> bool:
    """True for what may differ between variants of one product: `product_id` and `sku.*`."""
    return attribute == PRODUCT_ID or attribute.startswith(SKU_PREFIX)


def sales_attribute(name: str) -> str:
    """`sku.sales_attribute.<Name>` (a variation such as Colour or Size)."""
    if not name.strip():
        raise ValueError("a sales attribute needs a name")
    return SALES_ATTRIBUTE_PREFIX + name


def sales_attribute_image(name: str) -> str:
    """`sku.sales_attribute_image.<Name>`: the image shown for the variation's value."""
    if not name.strip():
        raise ValueError("a sales attribute needs a name")
    return SALES_ATTRIBUTE_IMAGE_PREFIX + name


def parse_sales_attribute(attribute: str) -> str | None:
    """The variation name of `sku.sales_attribute.<Name>`, None for any other attribute."""
    if attribute.startswith(SALES_ATTRIBUTE_PREFIX):
        return attribute[len(SALES_ATTRIBUTE_PREFIX) :] or None
    return None


def predefined(value: str, value_id: str | int) -> str:
    """`Value:::::ValueId`, e.g. `predefined("Foldable", 1002263) == "Foldable:::::1002263"`."""
    vid = str(value_id)
    if not vid.isdigit():
        raise ValueError(f"a TikTok value id is numeric, got {vid!r}")
    return f"{value}{PREDEFINED_SEPARATOR}{vid}"


def parse_predefined(text: str) -> PredefinedValue:
    """Split `Value:::::ValueId`; a value without a numeric id is a free-text value (id None)."""
    value, sep, vid = text.rpartition(PREDEFINED_SEPARATOR)
    if sep and vid.isdigit():
        return PredefinedValue(value, vid)
    return PredefinedValue(text, None)


def split_multi(text: str) -> list[str]:
    """The values of a `#`-joined multi-value cell, each trimmed, empty ones dropped.

    Trimming undoes the ` #` a Productsup-style Append/Prepend Column leaves before its
    text (`a.jpg #b.jpg` -> `["a.jpg", "b.jpg"]`), and dropping empties the `#` a chain
    leaves when the cell it appended to was empty (`#b.jpg` -> `["b.jpg"]`).
    """
    if MULTI_SEPARATOR not in text:
        stripped = text.strip()
        return [stripped] if stripped else []
    return [part for part in (p.strip() for p in text.split(MULTI_SEPARATOR)) if part]


def join_multi(values: Iterable[str]) -> str:
    """`#`-join values, each trimmed, empty ones dropped (the inverse of `split_multi`)."""
    return MULTI_SEPARATOR.join(v for v in (x.strip() for x in values) if v)


def normalize_multi(text: str) -> str:
    """A multi-value cell with separator artefacts removed: `a #b# #c` -> `a#b#c`."""
    return join_multi(split_multi(text))

"""Classifications: the export schema of a TikTok category (docs/feeds.md, "Classifications").

The export schema of a category = the common attributes every product has + the
category's own attributes from "Get Attributes 202309": product properties as
`product_attribute.<Name>#<attribute id>`, sales properties (they vary per SKU) as
`sku.sales_attribute.<Name>` (+ `sku.sales_attribute_image.<Name>`). Each attribute says
whether it is required (also conditionally), its predefined values with ids, whether a
free value is allowed (customizable), whether several values may be given (multi-select)
and the limits the readiness analyzer checks. It is computed from the fetched attributes
alone: no failing run is needed to discover a category's attributes.

Limits are those of TikTok's "Create Product 202309" (the sandbox's product_validation.py
enforces the same ones).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from catalog_sync import naming as N
from catalog_sync.naming import MAX_IMAGES
from catalog_sync.taxonomy import (
    AttributeValue,
    CategoryAttribute,
    CategoryRuleSummary,
    RequiredWhen,
)

# "Create Product 202309" limits (US/UK); MAX_IMAGES is naming's.
TITLE_MAX = 255
DESCRIPTION_MAX = 10_000
SELLER_SKU_MAX = 50
SALES_VALUE_MAX = 50
SALES_NAME_MAX = 20
CUSTOM_VALUE_MAX = 500
MAX_STOCK = 999_999
MAX_SKUS = 100
# Price range per market, in the market's currency.
PRICE_RANGES: dict[str, tuple[str, str, str]] = {
    "US": ("USD", "0.01", "7600"),
    "UK": ("GBP", "0.01", "5600"),
}
WEIGHT_UNITS: dict[str, tuple[str, ...]] = {"US": ("KILOGRAM", "POUND"), "UK": ("KILOGRAM",)}
DIMENSION_UNITS: dict[str, tuple[str, ...]] = {
    "US": ("CENTIMETER", "INCH"),
    "UK": ("CENTIMETER",),
}
IDENTIFIER_TYPES = ("GTIN", "EAN", "UPC", "ISBN")


class AttributeSource(StrEnum):
    COMMON = "common"  # every product, whatever its category
    PRODUCT = "product"  # a category's product property
    SALES = "sales"  # a category's sales property (varies per SKU)


class ValueFormat(StrEnum):
    """What a value must look like (the analyzer's format tests)."""

    TEXT = "text"
    TITLE = "title"  # text without Chinese characters
    HTML = "html"  # only the tags TikTok allows in a description
    ID = "id"  # a TikTok id: digits
    DECIMAL = "decimal"  # a number > 0
    PRICE = "price"  # a number > 0 within the market's price range
    INTEGER = "integer"  # stock: a whole number 0..999,999
    URL = "url"  # http(s) URL
    IDENTIFIER = "identifier"  # GTIN/EAN/UPC/ISBN digits


class SchemaAttribute(BaseModel):
    """One export attribute of a category's schema, with what the analyzer checks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="export attribute name, e.g. product_attribute.Material#100198")
    label: str = Field(description="the name shown to people (TikTok's attribute name)")
    source: AttributeSource
    attribute_id: str | None = Field(default=None, description="TikTok attribute id")
    per_variant: bool = Field(
        default=False, description="varies per SKU (product_id and sku.*); else shared"
    )
    required: bool = False
    required_when: tuple[RequiredWhen, ...] = Field(
        default=(), description="required once another attribute holds one of these values"
    )
    values: tuple[AttributeValue, ...] = Field(
        default=(), description="TikTok's predefined values, sent as Value:::::ValueId"
    )
    choices: tuple[str, ...] = Field(
        default=(), description="fixed plain values (units, currency, identifier type)"
    )
    customizable: bool = Field(default=True, description="a free value is accepted")
    multi_select: bool = Field(default=False, description="several values joined with #")
    value_format: ValueFormat = ValueFormat.TEXT
    min_length: int | None = None
    max_length: int | None = Field(default=None, description="characters per value")
    max_values: int | None = Field(default=None, description="most values (e.g. 9 images)")

    @property
    def predefined_only(self) -> bool:
        """Only TikTok's predefined values (with their ids) are accepted."""
        return bool(self.values) and not self.customizable

    @property
    def supported_values(self) -> list[str]:
        """The values to offer: predefined ones as `Value:::::Id`, else the fixed choices."""
        if self.values:
            return [v.cell for v in self.values]
        return list(self.choices)


def _common(name: str, label: str, **kw: object) -> SchemaAttribute:
    per_variant = N.is_variant_attribute(name)
    return SchemaAttribute.model_validate(
        {
            "name": name,
            "label": label,
            "source": AttributeSource.COMMON,
            "per_variant": per_variant,
            **kw,
        }
    )


def common_schema(
    market: str | None = None, rules: CategoryRuleSummary | None = None
) -> list[SchemaAttribute]:
    """The attributes every TikTok product export has, whatever its category.

    With a market, units, currency and the price range are the market's; with category
    rules, the package dimensions are required where the category requires them.
    """
    dims_required = bool(rules and rules.package_dimensions_required)
    weight_units = WEIGHT_UNITS.get(market or "", WEIGHT_UNITS["US"])
    dim_units = DIMENSION_UNITS.get(market or "", DIMENSION_UNITS["US"])
    currency = (PRICE_RANGES[market][0],) if market in PRICE_RANGES else ()
    dec = ValueFormat.DECIMAL
    return [
        _common(N.PRODUCT_ID, "Product id (SKU)", required=True),
        _common(N.PARENT_ID, "Parent id", required=True),
        _common(
            N.PRODUCT_NAME,
            "Title",
            required=True,
            value_format=ValueFormat.TITLE,
            min_length=1,
            max_length=TITLE_MAX,
        ),
        _common(
            N.DESCRIPTION,
            "Description",
            required=True,
            value_format=ValueFormat.HTML,
            max_length=DESCRIPTION_MAX,
        ),
        _common(N.CATEGORY_ID, "Category id", required=True, value_format=ValueFormat.ID),
        _common(N.CATEGORY_PATH, "Category path"),
        _common(N.BRAND_ID, "Brand id", value_format=ValueFormat.ID),
        _common(N.BRAND_NAME, "Brand name"),
        _common(
            N.IMAGES,
            "Main images",
            required=True,
            value_format=ValueFormat.URL,
            multi_select=True,
            max_values=MAX_IMAGES,
        ),
        _common(N.MAIN_IMAGE, "Main image", value_format=ValueFormat.URL),
        _common(N.PACKAGE_WEIGHT, "Package weight", required=True, value_format=dec),
        _common(N.PACKAGE_WEIGHT_UNIT, "Package weight unit", choices=weight_units),
        _common(N.PACKAGE_LENGTH, "Package length", required=dims_required, value_format=dec),
        _common(N.PACKAGE_WIDTH, "Package width", required=dims_required, value_format=dec),
        _common(N.PACKAGE_HEIGHT, "Package height", required=dims_required, value_format=dec),
        _common(N.PACKAGE_DIMENSION_UNIT, "Package dimension unit", choices=dim_units),
        _common(N.SKU_PRICE, "Price", required=True, value_format=ValueFormat.PRICE),
        _common(N.SKU_CURRENCY, "Currency", choices=currency),
        _common(N.SKU_QUANTITY, "Stock", required=True, value_format=ValueFormat.INTEGER),
        _common(N.SKU_SELLER_SKU, "Seller SKU", max_length=SELLER_SKU_MAX),
        _common(N.SKU_IMAGE, "SKU image", value_format=ValueFormat.URL),
        _common(N.SKU_GTIN, "Identifier code", value_format=ValueFormat.IDENTIFIER),
        _common(N.SKU_GTIN_TYPE, "Identifier type", choices=IDENTIFIER_TYPES),
    ]


def _format_of(attr: CategoryAttribute) -> ValueFormat:
    if attr.value_format and "INT" in attr.value_format.upper():
        return ValueFormat.DECIMAL  # POSITIVE_INT_OR_DECIMAL
    return ValueFormat.TEXT


def category_schema(category_attrs: Iterable[CategoryAttribute]) -> list[SchemaAttribute]:
    """The category-specific export attributes only (see `schema_for`)."""
    product: list[SchemaAttribute] = []
    sales: list[SchemaAttribute] = []
    for attr in category_attrs:
        if attr.kind == "sales":
            name = N.sales_attribute(attr.name)
            sales.append(
                SchemaAttribute(
                    name=name,
                    label=attr.name,
                    source=AttributeSource.SALES,
                    attribute_id=attr.id,
                    per_variant=True,
                    required=attr.required,
                    required_when=attr.required_when,
                    values=attr.values,
                    customizable=attr.customizable or not attr.values,
                    value_format=_format_of(attr),
                    max_length=SALES_VALUE_MAX,
                )
            )
            sales.append(
                SchemaAttribute(
                    name=N.sales_attribute_image(attr.name),
                    label=f"{attr.name} image",
                    source=AttributeSource.SALES,
                    attribute_id=attr.id,
                    per_variant=True,
                    value_format=ValueFormat.URL,
                )
            )
            continue
        product.append(
            SchemaAttribute(
                name=N.category_attribute(attr.name, attr.id),
                label=attr.name,
                source=AttributeSource.PRODUCT,
                attribute_id=attr.id,
                required=attr.required,
                required_when=attr.required_when,
                values=attr.values,
                customizable=attr.customizable or not attr.values,
                multi_select=attr.multi_select,
                value_format=_format_of(attr),
                max_length=CUSTOM_VALUE_MAX if attr.customizable or not attr.values else None,
            )
        )
    return product + sales


def schema_for(
    category_attrs: Sequence[CategoryAttribute],
    *,
    market: str | None = None,
    rules: CategoryRuleSummary | None = None,
    include_common: bool = True,
) -> list[SchemaAttribute]:
    """The export schema of one category: common attributes, then the category's own."""
    common = common_schema(market, rules) if include_common else []
    return common + category_schema(category_attrs)

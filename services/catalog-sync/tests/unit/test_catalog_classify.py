"""Classifications: the export schema of a category = common + category attributes."""

from __future__ import annotations

from catalog_sync.classify import (
    AttributeSource,
    SchemaAttribute,
    ValueFormat,
    category_schema,
    common_schema,
    schema_for,
)
from catalog_sync.naming import COMMON_ATTRIBUTES, SKU_ATTRIBUTES, parse_category_attribute
from catalog_sync.taxonomy import (
    AttributeValue,
    CategoryAttribute,
    CategoryRuleSummary,
    RequiredWhen,
)


def v(value_id: str, name: str) -> AttributeValue:
    return AttributeValue(id=value_id, name=name)


SOFA_ATTRS = [
    CategoryAttribute(
        id="100089", name="Color", kind="sales", customizable=True,
        values=(v("1000100", "Red"), v("1000101", "Blue")),
    ),
    CategoryAttribute(
        id="100392", name="Occasion", kind="product", multi_select=True,
        values=(v("1001533", "Birthday"), v("1001534", "Wedding")),
    ),
    CategoryAttribute(
        id="101610", name="Foldable Furniture", kind="product", required=True,
        values=(v("1029401", "Foldable"), v("1029402", "Non-Foldable")),
    ),
    CategoryAttribute(
        id="101611", name="Folded Dimensions", kind="product", customizable=True,
        required_when=(RequiredWhen(attribute_id="101610", value_id="1029401"),),
    ),
    CategoryAttribute(
        id="100347", name="Quantity Per Pack", kind="product", customizable=True,
        value_format="POSITIVE_INT_OR_DECIMAL",
    ),
]  # fmt: skip


def by_name(schema: list[SchemaAttribute]) -> dict[str, SchemaAttribute]:
    return {a.name: a for a in schema}


def test_schema_is_common_attributes_then_the_categorys_own() -> None:
    schema = schema_for(SOFA_ATTRS, market="UK")
    names = [a.name for a in schema]
    common = [a.name for a in common_schema("UK")]
    assert names[: len(common)] == common
    assert names[len(common) :] == [
        "product_attribute.Occasion#100392",
        "product_attribute.Foldable Furniture#101610",
        "product_attribute.Folded Dimensions#101611",
        "product_attribute.Quantity Per Pack#100347",
        "sku.sales_attribute.Color",
        "sku.sales_attribute_image.Color",
    ]
    # Named as naming.py names them, so the dataflow and the analyzer agree.
    assert parse_category_attribute(names[len(common)]) == ("Occasion", "100392")
    assert set(COMMON_ATTRIBUTES) | set(SKU_ATTRIBUTES) | {"product_id"} <= set(common)
    assert category_schema(SOFA_ATTRS) == schema[len(common) :]
    assert schema_for(SOFA_ATTRS, include_common=False) == category_schema(SOFA_ATTRS)


def test_category_attribute_flags() -> None:
    s = by_name(schema_for(SOFA_ATTRS, market="UK"))
    foldable = s["product_attribute.Foldable Furniture#101610"]
    assert foldable.source is AttributeSource.PRODUCT and foldable.attribute_id == "101610"
    assert foldable.required and foldable.predefined_only and not foldable.multi_select
    assert not foldable.per_variant
    assert foldable.supported_values == ["Foldable:::::1029401", "Non-Foldable:::::1029402"]
    occasion = s["product_attribute.Occasion#100392"]
    assert occasion.multi_select and occasion.predefined_only and not occasion.required
    folded = s["product_attribute.Folded Dimensions#101611"]
    assert not folded.required and folded.customizable and folded.max_length == 500
    assert folded.required_when == (RequiredWhen(attribute_id="101610", value_id="1029401"),)
    qty = s["product_attribute.Quantity Per Pack#100347"]
    assert qty.value_format is ValueFormat.DECIMAL
    color = s["sku.sales_attribute.Color"]
    assert color.source is AttributeSource.SALES and color.per_variant
    assert color.customizable and not color.predefined_only and color.max_length == 50
    image = s["sku.sales_attribute_image.Color"]
    assert image.per_variant and image.value_format is ValueFormat.URL and not image.required


def test_common_attributes_carry_create_product_limits() -> None:
    s = by_name(common_schema("UK"))
    assert s["product_name"].required and s["product_name"].max_length == 255
    assert s["product_name"].value_format is ValueFormat.TITLE
    assert (
        s["description"].max_length == 10_000 and s["description"].value_format is ValueFormat.HTML
    )
    assert s["images"].max_values == 9 and s["images"].multi_select and s["images"].required
    assert s["sku.price"].per_variant and s["sku.price"].value_format is ValueFormat.PRICE
    assert s["sku.quantity"].value_format is ValueFormat.INTEGER
    assert s["sku.seller_sku"].max_length == 50
    assert s["product_id"].per_variant and not s["parent_id"].per_variant
    assert s["package_weight"].required and s["package_weight"].value_format is ValueFormat.DECIMAL
    # UK: metric units and pounds sterling only.
    assert s["package_weight_unit"].choices == ("KILOGRAM",)
    assert s["package_dimension_unit"].choices == ("CENTIMETER",)
    assert s["sku.currency"].choices == ("GBP",)
    us = by_name(common_schema("US"))
    assert us["package_weight_unit"].choices == ("KILOGRAM", "POUND")
    assert us["sku.currency"].choices == ("USD",)


def test_category_rules_make_package_dimensions_required() -> None:
    plain = by_name(schema_for(SOFA_ATTRS, market="US"))
    ruled = by_name(
        schema_for(
            SOFA_ATTRS,
            market="US",
            rules=CategoryRuleSummary(package_dimensions_required=True),
        )
    )
    for name in ("package_length", "package_width", "package_height"):
        assert not plain[name].required and ruled[name].required


def test_a_sales_attribute_without_values_takes_free_text() -> None:
    schema = category_schema([CategoryAttribute(id="7", name="Style", kind="sales")])
    assert [a.name for a in schema] == [
        "sku.sales_attribute.Style",
        "sku.sales_attribute_image.Style",
    ]
    assert schema[0].customizable and schema[0].supported_values == []

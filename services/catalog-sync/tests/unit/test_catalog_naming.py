"""Export attribute naming and value encodings (category attributes, predefined, multi-value)."""

from __future__ import annotations

import pytest
from catalog_sync import naming
from catalog_sync.naming import (
    CategoryAttribute,
    PredefinedValue,
    category_attribute,
    is_category_attribute,
    is_sku_attribute,
    is_variant_attribute,
    join_multi,
    normalize_multi,
    parse_category_attribute,
    parse_predefined,
    parse_sales_attribute,
    predefined,
    sales_attribute,
    sales_attribute_image,
    split_multi,
)


def test_common_and_sku_constants_use_productsup_names() -> None:
    assert naming.COMMON_ATTRIBUTES[:4] == (
        "product_id",
        "parent_id",
        "product_name",
        "description",
    )
    assert {"category_id", "category_path", "brand_id", "images", "package_weight"} <= set(
        naming.COMMON_ATTRIBUTES
    )
    assert naming.SKU_PRICE == "sku.price"
    assert all(a.startswith("sku.") for a in naming.SKU_ATTRIBUTES)
    assert naming.MAX_IMAGES == 9


def test_category_attribute_round_trips() -> None:
    name = category_attribute("Foldable Furniture", 100887)
    assert name == "product_attribute.Foldable Furniture#100887"
    assert parse_category_attribute(name) == CategoryAttribute("Foldable Furniture", "100887")
    assert parse_category_attribute(name) == ("Foldable Furniture", "100887")
    assert is_category_attribute(name)


def test_category_attribute_name_containing_a_hash_parses_on_the_last_one() -> None:
    name = category_attribute("Size #2", "42")
    assert parse_category_attribute(name) == ("Size #2", "42")


@pytest.mark.parametrize(
    "attribute",
    [
        "product_name",
        "product_attribute.Material",  # no id
        "product_attribute.Material#",  # empty id
        "product_attribute.#100157",  # no name
        "product_attribute.Material#10a",  # not numeric
        "sku.sales_attribute.Colour",
    ],
)
def test_parse_category_attribute_refuses_other_names(attribute: str) -> None:
    assert parse_category_attribute(attribute) is None
    assert not is_category_attribute(attribute)


@pytest.mark.parametrize(("name", "attr_id"), [("", "1"), ("  ", "1"), ("Material", "x1")])
def test_category_attribute_refuses_bad_parts(name: str, attr_id: str) -> None:
    with pytest.raises(ValueError):
        category_attribute(name, attr_id)


def test_sku_and_variant_attributes() -> None:
    assert is_sku_attribute("sku.price")
    assert is_sku_attribute(sales_attribute("Colour"))
    assert not is_sku_attribute("product_id")
    assert not is_sku_attribute("skus")
    assert is_variant_attribute("product_id")
    assert is_variant_attribute("sku.quantity")
    assert not is_variant_attribute("parent_id")
    assert not is_variant_attribute("product_attribute.Material#100157")


def test_sales_attributes() -> None:
    assert sales_attribute("Colour") == "sku.sales_attribute.Colour"
    assert sales_attribute_image("Colour") == "sku.sales_attribute_image.Colour"
    assert parse_sales_attribute("sku.sales_attribute.Colour") == "Colour"
    assert parse_sales_attribute("sku.sales_attribute_image.Colour") is None
    assert parse_sales_attribute("sku.sales_attribute.") is None
    with pytest.raises(ValueError):
        sales_attribute(" ")


def test_predefined_value_as_productsup_shows_it() -> None:
    assert predefined("Foldable", 1002263) == "Foldable:::::1002263"
    assert predefined("Non-Foldable", "1004668") == "Non-Foldable:::::1004668"
    assert parse_predefined("Foldable:::::1002263") == PredefinedValue("Foldable", "1002263")
    with pytest.raises(ValueError):
        predefined("Foldable", "abc")


def test_parse_predefined_free_text_and_odd_values() -> None:
    assert parse_predefined("Handmade") == ("Handmade", None)
    assert parse_predefined("") == ("", None)
    # A value that itself contains the separator: the id is after the last one.
    assert parse_predefined("a:::::b:::::7") == ("a:::::b", "7")
    assert parse_predefined("Foldable:::::") == ("Foldable:::::", None)
    assert parse_predefined("Größe XL:::::12") == ("Größe XL", "12")


def test_split_multi_cleans_the_append_column_artefacts() -> None:
    # Append/Prepend Column leaves " #" between values; the cleaning gives "#".
    assert split_multi("a.jpg #b.jpg #c.jpg") == ["a.jpg", "b.jpg", "c.jpg"]
    assert split_multi("#b.jpg") == ["b.jpg"]
    assert split_multi("a# #b##") == ["a", "b"]
    assert split_multi("") == []
    assert split_multi("   ") == []
    assert split_multi(" one ") == ["one"]


def test_join_multi_and_normalize() -> None:
    assert join_multi(["a.jpg", " b.jpg ", "", "c.jpg"]) == "a.jpg#b.jpg#c.jpg"
    assert join_multi([]) == ""
    assert normalize_multi("a.jpg #b.jpg") == "a.jpg#b.jpg"
    assert normalize_multi("Baumwolle # Seide") == "Baumwolle#Seide"
    assert split_multi(join_multi(["x", "y"])) == ["x", "y"]

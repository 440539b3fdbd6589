"""Deterministic category attributes, keyed by the leaf's top-level group.

Shapes follow "Get Attributes 202309", including the official misspelling `is_requried`.
Ids reuse the official samples where known (Color 100089, Occasion 100392 with
Birthday 1001533); the rest are hand-made and stable.
"""

from __future__ import annotations

from typing import Any

from .catalog_seed import Category

FOLDABLE_ATTR = "101610"
FOLDABLE_VALUE = "1029401"
BATTERY_ATTR = "100105"
BATTERY_YES = "1005101"

APPAREL_GROUPS = frozenset(
    {
        "Womenswear & Underwear",
        "Menswear & Underwear",
        "Kids' Fashion",
        "Muslim Fashion",
        "Shoes",
        "Sports & Outdoor",
    }
)
MATERIAL_REQUIRED_GROUPS = APPAREL_GROUPS | {
    "Furniture",
    "Textiles & Soft Furnishings",
    "Luggage & Bags",
}
ELECTRONIC_GROUPS = frozenset(
    {"Phones & Electronics", "Computers & Office Equipment", "Household Appliances"}
)


def _values(prefix: int, names: list[str]) -> list[dict[str, str]]:
    return [{"id": str(prefix + i), "name": n} for i, n in enumerate(names)]


def _attr(
    attr_id: str,
    name: str,
    kind: str,
    values: list[dict[str, str]],
    *,
    required: bool = False,
    customizable: bool = False,
    multiple: bool = False,
    value_format: str = "",
    conditions: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    attr: dict[str, Any] = {
        "id": attr_id,
        "name": name,
        "type": kind,
        "is_requried": required,
        "values": values,
        "is_customizable": customizable,
    }
    if kind == "PRODUCT_PROPERTY":
        attr["is_multiple_selection"] = multiple
    if value_format:
        attr["value_data_format"] = value_format
    if conditions:
        attr["requirement_conditions"] = conditions
    return attr


COLOR = _attr(
    "100089",
    "Color",
    "SALES_PROPERTY",
    _values(
        1000100,
        ["Red", "Blue", "Black", "White", "Green", "Yellow", "Pink", "Grey", "Brown", "Navy"],
    ),
    customizable=True,
)
SIZE = _attr(
    "100000",
    "Size",
    "SALES_PROPERTY",
    _values(1000200, ["XS", "S", "M", "L", "XL", "XXL", "One Size"]),
    customizable=True,
)
OCCASION = _attr(
    "100392",
    "Occasion",
    "PRODUCT_PROPERTY",
    [
        {"id": "1001533", "name": "Birthday"},
        *_values(1001534, ["Wedding", "Christmas", "Anniversary", "Daily", "Party"]),
    ],
    multiple=True,
)
QUANTITY_PER_PACK = _attr(
    "100347",
    "Quantity Per Pack",
    "PRODUCT_PROPERTY",
    [],
    customizable=True,
    value_format="POSITIVE_INT_OR_DECIMAL",
)
MATERIAL_VALUES = _values(
    1002000,
    ["Cotton", "Polyester", "Leather", "Wood", "Metal", "Plastic", "Glass", "Ceramic", "Silk"],
)
FURNITURE = [
    _attr(
        FOLDABLE_ATTR,
        "Foldable Furniture",
        "PRODUCT_PROPERTY",
        [{"id": FOLDABLE_VALUE, "name": "Foldable"}, {"id": "1029402", "name": "Non-Foldable"}],
        required=True,
    ),
    _attr(
        "101611",
        "Folded Dimensions",
        "PRODUCT_PROPERTY",
        [],
        customizable=True,
        conditions=[
            {
                "condition_type": "VALUE_ID_MATCH",
                "attribute_id": FOLDABLE_ATTR,
                "attribute_value_id": FOLDABLE_VALUE,
            }
        ],
    ),
    _attr(
        "101612",
        "Assembly Required",
        "PRODUCT_PROPERTY",
        _values(1029410, ["Yes", "No"]),
    ),
]
ELECTRONICS = [
    _attr(
        "100101",
        "Warranty Period",
        "PRODUCT_PROPERTY",
        _values(1005000, ["No Warranty", "3 Months", "6 Months", "1 Year", "2 Years"]),
        required=True,
    ),
    _attr(
        BATTERY_ATTR,
        "Battery Included",
        "PRODUCT_PROPERTY",
        [{"id": BATTERY_YES, "name": "Yes"}, {"id": "1005102", "name": "No"}],
    ),
    _attr(
        "100106",
        "Battery Capacity (mAh)",
        "PRODUCT_PROPERTY",
        [],
        customizable=True,
        value_format="POSITIVE_INT_OR_DECIMAL",
        conditions=[
            {
                "condition_type": "VALUE_ID_MATCH",
                "attribute_id": BATTERY_ATTR,
                "attribute_value_id": BATTERY_YES,
            }
        ],
    ),
]
BEAUTY = [
    _attr(
        "100610",
        "Skin Type",
        "PRODUCT_PROPERTY",
        _values(1006100, ["All", "Dry", "Oily", "Combination", "Sensitive"]),
        multiple=True,
    ),
    _attr("100611", "Expiry Date (months)", "PRODUCT_PROPERTY", [], customizable=True),
]


def attributes_for(category: Category) -> list[dict[str, Any]]:
    """The attribute list of a leaf; the same category always gets the same list."""
    group = category.group
    attrs = [COLOR]
    if group in APPAREL_GROUPS:
        attrs.append(SIZE)
    attrs.append(OCCASION)
    attrs.append(
        _attr(
            "100198",
            "Material",
            "PRODUCT_PROPERTY",
            MATERIAL_VALUES,
            required=group in MATERIAL_REQUIRED_GROUPS,
            customizable=True,
            multiple=True,
        )
    )
    attrs.append(QUANTITY_PER_PACK)
    if group == "Furniture":
        attrs.extend(FURNITURE)
    if group in ELECTRONIC_GROUPS:
        attrs.extend(ELECTRONICS)
    if group in {"Beauty & Personal Care", "Health"}:
        attrs.extend(BEAUTY)
    return attrs


def rules_for(category: Category) -> dict[str, Any]:
    """`/categories/{id}/rules`: what a listing in this category must carry."""
    apparel = category.group in APPAREL_GROUPS
    certs = []
    if category.group in {"Toys & Hobbies", "Baby & Maternity"}:
        certs.append(
            {
                "id": "7182427311584347001",
                "name": "Children's Product Certificate",
                "is_required": False,
                "sample_image_url": "https://sandbox.invalid/cert-sample.jpg",
            }
        )
    return {
        "product_certifications": certs,
        "size_chart": {"is_supported": apparel, "is_required": False},
        "cod": {"is_supported": False},
        "package_dimension": {"is_required": True},
        "epr": {"is_required": False},
        "responsible_person": {"is_required": False},
        "manufacturer": {"is_required": False},
    }

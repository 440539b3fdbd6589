"""Product validation as pure functions: codes, draft relaxations, value matching."""

from __future__ import annotations

from typing import Any

from tiktok_sandbox.catalog_seed import catalog
from tiktok_sandbox.product_validation import stable_value_id, validate_product
from tiktok_sandbox.seed import SHOPS, UK_SHOP_ID, US_SHOP_ID

US = SHOPS[US_SHOP_ID]
UK = SHOPS[UK_SHOP_ID]
WAREHOUSE = "7068517275539719942"
SOFA = next(c.id for c in catalog().trees["US"].leaves() if c.local_name == "Sofas")


def body(**over: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "title": "Sofa",
        "description": "<p>ok</p>",
        "category_id": SOFA,
        "category_version": "v2",
        "main_images": [{"uri": "img-1"}],
        "product_attributes": [
            {"id": "101610", "values": [{"name": "Non-Foldable"}]},
            {"id": "100198", "values": [{"name": "Wood"}]},
        ],
        "skus": [
            {
                "seller_sku": "A",
                "price": {"amount": "10.00", "currency": "USD"},
                "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 1}],
            }
        ],
        "package_weight": {"value": "1", "unit": "POUND"},
        "package_dimensions": {"length": "1", "width": "1", "height": "1", "unit": "INCH"},
    }
    b.update(over)
    return b


def check(b: dict[str, Any], shop: dict[str, Any] = US, owner: str | None = None) -> list[int]:
    _, problems = validate_product(shop, b, lambda uri: uri == "img-1", lambda sku: owner)
    return [code for code, _ in problems]


def test_valid_body_has_no_problems() -> None:
    assert check(body()) == []


def test_all_problems_are_collected_in_order() -> None:
    codes = check(body(title="", main_images=[], description="<div>x</div>"))
    assert codes == [12052051, 12052013, 12052028]


def test_draft_skips_completeness_checks() -> None:
    draft = body(save_mode="AS_DRAFT", description="", main_images=[], product_attributes=[])
    del draft["package_weight"]
    assert check(draft) == []
    listing = dict(draft, save_mode="LISTING")
    assert set(check(listing)) == {12052015, 12052028, 12052104, 12052081}


def test_attribute_value_id_wins_over_name() -> None:
    b = body(
        product_attributes=[
            {"id": "101610", "values": [{"id": "1029401", "name": "Non-Foldable"}]},
            {"id": "100198", "values": [{"name": "Wood"}]},
        ]
    )
    spec, problems = validate_product(US, b, lambda u: True, lambda s: None)
    # Foldable (by id) was chosen, so the conditional "Folded Dimensions" is now required.
    assert [c for c, _ in problems] == [12052104]
    assert spec["product_attributes"][0]["values"] == [{"id": "1029401", "name": "Foldable"}]


def test_custom_values_get_stable_ids() -> None:
    b = body(
        product_attributes=[
            {"id": "101610", "values": [{"name": "Non-Foldable"}]},
            {"id": "100198", "values": [{"name": "Bamboo"}]},
        ]
    )
    spec, problems = validate_product(US, b, lambda u: True, lambda s: None)
    assert problems == []
    (value,) = spec["product_attributes"][1]["values"]
    assert value == {"id": stable_value_id("100198", "Bamboo"), "name": "Bamboo"}
    # Echoing the custom id back (as a partial edit does) is accepted.
    b["product_attributes"][1]["values"] = [value]
    assert check(b) == []


def test_non_customizable_attribute_rejects_free_text() -> None:
    b = body(
        product_attributes=[
            {"id": "101610", "values": [{"name": "Half-Foldable"}]},
            {"id": "100198", "values": [{"name": "Wood"}]},
        ]
    )
    assert 12052105 in check(b)


def test_seller_sku_owned_by_another_product() -> None:
    assert check(body(), owner="other-product") == [12052056]
    _, problems = validate_product(US, body(), lambda u: True, lambda s: "me", product_id="me")
    assert problems == []


def test_us_only_units_in_the_uk() -> None:
    uk_body = body(
        category_id="604468",
        category_version="v1",
        skus=[{"seller_sku": "A", "price": {"amount": "1", "currency": "GBP"}}],
    )
    assert check(uk_body, UK) == [12052080]
    uk_body["package_weight"] = {"value": "1", "unit": "KILOGRAM"}
    uk_body["package_dimensions"]["unit"] = "CENTIMETER"
    assert check(uk_body, UK) == []


def test_identifier_code_lengths() -> None:
    for kind, code, ok in [
        ("GTIN", "1" * 14, True),
        ("EAN", "1" * 8, True),
        ("EAN", "1" * 12, False),
        ("UPC", "1" * 12, True),
        ("ISBN", "1" * 13, True),
        ("ISBN", "1" * 12 + "X", False),
    ]:
        b = body()
        b["skus"][0]["identifier_code"] = {"code": code, "type": kind}
        assert (check(b) == []) is ok, (kind, code)


def test_description_allows_the_documented_tags_only() -> None:
    allowed = "<p>a<br/><b>b</b><i>c</i><em>d</em><u>e</u><strong>f</strong></p><ol><li>x</li></ol><img src='x'>"
    assert check(body(description=allowed)) == []
    for tag in ("div", "span", "script", "h1", "a"):
        assert check(body(description=f"<{tag}>x</{tag}>")) == [12052013]


def test_malformed_sales_attributes_are_problems_not_crashes() -> None:
    b = body()
    b["skus"][0]["sales_attributes"] = ["Color", None, 7]
    assert check(b) == [12019030, 12019030, 12019030]


def test_title_rejects_chinese_characters() -> None:
    # "Create Product 202309" limits: title 1-255 chars in US/UK, no Chinese (12052051).
    assert check(body(title="Oak sofa 沙发")) == [12052051]
    assert check(body(title="Café sofa - ÆØÅ")) == []


def test_dimension_unit_is_checked_without_a_weight() -> None:
    # A draft may leave the weight out, but INCH stays US-only and units stay known
    # ("Create Product 202309").
    uk_draft = body(
        save_mode="AS_DRAFT",
        category_id="604468",
        category_version="v1",
        skus=[{"seller_sku": "A", "price": {"amount": "1", "currency": "GBP"}}],
    )
    del uk_draft["package_weight"]
    assert check(uk_draft, UK) == [12052080]
    uk_draft["package_dimensions"]["unit"] = "CENTIMETER"
    assert check(uk_draft, UK) == []
    us_draft = body(save_mode="AS_DRAFT")
    del us_draft["package_weight"]
    assert check(us_draft) == []
    us_draft["package_dimensions"]["unit"] = "METER"
    assert check(us_draft) == [12052080]
    # A listing without a weight reports both problems (listing_check lists them all).
    del us_draft["save_mode"]
    assert check(us_draft) == [12052081, 12052080]

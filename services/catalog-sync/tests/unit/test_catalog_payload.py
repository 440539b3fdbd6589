"""The delta export's payload builder: Shopify sample products -> TikTok bodies and hashes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from catalog_sync import naming as N
from catalog_sync.dataflow import group_variants
from catalog_sync.payload import (
    BuiltProduct,
    FieldChange,
    build_product,
    canonical_hash,
    diff,
)
from catalog_sync.payload_images import (
    ImageRequest,
    ImageUseCase,
    InMemoryImageResolver,
    image_requests,
)
from catalog_sync.sources import Row, parse_bytes
from tiktok_shop.models.products import ProductInput

DATA = Path(__file__).resolve().parent.parent / "data"
CDN = "https://burst.shopifycdn.com/photos/"
FIXTURES = ("apparel.csv", "home-and-garden.csv", "jewelery.csv")
# Official sample ids ("Create Product 202309"): warehouse, brand "Teas", leaf category.
WAREHOUSE = "7068517275539719942"
OTHER_WAREHOUSE = "7068517275539720101"
BRAND = "7082427311584347905"
CATEGORY = "605254"
MATERIAL = "product_attribute.Material#100198"
OCCASION = "product_attribute.Occasion#100392"
COLOR = N.sales_attribute("Color")

Rows = list[dict[str, str]]


def _products(name: str) -> dict[str, Rows]:
    items, _ = parse_bytes("shopify", (DATA / name).read_bytes())
    rows = []
    for item in items:
        assert isinstance(item, Row), item
        rows.append(item.data)
    return dict(group_variants(rows))


def _ready(rows: Rows, **extra: str) -> Rows:
    """The export attributes a dataflow adds to Shopify rows (category, brand, weight)."""
    base = {
        N.CATEGORY_ID: CATEGORY,
        N.BRAND_ID: BRAND,
        N.PACKAGE_WEIGHT: "0.5",
        N.PACKAGE_WEIGHT_UNIT: "KILOGRAM",
    }
    return [{**row, **base, **extra} for row in rows]


def _build(
    rows: Rows,
    market: str = "UK",
    resolver: InMemoryImageResolver | None = None,
    warehouse: str = WAREHOUSE,
) -> BuiltProduct:
    images = resolver or InMemoryImageResolver()
    images.prepare(image_requests(rows))
    return build_product(rows, market=market, warehouse_id=warehouse, images=images)


def _product(name: str, parent: str, **extra: str) -> Rows:
    return _ready(_products(name)[parent], **extra)


def _messages(built: BuiltProduct) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for issue in built.errors:
        out.setdefault(issue.attribute, []).append(issue.message)
    return out


# --- Shopify samples, both markets -----------------------------------------------------------


@pytest.mark.parametrize("market", ["US", "UK"])
@pytest.mark.parametrize("fixture", FIXTURES)
def test_every_sample_product_builds_a_valid_body(fixture: str, market: str) -> None:
    for parent, rows in _products(fixture).items():
        rows = _ready(rows)
        built = _build(rows, market)
        assert built.ok, (parent, built.errors)
        doc = built.document
        assert built.parent_id == parent
        assert doc["title"] == rows[0][N.PRODUCT_NAME].strip()
        assert doc["category_id"] == CATEGORY and doc["brand_id"] == BRAND
        assert doc["category_version"] == ("v2" if market == "US" else "v1")
        assert doc["package_weight"] == {"value": "0.5", "unit": "KILOGRAM"}
        images = N.split_multi(rows[0][N.IMAGES])
        assert len(doc["main_images"]) == min(len(images), 9) >= 1
        # One SKU per variant, in the feed's order, the seller SKU being the product_id.
        assert [s["seller_sku"] for s in doc["skus"]] == [r[N.PRODUCT_ID] for r in rows]
        assert list(built.skus) == [r[N.PRODUCT_ID] for r in rows]
        currency = "USD" if market == "US" else "GBP"
        for sku, row in zip(doc["skus"], rows, strict=True):
            assert sku["price"]["currency"] == currency
            assert sku["inventory"] == [
                {"warehouse_id": WAREHOUSE, "quantity": int(row[N.SKU_QUANTITY])}
            ]
        # The client model takes the document as is and sends it back unchanged.
        assert built.to_input().to_body() == doc
        assert len(built.content_hash) == 32


def test_variants_become_skus_with_sales_attributes() -> None:
    built = _build(_product("apparel.csv", "classic-varsity-top"), "US")
    assert built.ok, built.errors
    assert [(s["seller_sku"], s["sales_attributes"], s["price"]) for s in built.document["skus"]] == [
        (f"classic-varsity-top-{size.lower()}", [{"name": "Size", "value_name": size}],
         {"amount": "60.00", "currency": "USD"})
        for size in ("Small", "Medium", "Large")
    ]  # fmt: skip
    assert built.seller_skus == {
        "classic-varsity-top-small",
        "classic-varsity-top-medium",
        "classic-varsity-top-large",
    }


def test_description_keeps_only_the_tags_tiktok_allows() -> None:
    html = (
        '<div class="x"><p style="c">Hand <b>made</b> <span>clay</span></p>'
        "<script>alert(1)</script><ul><li>frost proof</li></ul></div>"
    )
    built = _build(_product("home-and-garden.csv", "clay-plant-pot", description=html))
    assert built.document["description"] == (
        "<p>Hand <b>made</b> clay</p> <ul><li>frost proof</li></ul>"
    )
    sample = _build(_product("home-and-garden.csv", "clay-plant-pot"))
    assert sample.document["description"] == "<p>Classic blown clay pot for plants</p>"


def test_sku_image_goes_to_the_sales_attribute_as_an_attribute_image() -> None:
    rows = _product("jewelery.csv", "chain-bracelet")
    resolver = InMemoryImageResolver()
    built = _build(rows, "UK", resolver)
    assert built.ok, built.errors
    main, second = N.split_multi(rows[0][N.IMAGES])
    assert resolver.uploads == [
        ImageRequest(main, ImageUseCase.MAIN_IMAGE),
        ImageRequest(second, ImageUseCase.MAIN_IMAGE),
        ImageRequest(f"{CDN}navy-blue-chakra-bracelet_925x.jpg", ImageUseCase.ATTRIBUTE_IMAGE),
        ImageRequest(f"{CDN}7-chakra-bracelet_925x.jpg", ImageUseCase.ATTRIBUTE_IMAGE),
    ]
    blue, black = built.document["skus"]
    assert blue["sales_attributes"] == [
        {
            "name": "Color",
            "value_name": "Blue",
            "sku_img": {
                "uri": resolver.uri(
                    f"{CDN}navy-blue-chakra-bracelet_925x.jpg", ImageUseCase.ATTRIBUTE_IMAGE
                )
            },
        }
    ]
    assert black["sales_attributes"][0]["value_name"] == "Black"
    assert built.document["main_images"] == [
        {"uri": resolver.uri(u, ImageUseCase.MAIN_IMAGE)} for u in (main, second)
    ]


def test_explicit_sales_attribute_image_wins_over_sku_image() -> None:
    rows = _product("jewelery.csv", "chain-bracelet")
    rows[0][N.sales_attribute_image("Color")] = "https://img.example/blue-swatch.png"
    resolver = InMemoryImageResolver()
    built = _build(rows, "UK", resolver)
    swatch = resolver.uri("https://img.example/blue-swatch.png", ImageUseCase.ATTRIBUTE_IMAGE)
    assert swatch is not None
    assert built.document["skus"][0]["sales_attributes"][0]["sku_img"] == {"uri": swatch}


# --- attributes ------------------------------------------------------------------------------


def test_predefined_and_free_text_multi_values() -> None:
    rows = _product(
        "apparel.csv",
        "ocean-blue-shirt",
        **{
            MATERIAL: "Cotton:::::1002000 #Linen blend#Cotton:::::1002000",
            OCCASION: "Birthday:::::1001533#Party:::::1001538",
            "product_attribute.Quantity Per Pack#100347": "2",
            "product_attribute.Empty#100400": "",
        },
    )
    built = _build(rows)
    assert built.ok, built.errors
    assert built.document["product_attributes"] == [
        {"id": "100198", "values": [{"id": "1002000"}, {"name": "Linen blend"}]},
        {"id": "100347", "values": [{"name": "2"}]},
        {"id": "100392", "values": [{"id": "1001533"}, {"id": "1001538"}]},
    ]


def test_predefined_sales_attribute_values_and_three_levels() -> None:
    rows = _product("apparel.csv", "classic-varsity-top")
    for row, size_id in zip(rows, ("1000201", "1000202", "1000203"), strict=True):
        row[COLOR] = "Red:::::1000100"
        row[N.sales_attribute("Size")] = f"{row[N.sales_attribute('Size')]}:::::{size_id}"
        row[N.sales_attribute("Fit")] = "Regular"
    built = _build(rows)
    assert built.ok, built.errors
    assert built.document["skus"][1]["sales_attributes"] == [
        {"name": "Color", "value_id": "1000100"},
        {"name": "Fit", "value_name": "Regular"},
        {"name": "Size", "value_id": "1000202"},
    ]
    for row in rows:
        row[N.sales_attribute("Style")] = "Classic"
    assert "4 variation levels" in _messages(_build(rows))[N.PARENT_ID][0]


def test_identifier_codes_with_and_without_type() -> None:
    rows = _product("home-and-garden.csv", "clay-plant-pot")
    rows[0][N.SKU_GTIN] = "012345678905"
    rows[1][N.SKU_GTIN] = "4006381333931"
    built = _build(rows)
    assert [s.get("identifier_code") for s in built.document["skus"]] == [
        {"code": "012345678905", "type": "UPC"},
        {"code": "4006381333931", "type": "EAN"},
    ]
    rows[1][N.SKU_GTIN_TYPE] = "isbn"
    assert _build(rows).document["skus"][1]["identifier_code"] == {
        "code": "4006381333931",
        "type": "ISBN",
    }
    rows[1][N.SKU_GTIN_TYPE] = "GTIN"
    bad = _build(rows)
    assert bad.errors[0].attribute == N.SKU_GTIN
    assert bad.errors[0].product_id == "clay-plant-pot-large"
    assert "a GTIN has 14 digits, not 13" in bad.errors[0].message


def test_package_units_per_market() -> None:
    dims = {N.PACKAGE_LENGTH: "30.0", N.PACKAGE_WIDTH: "20", N.PACKAGE_HEIGHT: "1E+1"}
    us = _build(_product("apparel.csv", "ocean-blue-shirt", **dims, package_weight_unit="POUND",
                         package_weight="1.50"), "US")  # fmt: skip
    assert us.ok, us.errors
    assert us.document["package_weight"] == {"value": "1.5", "unit": "POUND"}
    assert us.document["package_dimensions"] == {
        "length": "30", "width": "20", "height": "10", "unit": "INCH",
    }  # fmt: skip
    # UK: kilograms and centimetres only; a missing unit can only be KILOGRAM.
    uk = _build(_product("apparel.csv", "ocean-blue-shirt", **dims, package_weight_unit=""))
    assert uk.ok, uk.errors
    assert uk.document["package_weight"]["unit"] == "KILOGRAM"
    assert uk.document["package_dimensions"]["unit"] == "CENTIMETER"
    pound_uk = _build(_product("apparel.csv", "ocean-blue-shirt", package_weight_unit="POUND"))
    assert _messages(pound_uk) == {
        N.PACKAGE_WEIGHT_UNIT: ["POUND is not allowed in the UK market: use KILOGRAM"]
    }
    # US: kilograms or pounds, so a missing unit is not guessed; the dimension unit pairs.
    guess = _build(_product("apparel.csv", "ocean-blue-shirt", package_weight_unit=""), "US")
    assert N.PACKAGE_WEIGHT_UNIT in _messages(guess)
    paired = _build(_product("apparel.csv", "ocean-blue-shirt", **dims, package_weight_unit="",
                             package_dimension_unit="inch"), "US")  # fmt: skip
    assert paired.ok and paired.document["package_weight"]["unit"] == "POUND"
    mixed = _build(_product("apparel.csv", "ocean-blue-shirt", **dims,
                            package_dimension_unit="INCH"), "US")  # fmt: skip
    assert _messages(mixed) == {
        N.PACKAGE_DIMENSION_UNIT: ["INCH does not go with KILOGRAM: use CENTIMETER"]
    }


def test_inventory_per_warehouse_columns() -> None:
    rows = _product("home-and-garden.csv", "clay-plant-pot")
    rows[0][f"sku.quantity.{OTHER_WAREHOUSE}"] = "5"
    rows[1][f"sku.quantity.{WAREHOUSE}"] = "9"  # the warehouse's own column wins
    rows[1][N.SKU_QUANTITY] = "-2"
    built = _build(rows, "US")
    assert built.ok, built.errors
    assert built.skus["clay-plant-pot-regular"].inventory == [
        {"warehouse_id": WAREHOUSE, "quantity": 1},
        {"warehouse_id": OTHER_WAREHOUSE, "quantity": 5},
    ]
    assert built.skus["clay-plant-pot-large"].inventory == [
        {"warehouse_id": WAREHOUSE, "quantity": 9}
    ]
    rows[1].pop(f"sku.quantity.{WAREHOUSE}")
    clamped = _build(rows, "US")
    assert clamped.skus["clay-plant-pot-large"].inventory[0]["quantity"] == 0
    assert [(w.attribute, w.message) for w in clamped.warnings] == [
        (N.SKU_QUANTITY, "negative stock -2 is sent as 0")
    ]


def test_more_than_nine_images_sends_the_first_nine() -> None:
    urls = [f"https://img.example/{i}.jpg" for i in range(12)]
    rows = _product("apparel.csv", "ocean-blue-shirt", images="#".join(urls), main_image=urls[3])
    resolver = InMemoryImageResolver()
    built = _build(rows, resolver=resolver)
    assert built.ok
    expected = [urls[3], *urls[:3], *urls[4:9]]
    assert built.document["main_images"] == [
        {"uri": resolver.uri(u, ImageUseCase.MAIN_IMAGE)} for u in expected
    ]
    assert [w.message for w in built.warnings] == ["12 images, the first 9 are sent"]


# --- hashes ----------------------------------------------------------------------------------


def test_hashes_ignore_key_order_and_number_spelling() -> None:
    rows = _product(
        "jewelery.csv",
        "chain-bracelet",
        **{MATERIAL: "Leather:::::1002002#Beads", OCCASION: "Party"},
    )
    built = _build(rows)
    reordered = [dict(reversed(list(row.items()))) for row in rows]
    for row in reordered:
        row[N.PACKAGE_WEIGHT] = "0.500"
        row[N.SKU_PRICE] = f"{row[N.SKU_PRICE]}0"  # 42.99 -> 42.990
        row[N.SKU_QUANTITY] = f"{row[N.SKU_QUANTITY]}.0"
    again = _build(reordered)
    assert again.document == built.document
    assert again.hashes() == built.hashes()
    assert list(again.document["product_attributes"]) == list(built.document["product_attributes"])


def test_hashes_are_the_same_in_another_process() -> None:
    rows = _product("home-and-garden.csv", "clay-plant-pot")
    built = _build(rows)
    script = (
        "import json, sys\n"
        "from catalog_sync.payload import build_product\n"
        "from catalog_sync.payload_images import InMemoryImageResolver, image_requests\n"
        "rows = json.load(sys.stdin)\n"
        "r = InMemoryImageResolver(); r.prepare(image_requests(rows))\n"
        f"b = build_product(rows, market='UK', warehouse_id='{WAREHOUSE}', images=r)\n"
        "print(json.dumps(b.hashes()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(rows),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert json.loads(out.stdout) == built.hashes()


def test_canonical_hash_is_pinned() -> None:
    """Stored hashes must keep matching: a change of the canonical form (or of HASH_VERSION,
    bumped on purpose when the document changes shape) fails here first."""
    assert canonical_hash({"amount": "60.00", "currency": "GBP"}) == (
        "92a54513a0154ac5c70185cd508288a7"
    )
    assert canonical_hash({"b": [1, "2"], "a": {"amount": "1.00"}}) == canonical_hash(
        {"a": {"amount": "1.00"}, "b": [1, "2"]}
    )


def test_price_change_changes_only_that_skus_price_hash() -> None:
    rows = _product("home-and-garden.csv", "clay-plant-pot")
    before = _build(rows)
    rows[1][N.SKU_PRICE] = "14.99"
    after = _build(rows)
    assert after.content_hash == before.content_hash
    assert after.skus["clay-plant-pot-regular"] == before.skus["clay-plant-pot-regular"]
    large_before, large_after = (
        before.skus["clay-plant-pot-large"],
        after.skus["clay-plant-pot-large"],
    )
    assert large_after.price_hash != large_before.price_hash
    assert large_after.inventory_hash == large_before.inventory_hash
    assert diff(before.document, after.document) == [
        FieldChange("skus[clay-plant-pot-large].price.amount", "15.99", "14.99")
    ]
    assert after.price_update(
        {"clay-plant-pot-large": "1729"}, ["clay-plant-pot-large"]
    ).to_body() == {"skus": [{"id": "1729", "price": {"amount": "14.99", "currency": "GBP"}}]}


def test_stock_change_changes_only_that_skus_inventory_hash() -> None:
    rows = _product("home-and-garden.csv", "clay-plant-pot")
    before = _build(rows)
    rows[0][N.SKU_QUANTITY] = "40"
    after = _build(rows)
    assert after.content_hash == before.content_hash
    regular_before, regular_after = (
        before.skus["clay-plant-pot-regular"],
        after.skus["clay-plant-pot-regular"],
    )
    assert regular_after.price_hash == regular_before.price_hash
    assert regular_after.inventory_hash != regular_before.inventory_hash
    assert after.skus["clay-plant-pot-large"] == before.skus["clay-plant-pot-large"]
    assert diff(before.document, after.document) == [
        FieldChange(f"skus[clay-plant-pot-regular].inventory[{WAREHOUSE}].quantity", 1, 40)
    ]
    ids = {"clay-plant-pot-regular": "11", "clay-plant-pot-large": "12"}
    assert after.inventory_update(ids).to_body() == {
        "skus": [
            {"id": "11", "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 40}]},
            {"id": "12", "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 3}]},
        ]
    }
    with pytest.raises(KeyError, match="clay-plant-pot-large"):
        after.inventory_update({"clay-plant-pot-regular": "11"})


def test_removed_variant_changes_the_sku_set_and_the_content() -> None:
    rows = _product("apparel.csv", "classic-varsity-top")
    before = _build(rows)
    after = _build([rows[0], rows[2]])
    assert before.seller_skus - after.seller_skus == {"classic-varsity-top-medium"}
    assert after.content_hash != before.content_hash
    for sku in after.seller_skus:
        assert after.skus[sku] == before.skus[sku]
    changes = diff(before.document, after.document)
    assert [c.path for c in changes] == ["skus[classic-varsity-top-medium]"]
    assert changes[0].new is None and changes[0].old["seller_sku"] == "classic-varsity-top-medium"


def test_content_changes_change_the_content_hash() -> None:
    rows = _product("apparel.csv", "ocean-blue-shirt")
    base = _build(rows)
    retitled = _build(_ready(rows, product_name="Ocean Blue Shirt, slim fit"))
    assert retitled.content_hash != base.content_hash
    assert retitled.skus == base.skus
    assert diff(base.document, retitled.document) == [
        FieldChange("title", "Ocean Blue Shirt", "Ocean Blue Shirt, slim fit")
    ]
    attributed = _build(_ready(rows, **{OCCASION: "Birthday:::::1001533"}))
    assert attributed.content_hash != base.content_hash
    assert diff(base.document, attributed.document) == [
        FieldChange("product_attributes", None, [{"id": "100392", "values": [{"id": "1001533"}]}])
    ]


def test_new_picture_at_the_same_url_is_a_new_upload_and_an_edit() -> None:
    pictures = {"v": b"first"}
    resolver = InMemoryImageResolver(fetch=lambda url: pictures["v"] + url.encode())
    rows = _product("apparel.csv", "ocean-blue-shirt")
    first = _build(rows, resolver=resolver)
    same = _build(rows, resolver=resolver)
    assert len(resolver.uploads) == 1  # uploaded once per (URL, content hash)
    assert same.content_hash == first.content_hash
    pictures["v"] = b"second"
    changed = _build(rows, resolver=resolver)
    assert len(resolver.uploads) == 2
    assert changed.content_hash != first.content_hash
    assert changed.skus == first.skus
    assert [c.path for c in diff(first.document, changed.document)] == ["main_images"]


def test_diff_of_sku_order_and_added_sku() -> None:
    rows = _product("apparel.csv", "classic-varsity-top")
    before = _build(rows)
    after = _build([rows[2], rows[0], rows[1]])
    assert after.content_hash != before.content_hash  # TikTok shows SKUs in this order
    small, medium, large = (f"classic-varsity-top-{s}" for s in ("small", "medium", "large"))
    assert diff(before.document, after.document) == [
        FieldChange("skus", [small, medium, large], [large, small, medium])
    ]
    added = _build(rows[:2])
    assert diff(added.document, before.document) == [
        FieldChange(f"skus[{large}]", None, before.document["skus"][2])
    ]


def test_to_input_sets_the_tiktok_sku_ids_of_an_edit() -> None:
    built = _build(_product("apparel.csv", "classic-varsity-top"))
    body = built.to_input({"classic-varsity-top-small": "1729592969712207012"})
    assert isinstance(body, ProductInput)
    assert [s.id for s in body.skus] == ["1729592969712207012", None, None]
    assert built.document["skus"][0].get("id") is None  # the document is left as it was


# --- bad data --------------------------------------------------------------------------------


def test_bad_data_is_reported_not_raised() -> None:
    rows = _product("apparel.csv", "classic-varsity-top")
    rows[0].update(
        {
            N.PRODUCT_NAME: "",
            N.DESCRIPTION: "<p> </p>",
            N.CATEGORY_ID: "Sofas",
            N.BRAND_ID: "Teas",
            N.PACKAGE_WEIGHT_UNIT: "GRAM",
            N.PACKAGE_LENGTH: "10",
            N.SKU_PRICE: "60.005",
            N.SKU_CURRENCY: "EUR",
        }
    )
    rows[1].update({N.SKU_PRICE: "", N.SKU_QUANTITY: "lots", N.SKU_GTIN: "12-34"})
    rows[2].update({N.SKU_PRICE: "9000", N.sales_attribute("Size"): "Small"})
    built = _build(rows)
    assert not built.ok and built.content_hash == ""
    by_variant = {(e.attribute, e.product_id): e.message for e in built.errors}
    small, medium, large = (f"classic-varsity-top-{s}" for s in ("small", "medium", "large"))
    assert by_variant == {
        (N.PRODUCT_NAME, ""): "the title is required",
        (N.DESCRIPTION, ""): "the description is required",
        (N.CATEGORY_ID, ""): "'Sofas' is not a TikTok category id (digits)",
        (N.BRAND_ID, ""): "'Teas' is not a TikTok brand id (digits)",
        (N.PACKAGE_WEIGHT_UNIT, ""): "unknown unit 'GRAM': use KILOGRAM",
        (N.PACKAGE_WIDTH, ""): "length, width and height go together: this one is missing",
        (N.PACKAGE_HEIGHT, ""): "length, width and height go together: this one is missing",
        (N.SKU_CURRENCY, small): "EUR is not the market's currency: use GBP",
        (N.SKU_PRICE, small): "60.005 has more than 2 decimals",
        (N.SKU_PRICE, medium): "the price is required",
        (N.SKU_QUANTITY, medium): "'lots' is not a whole number",
        (N.SKU_GTIN, medium): "'12-34' is not an identifier code (digits)",
        (N.SKU_PRICE, large): "9000.00 is outside 0.01-5600 GBP",
        (N.PARENT_ID, large): (
            f"variants {small} and {large} have the same variation (Size=Small)"
        ),
    }
    with pytest.raises(ValueError, match="has errors"):
        built.to_input()


def test_missing_pieces_and_unresolved_images() -> None:
    rows = _product("jewelery.csv", "chain-bracelet")
    resolver = InMemoryImageResolver(fetch=lambda url: (_ for _ in ()).throw(OSError(url)))
    resolver.prepare(image_requests(rows))
    built = build_product(rows, market="US", warehouse_id="", images=resolver)
    assert {(e.attribute, e.product_id) for e in built.errors} == {
        (N.IMAGES, ""),
        (N.sales_attribute_image("Color"), "chain-bracelet-blue"),
        (N.sales_attribute_image("Color"), "chain-bracelet-black"),
        (N.SKU_QUANTITY, "chain-bracelet-blue"),
        (N.SKU_QUANTITY, "chain-bracelet-black"),
    }
    assert f"no uploaded TikTok image for {CDN}7-chakra-bracelet_925x.jpg" in [
        e.message for e in built.errors
    ]
    no_images = _build(_product("apparel.csv", "ocean-blue-shirt", images="", main_image=""))
    assert _messages(no_images) == {N.IMAGES: ["at least one image is required"]}
    no_weight = _build(_product("apparel.csv", "ocean-blue-shirt", package_weight=""))
    assert _messages(no_weight) == {N.PACKAGE_WEIGHT: ["the package weight is required"]}
    assert _messages(build_product([], market="UK", warehouse_id=WAREHOUSE, images=resolver)) == {
        N.PRODUCT_ID: ["no variant rows"]
    }


def test_variant_structure_errors() -> None:
    rows = _product("apparel.csv", "classic-varsity-top")
    rows[2][N.PRODUCT_ID] = rows[1][N.PRODUCT_ID]
    assert _messages(_build(rows)) == {
        N.PRODUCT_ID: ["the product_id appears twice in this product"]
    }
    rows = _product("apparel.csv", "classic-varsity-top")
    rows[1][COLOR] = "Grey"
    assert "variants differ in their sales attributes" in _messages(_build(rows))[N.PARENT_ID][0]
    long_sku = _product("apparel.csv", "ocean-blue-shirt", product_id="x" * 51)
    assert "at most 50" in _messages(_build(long_sku))[N.PRODUCT_ID][0]
    too_many = [
        {**rows[0], N.PRODUCT_ID: f"v{i}", N.sales_attribute("Size"): f"S{i}"} for i in range(101)
    ]
    assert "101 SKUs, at most 100" in _messages(_build(too_many))[N.PARENT_ID]
    chinese = _product("apparel.csv", "ocean-blue-shirt", product_name="Shirt 衬衫")
    assert _messages(_build(chinese)) == {
        N.PRODUCT_NAME: ["Chinese characters are not allowed in the title"]
    }


def test_duplicate_attribute_id_and_bad_names() -> None:
    rows = _product(
        "apparel.csv",
        "ocean-blue-shirt",
        **{MATERIAL: "Cotton", "product_attribute.Materials#100198": "Linen",
           "product_attribute.NoId": "x", N.sales_attribute("A very long variation name"): "x"},
    )  # fmt: skip
    built = _build(rows)
    assert {e.attribute for e in built.errors} == {
        "product_attribute.Materials#100198",
        N.sales_attribute("A very long variation name"),
    }
    assert [w.attribute for w in built.warnings] == ["product_attribute.NoId"]


def test_unknown_market_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="unknown market"):
        build_product([], market="DE", warehouse_id=WAREHOUSE, images=InMemoryImageResolver())

"""`format=shopify`: the three Shopify sample exports load as is, variants and images merged."""

from __future__ import annotations

import gzip
from collections import defaultdict
from pathlib import Path

import pytest
from catalog_sync.sources import (
    Parsed,
    Refused,
    Row,
    SourceError,
    Summary,
    open_parser,
    parse_bytes,
)
from catalog_sync.sources.shopify_format import derived_product_id, kilograms, slug

DATA = Path(__file__).resolve().parent.parent / "data"
CDN = "https://burst.shopifycdn.com/photos/"


def _load(name: str, chunk: int = 1 << 16) -> tuple[list[Parsed], Summary]:
    return parse_bytes("shopify", (DATA / name).read_bytes(), chunk_size=chunk)


def _products(items: list[Parsed]) -> dict[str, list[Row]]:
    products: dict[str, list[Row]] = defaultdict(list)
    for item in items:
        assert isinstance(item, Row), item
        products[item.data["parent_id"]].append(item)
    return products


# Counted by reading the files: rows per handle, variant rows (the first row of a handle
# and every row with option values or Variant columns), image rows (Image Src set).
EXPECTED = {
    "apparel.csv": {
        "products": 20,
        "variants": 22,
        "merged": 0,
        "multi": {"classic-varsity-top": 3},
        "images": {},  # every product has exactly one image
    },
    "home-and-garden.csv": {
        "products": 20,
        "variants": 21,
        "merged": 0,
        "multi": {"clay-plant-pot": 2},
        "images": {"clay-plant-pot": 2},
    },
    "jewelery.csv": {
        "products": 20,
        "variants": 23,
        "merged": 18,
        "multi": {"chain-bracelet": 2, "leather-anchor": 2, "gemstone": 2},
        "images": {
            "chain-bracelet": 2,
            "leather-anchor": 3,
            "boho-earrings": 3,
            "choker-with-bead": 2,
            "choker-with-gold-pendant": 2,
            "dainty-gold-neclace": 2,
            "dreamcatcher-pendant-necklace": 2,
            "gemstone": 4,
            "guardian-angel-earrings": 2,
            "moon-charm-bracelet": 3,
            "origami-crane-necklace": 4,
            "pretty-gold-necklace": 3,
            "silver-threader-necklace": 2,
        },
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_exports_load_with_the_expected_counts(name: str) -> None:
    expected = EXPECTED[name]
    items, summary = _load(name)
    products = _products(items)
    assert len(products) == expected["products"]
    assert sum(len(v) for v in products.values()) == expected["variants"]
    assert summary.emitted == expected["variants"]
    assert summary.merged == expected["merged"]
    assert summary.refused_total == 0
    assert summary.rows_read == expected["variants"] + expected["merged"]
    multi = {handle: len(rows) for handle, rows in products.items() if len(rows) > 1}
    assert multi == expected["multi"]
    images = {handle: len(rows[0].data["images"].split("#")) for handle, rows in products.items()}
    assert {h: n for h, n in images.items() if n != 1} == expected["images"]
    for rows in products.values():
        # Shared attributes are the same on every variant of a product.
        shared = ("parent_id", "product_name", "description", "brand_name", "images")
        assert len({tuple(r.data[k] for k in shared) for r in rows}) == 1
        assert rows[0].data["main_image"] == rows[0].data["images"].split("#")[0]
        assert rows[0].data["product_name"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_chunk_boundaries_and_gzip_change_nothing(name: str) -> None:
    reference, summary = _load(name, 1 << 20)
    for chunk in (1, 7, 1 << 16):
        assert _load(name, chunk) == (reference, summary)
    zipped = gzip.compress((DATA / name).read_bytes())
    assert parse_bytes("shopify", zipped, chunk_size=7) == (reference, summary)


def test_variant_rows_inherit_the_product_and_get_sales_attributes() -> None:
    items, _ = _load("apparel.csv")
    rows = _products(items)["classic-varsity-top"]
    assert [(r.line, r.data["product_id"]) for r in rows] == [
        (3, "classic-varsity-top-small"),
        (4, "classic-varsity-top-medium"),
        (5, "classic-varsity-top-large"),
    ]
    medium = rows[1].data
    assert medium["sku.sales_attribute.Size"] == "Medium"
    assert medium["product_name"] == "Classic Varsity Top"
    assert medium["brand_name"] == "partners-demo"
    assert medium["description"].startswith("Womens casual varsity top")
    # The original columns stay, the empty product columns filled from the first row.
    assert medium["Title"] == "Classic Varsity Top"
    assert medium["Tags"] == "women"
    assert medium["Option1 Name"] == "Size"
    assert medium["Option1 Value"] == "Medium"
    assert medium["Variant Price"] == medium["sku.price"] == "60"
    assert medium["sku.quantity"] == "1"
    assert medium["sku.seller_sku"] == "classic-varsity-top-medium"
    assert medium["images"] == CDN + "casual-fashion-woman_925x.jpg"
    # Image columns belong to the row they are on: not inherited.
    assert medium["Image Src"] == ""


def test_a_product_without_variants_is_its_own_parent_without_sales_attributes() -> None:
    items, _ = _load("apparel.csv")
    (row,) = _products(items)["ocean-blue-shirt"]
    assert row.line == 2
    assert row.data["product_id"] == row.data["parent_id"] == "ocean-blue-shirt"
    assert not [k for k in row.data if k.startswith("sku.sales_attribute.")]
    assert row.data["Option1 Value"] == "Default Title"
    assert row.data["sku.price"] == "50"
    assert row.data["Variant Compare At Price"] == ""
    assert row.data["package_weight"] == ""  # Variant Grams 0: no weight set


def test_images_follow_image_position_and_variant_images_are_sku_images() -> None:
    items, _ = _load("jewelery.csv")
    blue, purple = _products(items)["gemstone"]
    assert blue.data["images"].split("#") == [
        CDN + "blue-gemstone-pendant_925x.jpg",
        CDN + "gemstone-necklace_925x.jpg",
        CDN + "womens-necklace_925x.jpg",
        CDN + "purple-gemstone-necklace_925x.jpg",
    ]
    assert blue.data["main_image"] == CDN + "blue-gemstone-pendant_925x.jpg"
    assert blue.data["sku.image"] == CDN + "blue-gemstone-pendant_925x.jpg"
    assert purple.data["sku.image"] == CDN + "purple-gemstone-necklace_925x.jpg"
    assert purple.data["sku.sales_attribute.Colour"] == "Purple"
    assert (blue.line, purple.line) == (29, 36)  # gemstone's description spans 7 lines


def test_multiline_description_keeps_its_line_breaks_and_later_lines_stay_right() -> None:
    items, _ = _load("jewelery.csv")
    products = _products(items)
    (pendant,) = products["choker-with-gold-pendant"]
    assert pendant.line == 14
    assert pendant.data["description"].count("\n") == 7
    assert '<li>Length, 12" with 2.5" extender</li>' in pendant.data["description"]
    assert products["choker-with-triangle"][0].line == 23
    assert products["stylish-summer-neclace"][0].line == 55


def test_weight_in_grams_becomes_kilograms() -> None:
    items, _ = _load("jewelery.csv")
    (earrings,) = _products(items)["boho-earrings"]
    assert earrings.data["Variant Grams"] == "28"
    assert earrings.data["Variant Weight Unit"] == "oz"  # a display unit only
    assert earrings.data["package_weight"] == "0.028"
    assert earrings.data["package_weight_unit"] == "KILOGRAM"
    assert [kilograms(g) for g in ("1500", "0.4", "0", "", "abc", "-3", "NaN")] == [
        "1.5",
        "0.001",
        "",
        "",
        "",
        "",
        "",
    ]


def test_home_and_garden_prices_stock_and_extra_columns() -> None:
    items, _ = _load("home-and-garden.csv")
    regular, large = _products(items)["clay-plant-pot"]
    assert (regular.data["sku.price"], regular.data["sku.quantity"]) == ("9.99", "1")
    assert (large.data["sku.price"], large.data["sku.quantity"]) == ("15.99", "3")
    assert large.data["sku.sales_attribute.Size"] == "Large"
    assert large.data["Type"] == "Outdoor"  # inherited
    assert "Cost per item" in large.data  # a column only this export has
    (armchair,) = _products(items)["pink-armchair"]
    assert armchair.data["images"] == CDN + "soft-pink-cushioned-armchair-in-stately-salon_925x.jpg"


HEADER = (
    "Handle,Title,Body (HTML),Vendor,Tags,Option1 Name,Option1 Value,Option2 Name,"
    "Option2 Value,Variant SKU,Variant Price,Variant Inventory Qty,Variant Barcode,"
    "Image Src,Image Position,Variant Image,Status\n"
)


def _shopify(body: str) -> tuple[list[Parsed], Summary]:
    return parse_bytes("shopify", (HEADER + body).encode())


def test_variant_sku_is_the_product_id_and_duplicates_are_refused() -> None:
    items, summary = _shopify(
        "tee,Tee,<p>Tee</p>,Acme,basics,Size,S,Color,Red,TEE-S-RED,10,5,4006381333931,"
        "https://x/tee-2.jpg,2,,active\n"
        "tee,,,,,,M,,Red,TEE-M-RED,11,0,,https://x/tee-1.jpg,1,https://x/m.jpg,\n"
        "tee,,,,,,L,,Red,TEE-S-RED,12,1,,,,,\n"
    )
    s_red, m_red, dup = items
    assert isinstance(s_red, Row) and isinstance(m_red, Row)
    assert s_red.data["product_id"] == "TEE-S-RED"
    assert s_red.data["sku.gtin"] == "4006381333931"
    assert s_red.data["sku.sales_attribute.Size"] == "S"
    assert s_red.data["sku.sales_attribute.Color"] == "Red"
    assert m_red.data["sku.image"] == "https://x/m.jpg"
    assert m_red.data["Status"] == "active"  # inherited
    assert m_red.data["images"] == "https://x/tee-1.jpg#https://x/tee-2.jpg"
    assert dup == Refused(4, "duplicate_product_id: product_id already on line 2", "TEE-S-RED")
    assert dict(summary.refused) == {"duplicate_product_id": 1}


def test_derived_product_ids_are_deterministic_and_distinct() -> None:
    assert derived_product_id("tee", []) == "tee"
    assert derived_product_id("tee", ["Extra Large", "Navy/Blue"]) == "tee-extra-large-navy-blue"
    assert derived_product_id("tee", ["★"]) == derived_product_id("tee", ["★"])
    assert derived_product_id("tee", ["★"]).startswith("tee-")
    assert slug(" Größe XL ") == "größe-xl"
    items, _ = _shopify("tee,Tee,,,,Size,S/M,,,,10,1,,,,,\ntee,,,,,,S M,,,,10,1,,,,,\n")
    ids = [i.data["product_id"] for i in items if isinstance(i, Row)]
    assert ids[0] == "tee-s-m"
    assert ids[1].startswith("tee-s-m-") and len(ids) == 2


def test_a_refused_shopify_row_names_its_csv_line() -> None:
    data = (DATA / "jewelery.csv").read_bytes().split(b"\n")
    assert data[36].startswith(b"gemstone,") and data[36].endswith(b"\r")  # CRLF export
    data[36] = data[36][:-1] + b",one too many\r"  # line 37: an image row of gemstone
    items, summary = parse_bytes("shopify", b"\n".join(data), chunk_size=7)
    refused = [i for i in items if isinstance(i, Refused)]
    assert [(r.line, r.code) for r in refused] == [(37, "field_count")]
    gemstone = [i for i in items if isinstance(i, Row) and i.data["parent_id"] == "gemstone"]
    assert len(gemstone[0].data["images"].split("#")) == 3
    assert summary.emitted == 23
    assert summary.rows_read == summary.emitted + summary.merged + summary.refused_total


def test_rows_of_a_handle_must_be_contiguous_and_have_a_handle() -> None:
    items, summary = _shopify(
        "a,A,,,,Title,Default Title,,,,1,1,,,,,\n"
        "b,B,,,,Title,Default Title,,,,1,1,,,,,\n"
        "a,,,,,,,,,,,,,https://x/a2.jpg,2,,\n"
        ",C,,,,Title,Default Title,,,,1,1,,,,,\n"
        "d,D,,,,Title,Default Title,,,,1,1,,,,,\n"
        "d,,,,,,,,,,,,,,,,\n"
    )
    assert [(i.line, i.code if isinstance(i, Refused) else "row") for i in items] == [
        (2, "row"),
        (3, "row"),
        (4, "handle_not_contiguous"),
        (5, "missing_handle"),
        (7, "empty_row"),
        (6, "row"),
    ]
    assert "started on line 2" in items[2].reason  # type: ignore[union-attr]
    assert summary.rows_read == 6


def test_a_handle_is_emitted_when_the_next_one_starts() -> None:
    parser = open_parser("shopify")
    assert parser.feed(HEADER.encode()) == []
    assert parser.feed(b"a,A,,,,Size,S,,,,1,1,,,,,\na,,,,,,M,,,,1,1,,,,,\n") == []
    emitted = parser.feed(b"b,B,,,,Title,Default Title,,,,1,1,,,,,\n")
    assert [(i.line, i.data["product_id"]) for i in emitted if isinstance(i, Row)] == [
        (2, "a-s"),
        (3, "a-m"),
    ]
    assert [i.data["product_id"] for i in parser.close() if isinstance(i, Row)] == ["b"]


def test_a_csv_without_handle_column_is_not_a_shopify_export() -> None:
    with pytest.raises(SourceError, match="no 'Handle' column"):
        parse_bytes("shopify", b"product_id,name\na,b\n")

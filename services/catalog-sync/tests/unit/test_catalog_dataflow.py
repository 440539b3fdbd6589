"""The dataflow engine: stages, the TikTok Shop setup end to end, the preview trace, grouping."""

from __future__ import annotations

from typing import Any

import pytest
from catalog_sync.dataflow import (
    Dataflow,
    TraceStep,
    UnclusteredRowsError,
    group_variants,
)
from catalog_sync.naming import predefined
from catalog_sync.rules import RuleContext
from pydantic import ValidationError

CATEGORY_TERM = "600621|Home Supplies>Home Organizers>Storage Boxes & Bins"

# The TikTok Shop export setup: category id and path in the intermediate stage, brand id and
# a predefined value in the export stage, images appended then cleaned.
SETUP: dict[str, Any] = {
    "intermediate": [
        {
            "target": "category_id",
            "source": "Type",
            "rules": [
                {"type": "taxonomy_mapping", "list": "uk-categories"},
                {"type": "split_string", "splitter": "|", "from": 0, "items": 1},
            ],
        },
        {
            "target": "category_path",
            "source": "Type",
            "rules": [
                {"type": "taxonomy_mapping", "list": "uk-categories"},
                {"type": "split_string", "splitter": "|", "from": 1, "items": 1},
            ],
        },
        {
            "target": "images",
            "source": "Image Src",
            "rules": [
                {"type": "append_column", "column": "Image 2", "text": "#"},
                {"type": "append_column", "column": "Image 3", "text": "#"},
                {"type": "text_replace", "search_for": " #", "replace_by": "#"},
            ],
        },
        {"target": "Title", "rules": [{"type": "trim", "collapse": True}]},
    ],
    "export": [
        {"attribute": "product_id", "source": "Variant SKU"},
        {"attribute": "parent_id", "source": "Handle"},
        {"attribute": "product_name", "source": "Title"},
        {"attribute": "category_id"},
        {"attribute": "category_path"},
        {
            "attribute": "brand_id",
            "source": "Vendor",
            "rules": [
                {"type": "taxonomy_mapping", "list": "brands"},
                {"type": "split_string", "splitter": "|", "from": 0, "items": 1},
            ],
        },
        {"attribute": "images"},
        {
            "attribute": "product_attribute.Foldable Furniture#100887",
            "source": "Foldable",
            "rules": [
                {"type": "taxonomy_mapping", "list": "non-customized"},
                {"type": "split_string", "splitter": "|", "from": 1, "items": 1},
            ],
        },
        {
            "attribute": "sku.price",
            "source": "Variant Price",
            "rules": [{"type": "price_format"}],
        },
        {
            "attribute": "sku.currency",
            "source": "",
            "rules": [{"type": "static_value", "value": "GBP"}],
        },
    ],
}
LISTS = {
    "uk-categories": {"Storage": CATEGORY_TERM},
    "brands": {"Company 123": "7082427311584347905|Company 123"},
    "non-customized": {
        "yes": "100887|Foldable:::::1002263",
        "no": "100887|Non-Foldable:::::1004668",
    },
}
ROW = {
    "Handle": "storage-box",
    "Variant SKU": "BOX-1",
    "Title": "  Storage   box ",
    "Type": "Storage",
    "Vendor": "Company 123",
    "Foldable": "yes",
    "Image Src": "https://cdn/1.jpg",
    "Image 2": "https://cdn/2.jpg",
    "Image 3": "https://cdn/3.jpg",
    "Variant Price": "£1,234.5",
}


def compiled(data: dict[str, Any] = SETUP, lists: dict[str, dict[str, str]] = LISTS) -> Any:
    return Dataflow.model_validate(data).compile(RuleContext.from_lists(lists))


def test_tiktok_shop_setup_end_to_end() -> None:
    assert compiled().transform(ROW) == {
        "product_id": "BOX-1",
        "parent_id": "storage-box",
        "product_name": "Storage box",
        "category_id": "600621",
        "category_path": "Home Supplies>Home Organizers>Storage Boxes & Bins",
        "brand_id": "7082427311584347905",
        "images": "https://cdn/1.jpg#https://cdn/2.jpg#https://cdn/3.jpg",
        "product_attribute.Foldable Furniture#100887": predefined("Foldable", 1002263),
        "sku.price": "1234.50",
        "sku.currency": "GBP",
    }


def test_export_has_exactly_the_declared_attributes_in_order() -> None:
    out = compiled().transform({**ROW, "Extra column": "not exported"})
    assert list(out) == [m["attribute"] for m in SETUP["export"]]
    assert "Extra column" not in out
    assert "Image 2" not in out


def test_missing_source_columns_export_as_empty() -> None:
    out = compiled().transform({"Handle": "h"})
    assert out["parent_id"] == "h"
    assert out["product_id"] == ""
    assert out["images"] == ""
    assert out["sku.price"] == ""
    assert out["sku.currency"] == "GBP"


def test_transform_leaves_the_import_row_untouched() -> None:
    row = dict(ROW)
    compiled().transform(row)
    assert row == ROW


def test_intermediate_passes_import_columns_through_and_adds_or_overrides() -> None:
    df = compiled()
    inter = df.intermediate(ROW)
    assert inter["Vendor"] == "Company 123"  # passed through
    assert inter["Image 2"] == "https://cdn/2.jpg"
    assert inter["category_id"] == "600621"  # added
    assert inter["Title"] == "Storage box"  # overridden in place
    no_mappings = Dataflow.model_validate({"export": [{"attribute": "product_id"}]}).compile()
    assert no_mappings.intermediate(ROW) is ROW  # nothing to compute, nothing copied


def test_intermediate_boxes_read_the_import_row_and_export_boxes_the_intermediate_row() -> None:
    df = compiled(
        {
            "intermediate": [
                {"target": "a", "rules": [{"type": "static_value", "value": "A2"}]},
                {
                    "target": "b",
                    "rules": [{"type": "append_column", "column": "a", "whitespace": False}],
                },
            ],
            "export": [
                {
                    "attribute": "b_then_a",
                    "source": "b",
                    "rules": [{"type": "append_column", "column": "a", "whitespace": False}],
                }
            ],
        },
        {},
    )
    # Intermediate "b" appends the IMPORT value of "a"; the export box sees intermediate "a".
    assert df.transform({"a": "A1", "b": "B"}) == {"b_then_a": "BA1A2"}


def test_unmapped_values_are_reported_to_the_context() -> None:
    ctx = RuleContext.from_lists(LISTS)
    df = Dataflow.model_validate(SETUP).compile(ctx)
    out = df.transform({**ROW, "Type": "Garden", "Vendor": "Nobody"})
    assert out["category_id"] == ""
    assert out["category_path"] == ""
    assert out["brand_id"] == ""
    assert ctx.unmapped == {"uk-categories": {"Garden"}, "brands": {"Nobody"}}


def test_dataflow_round_trips_through_plain_data() -> None:
    df = Dataflow.model_validate(SETUP)
    again = Dataflow.model_validate(df.model_dump(by_alias=True))
    assert again == df
    assert again.compile(RuleContext.from_lists(LISTS)).transform(ROW) == compiled().transform(ROW)


@pytest.mark.parametrize(
    "data",
    [
        {"export": [{"attribute": "sku.price"}, {"attribute": "sku.price", "source": "x"}]},
        {"intermediate": [{"target": "t"}, {"target": "t"}]},
    ],
)
def test_a_name_mapped_twice_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="mapped twice"):
        Dataflow.model_validate(data)


def test_a_bad_rule_box_fails_the_whole_dataflow_at_load_naming_where() -> None:
    bad = {
        "export": [
            {"attribute": "ok"},
            {"attribute": "x", "rules": [{"type": "regex_replace", "pattern": "("}]},
        ]
    }
    with pytest.raises(ValidationError) as exc:
        Dataflow.model_validate(bad)
    assert [e["loc"] for e in exc.value.errors()] == [
        ("export", 1, "rules", 0, "regex_replace", "pattern")
    ]


def test_trace_shows_each_stage_and_the_rule_box_that_changed_the_value() -> None:
    traces = dict(compiled().trace(ROW))
    assert traces["category_id"] == [
        TraceStep("import", "Storage", None),
        TraceStep("intermediate", CATEGORY_TERM, "#1 Taxonomy Mapping"),
        TraceStep("intermediate", "600621", "#2 Split String"),
        TraceStep("export", "600621", None),
    ]
    assert traces["images"] == [
        TraceStep("import", "https://cdn/1.jpg", None),
        TraceStep("intermediate", "https://cdn/1.jpg #https://cdn/2.jpg", "#1 Append Column"),
        TraceStep(
            "intermediate",
            "https://cdn/1.jpg #https://cdn/2.jpg #https://cdn/3.jpg",
            "#2 Append Column",
        ),
        TraceStep(
            "intermediate",
            "https://cdn/1.jpg#https://cdn/2.jpg#https://cdn/3.jpg",
            "#3 Text Replace",
        ),
        TraceStep("export", "https://cdn/1.jpg#https://cdn/2.jpg#https://cdn/3.jpg", None),
    ]
    assert traces["brand_id"] == [
        TraceStep("import", "Company 123", None),
        TraceStep("intermediate", "Company 123", None),
        TraceStep("export", "7082427311584347905|Company 123", "#1 Taxonomy Mapping"),
        TraceStep("export", "7082427311584347905", "#2 Split String"),
    ]
    assert traces["parent_id"] == [
        TraceStep("import", "storage-box", None),
        TraceStep("intermediate", "storage-box", None),
        TraceStep("export", "storage-box", None),
    ]


def test_trace_skips_rule_boxes_that_changed_nothing() -> None:
    df = compiled(
        {
            "export": [
                {"attribute": "t", "rules": [{"type": "trim"}, {"type": "case", "mode": "upper"}]}
            ]
        },
        {},
    )
    assert dict(df.trace({"t": "ABC"}))["t"] == [
        TraceStep("import", "ABC", None),
        TraceStep("intermediate", "ABC", None),
        TraceStep("export", "ABC", None),
    ]
    assert dict(df.trace({"t": " ABC "}))["t"][-1] == TraceStep("export", "ABC", "#1 Trim")


@pytest.mark.parametrize(
    "row",
    [ROW, {}, {**ROW, "Type": "Garden", "Image 3": ""}, {k: v.upper() for k, v in ROW.items()}],
)
def test_trace_ends_on_the_transformed_value(row: dict[str, str]) -> None:
    df = compiled()
    out = df.transform(row)
    traces = df.trace(row)
    assert [attr for attr, _ in traces] == list(out)
    for attr, steps in traces:
        assert steps[0].stage == "import"
        assert steps[-1].stage == "export"
        assert steps[-1].value == out[attr]


def test_lineage_names_the_columns_an_attribute_comes_from() -> None:
    lineage = compiled().lineage()
    assert lineage["category_id"] == ("Type", "category_id")
    assert lineage["product_name"] == ("Title", "Title")
    assert lineage["sku.price"] == ("Variant Price", "Variant Price")


# --- Real Shopify rows (home-and-garden sample export): variant rows carry only their own
# --- columns, the first row of a handle carries the product's.

SHOPIFY_ROWS = [
    {
        "Handle": "clay-plant-pot",
        "Title": "Clay Plant Pot",
        "Body (HTML)": "<p>Classic blown clay pot for plants</p>",
        "Vendor": "Company 123",
        "Type": "Outdoor",
        "Option1 Name": "Size",
        "Option1 Value": "Regular",
        "Variant Price": "9.99",
        "Image Src": "https://burst.shopifycdn.com/photos/single-sprout-in-a-pot_925x.jpg",
    },
    {
        "Handle": "clay-plant-pot",
        "Title": "",
        "Body (HTML)": "",
        "Vendor": "",
        "Type": "",
        "Option1 Name": "",
        "Option1 Value": "Large",
        "Variant Price": "15.99",
        "Image Src": "https://burst.shopifycdn.com/photos/pot-with-a-single-sprout_925x.jpg",
    },
    {
        "Handle": "copper-light",
        "Title": "Copper Light",
        "Body (HTML)": "<p>Stylish copper bedside light</p>",
        "Vendor": "Company 123",
        "Type": "Indoor",
        "Option1 Name": "Title",
        "Option1 Value": "Default Title",
        "Variant Price": "59.99",
        "Image Src": "https://burst.shopifycdn.com/photos/copper-light-in-bedroom_925x.jpg",
    },
]
SHOPIFY_FLOW: dict[str, Any] = {
    "export": [
        {
            "attribute": "product_id",
            "source": "Handle",
            "rules": [
                {
                    "type": "append_column",
                    "column": "Option1 Value",
                    "text": "-",
                    "whitespace": False,
                }
            ],
        },
        {"attribute": "parent_id", "source": "Handle"},
        {"attribute": "product_name", "source": "Title"},
        {"attribute": "description", "source": "Body (HTML)", "rules": [{"type": "strip_html"}]},
        {"attribute": "main_image", "source": "Image Src"},
        {"attribute": "sku.price", "source": "Variant Price", "rules": [{"type": "price_format"}]},
        {"attribute": "sku.sales_attribute.Size", "source": "Option1 Value"},
        {"attribute": "sku.image", "source": "Image Src"},
    ]
}


def test_shopify_variants_group_into_products_with_the_main_rows_shared_attributes() -> None:
    df = compiled(SHOPIFY_FLOW, {})
    products = list(group_variants(df.transform(r) for r in SHOPIFY_ROWS))
    assert [(parent, [v["product_id"] for v in variants]) for parent, variants in products] == [
        ("clay-plant-pot", ["clay-plant-pot-Regular", "clay-plant-pot-Large"]),
        ("copper-light", ["copper-light-Default Title"]),
    ]
    main, large = products[0][1]
    # Shared attributes come from the main row, even where the variant row had them empty.
    assert large["product_name"] == main["product_name"] == "Clay Plant Pot"
    assert large["description"] == "Classic blown clay pot for plants"
    assert large["main_image"] == main["main_image"]
    # sku.* and product_id stay the variant's own.
    assert large["sku.price"] == "15.99"
    assert large["sku.sales_attribute.Size"] == "Large"
    assert large["sku.image"].endswith("pot-with-a-single-sprout_925x.jpg")
    assert main["sku.image"].endswith("single-sprout-in-a-pot_925x.jpg")


# --- group_variants --------------------------------------------------------------------------


def test_group_variants_main_row_supplies_shared_attributes() -> None:
    rows = [
        {"product_id": "1", "parent_id": "P", "product_name": "Shirt", "sku.price": "10"},
        {"product_id": "2", "parent_id": "P", "product_name": "Other", "sku.price": "12", "x": "y"},
        {"product_id": "3", "parent_id": "Q", "product_name": "Hat", "sku.price": "5"},
    ]
    groups = list(group_variants(rows))
    assert [key for key, _ in groups] == ["P", "Q"]
    first, second = groups[0][1]
    assert first is rows[0]
    assert second == {
        "product_id": "2",
        "parent_id": "P",
        "product_name": "Shirt",
        "sku.price": "12",
    }
    assert rows[1]["product_name"] == "Other"  # input not modified
    assert groups[1][1] == [rows[2]]


def test_group_variants_without_parent_id_uses_product_id() -> None:
    rows = [
        {"product_id": "A", "parent_id": "", "sku.price": "1"},
        {"product_id": "B", "sku.price": "2"},
        {"product_id": "", "parent_id": "", "sku.price": "3"},
        {"product_id": "", "sku.price": "4"},
    ]
    groups = list(group_variants(rows))
    assert [(key, len(variants)) for key, variants in groups] == [
        ("A", 1),
        ("B", 1),
        ("", 1),
        ("", 1),
    ]


def test_group_variants_refuses_unclustered_rows() -> None:
    rows = [
        {"product_id": "1", "parent_id": "P"},
        {"product_id": "2", "parent_id": "Q"},
        {"product_id": "3", "parent_id": "P"},
    ]
    with pytest.raises(UnclusteredRowsError, match="'P'"):
        list(group_variants(rows))
    assert [key for key, _ in group_variants(rows, check_clustered=False)] == ["P", "Q", "P"]


def test_group_variants_empty_input_and_laziness() -> None:
    assert list(group_variants([])) == []

    def endless() -> Any:
        i = 0
        while True:
            yield {"product_id": str(i), "parent_id": str(i // 2)}
            i += 1

    groups = group_variants(endless())
    assert next(groups) == (
        "0",
        [{"product_id": "0", "parent_id": "0"}, {"parent_id": "0", "product_id": "1"}],
    )
    assert next(groups)[0] == "1"

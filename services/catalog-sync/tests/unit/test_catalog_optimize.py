"""Data optimization: row filters, parent_id derivation, parent rows filling their variants."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from catalog_sync.optimize import (
    PARENT_ONLY,
    PARENT_WITHOUT_VARIANTS,
    Optimization,
    Optimizer,
    compile_conditions,
    group_rows,
    optimize_rows,
)
from catalog_sync.sources import Row, SourceOptions, parse_bytes
from pydantic import ValidationError

DATA = Path(__file__).resolve().parent.parent / "data"

# As a feed file would hold it (YAML → dict).
WOO_CONFIG = {
    "parent_id_from": {"column": "Parent"},
    "exclude": [
        {"name": "draft", "when": [{"kind": "in", "column": "Published", "values": ["0", "-1"]}]},
        {
            "name": "variation without price",
            "when": [
                {"kind": "equals", "column": "Type", "value": "variation"},
                {"kind": "empty", "column": "Regular price"},
            ],
        },
    ],
    "parents": {"parent_only_when": [{"kind": "equals", "column": "Type", "value": "variable"}]},
}


def _woo_rows() -> list[dict[str, str]]:
    items, summary = parse_bytes(
        "csv",
        (DATA / "woocommerce-variable.csv").read_bytes(),
        SourceOptions(columns={"SKU": "product_id"}),
    )
    assert summary.refused_total == 0
    return [i.data for i in items if isinstance(i, Row)]


def test_woocommerce_export_end_to_end() -> None:
    rows = _woo_rows()
    assert len(rows) == 10
    optimizer = Optimizer(Optimization.model_validate(WOO_CONFIG))
    groups = {g.parent_id: g for g in optimize_rows(rows, optimizer)}
    assert list(groups) == ["woo-hoodie", "woo-beanie", "woo-tshirt", "woo-scarf"]

    hoodie = groups["woo-hoodie"]
    assert [r["product_id"] for r in hoodie.rows] == [
        "woo-hoodie-blue-logo",
        "woo-hoodie-green-logo",
    ]
    assert [(r["product_id"], why) for r, why in hoodie.dropped] == [("woo-hoodie", PARENT_ONLY)]
    blue, green = hoodie.rows
    assert blue["parent_id"] == green["parent_id"] == "woo-hoodie"
    assert blue["Name"] == green["Name"] == "Hoodie"
    assert blue["Description"] == "<p>Fleece-lined hoodie with a front pocket.</p>"
    assert blue["Categories"] == "Clothing > Hoodies"
    assert blue["Weight (kg)"] == "0.6"
    assert blue["Images"] == (
        "https://example.com/img/hoodie-1.jpg, https://example.com/img/hoodie-2.jpg"
    )
    # A variant's own values are never overwritten.
    assert green["Images"] == "https://example.com/img/hoodie-green.jpg"
    assert blue["Attribute 1 value(s)"] == "Blue"
    assert (blue["Regular price"], blue["Sale price"], blue["Stock"]) == ("45", "39", "12")
    assert hoodie.filled == 13

    beanie = groups["woo-beanie"]  # a simple product is its own parent, sellable
    assert [r["product_id"] for r in beanie.rows] == ["woo-beanie"]
    assert beanie.rows[0]["parent_id"] == "woo-beanie"
    assert (beanie.dropped, beanie.filled) == ([], 0)

    tshirt = groups["woo-tshirt"]
    small, medium = tshirt.rows
    assert small["Description"].startswith("<p>Organic cotton tee.</p>\n<ul>")
    assert (small["Weight (kg)"], medium["Weight (kg)"]) == ("0.2", "0.25")
    assert small["Attribute 1 value(s)"] == "S"
    assert tshirt.filled == 11

    scarf = groups["woo-scarf"]  # a variable product whose variations are all missing
    assert scarf.rows == []
    assert [(r["product_id"], why) for r, why in scarf.dropped] == [
        ("woo-scarf", PARENT_WITHOUT_VARIANTS)
    ]
    assert optimizer.stats.as_dict() == {
        "excluded": {"draft": 1, "variation without price": 1},
        "groups": 4,
        "parent_only_dropped": 2,
        "parents_without_variants": 1,
        "values_filled": 24,
    }


def test_group_step_works_on_rows_in_any_order_as_after_a_sql_group_by() -> None:
    optimizer = Optimizer(Optimization.model_validate(WOO_CONFIG))
    kept = [r for r in _woo_rows() if optimizer.prepare_row(r) is None]
    hoodie = group_rows(kept)["woo-hoodie"]
    shuffled = hoodie[::-1]
    random.Random(7).shuffle(shuffled)
    result = optimizer.finish_group("woo-hoodie", shuffled)
    assert sorted(r["product_id"] for r in result.rows) == [
        "woo-hoodie-blue-logo",
        "woo-hoodie-green-logo",
    ]
    assert all(r["Name"] == "Hoodie" for r in result.rows)
    assert len(result.dropped) == 1


def test_a_sellable_parent_row_fills_and_comes_first() -> None:
    optimizer = Optimizer()
    rows = [
        {"product_id": "B", "parent_id": "A", "product_name": "", "sku.price": "", "color": ""},
        {
            "product_id": "A",
            "parent_id": "A",
            "product_name": "Mug",
            "sku.price": "5",
            "color": "red",
        },
    ]
    result = optimizer.finish_group("A", rows)
    assert [r["product_id"] for r in result.rows] == ["A", "B"]
    # Shared attributes are filled, `sku.` ones never (each SKU has its own price).
    assert result.rows[1] == {
        "product_id": "B",
        "parent_id": "A",
        "product_name": "Mug",
        "sku.price": "",
        "color": "red",
    }
    assert result.dropped == [] and result.filled == 2


def test_fill_can_be_limited_or_turned_off() -> None:
    def group(parents: dict[str, object]) -> list[dict[str, str]]:
        optimizer = Optimizer(Optimization.model_validate({"parents": parents}))
        rows = [
            {"product_id": "P", "parent_id": "P", "name": "N", "price": "9", "kind": "parent"},
            {"product_id": "V", "parent_id": "P", "name": "", "price": "", "kind": "variant"},
        ]
        return optimizer.finish_group("P", rows).rows

    only = {"kind": "equals", "column": "kind", "value": "parent"}
    assert group({"parent_only_when": [only]}) == [
        {"product_id": "V", "parent_id": "P", "name": "N", "price": "9", "kind": "variant"}
    ]
    assert group({"parent_only_when": [only], "skip_columns": ["price"]})[0]["price"] == ""
    assert group({"parent_only_when": [only], "columns": ["price"]})[0]["name"] == ""
    assert group({"parent_only_when": [only], "fill": False})[0]["name"] == ""


def test_prepare_row_derives_parent_id_with_a_fallback_to_product_id() -> None:
    optimizer = Optimizer(Optimization.model_validate({"parent_id_from": {"column": "group"}}))
    rows = [
        {"product_id": "1", "group": "G"},
        {"product_id": "2", "group": "  "},
        {"product_id": "3", "group": "G", "parent_id": "keep"},
    ]
    assert [optimizer.prepare_row(r) for r in rows] == [None, None, None]
    assert [r["parent_id"] for r in rows] == ["G", "2", "keep"]
    overwrite = Optimizer(
        Optimization.model_validate({"parent_id_from": {"column": "group", "overwrite": True}})
    )
    row = {"product_id": "3", "group": "G", "parent_id": "keep"}
    overwrite.prepare_row(row)
    assert row["parent_id"] == "G"
    plain = {"product_id": "9"}
    Optimizer().prepare_row(plain)
    assert plain["parent_id"] == "9"


def test_row_filters_name_the_first_filter_that_excludes() -> None:
    optimizer = Optimizer(
        Optimization.model_validate(
            {
                "exclude": [
                    {"name": "no price", "when": [{"kind": "empty", "column": "price"}]},
                    {
                        "name": "not active",
                        "when": [
                            {
                                "kind": "equals",
                                "column": "status",
                                "value": "active",
                                "negate": True,
                            }
                        ],
                    },
                ]
            }
        )
    )
    assert optimizer.prepare_row({"product_id": "a", "price": "", "status": "x"}) == "no price"
    assert optimizer.prepare_row({"product_id": "b", "price": "1", "status": "x"}) == "not active"
    assert optimizer.prepare_row({"product_id": "c", "price": "1", "status": "active"}) is None
    assert dict(optimizer.stats.excluded) == {"no price": 1, "not active": 1}


@pytest.mark.parametrize(
    ("condition", "value", "holds"),
    [
        ({"kind": "equals", "column": "c", "value": "variable"}, "variable", True),
        ({"kind": "equals", "column": "c", "value": "variable"}, " variable ", True),
        ({"kind": "equals", "column": "c", "value": "variable"}, "Variable", False),
        (
            {"kind": "equals", "column": "c", "value": "variable", "ignore_case": True},
            "VARIABLE",
            True,
        ),
        ({"kind": "in", "column": "c", "values": ["draft", "private"]}, "private", True),
        ({"kind": "in", "column": "c", "values": ["draft", "private"]}, "publish", False),
        ({"kind": "in", "column": "c", "values": ["draft"], "negate": True}, "publish", True),
        ({"kind": "empty", "column": "c"}, "", True),
        ({"kind": "empty", "column": "c"}, " \t", True),
        ({"kind": "empty", "column": "c"}, "0", False),
        ({"kind": "empty", "column": "c", "negate": True}, "0", True),
        ({"kind": "matches", "column": "c", "pattern": "^TEST-"}, "TEST-1", True),
        ({"kind": "matches", "column": "c", "pattern": "^TEST-"}, "A-TEST-1", False),
        (
            {"kind": "matches", "column": "c", "pattern": "sample", "ignore_case": True},
            "A Sample",
            True,
        ),
    ],
)
def test_conditions(condition: dict[str, object], value: str, holds: bool) -> None:
    config = Optimization.model_validate({"exclude": [{"name": "x", "when": [condition]}]})
    test = compile_conditions(list(config.exclude[0].when))
    assert test({"c": value}) is holds


def test_a_missing_column_is_empty() -> None:
    config = Optimization.model_validate(
        {"exclude": [{"name": "x", "when": [{"kind": "empty", "column": "nope"}]}]}
    )
    assert compile_conditions(list(config.exclude[0].when))({}) is True


@pytest.mark.parametrize(
    "bad",
    [
        {"exclude": [{"name": "x", "when": [{"kind": "like", "column": "c"}]}]},
        {"exclude": [{"name": "x", "when": [{"kind": "matches", "column": "c", "pattern": "("}]}]},
        {"exclude": [{"name": "x", "when": []}]},
        {"exclude": [{"name": "x", "when": [{"kind": "in", "column": "c", "values": []}]}]},
        {"parent_id_from": {"column": "p", "fallback": "x"}},
        {"parents": {"parent_only": []}},
        {"filters": []},
    ],
)
def test_config_refuses_unknown_keys_and_bad_values(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Optimization.model_validate(bad)


def test_the_default_optimizer_leaves_shopify_products_as_they_are() -> None:
    items, _ = parse_bytes("shopify", (DATA / "jewelery.csv").read_bytes())
    rows = [i.data for i in items if isinstance(i, Row)]
    before = [dict(r) for r in rows]
    optimizer = Optimizer()
    groups = list(optimize_rows(rows, optimizer))
    assert len(groups) == 20
    assert sum(len(g.rows) for g in groups) == 23
    assert optimizer.stats.values_filled == 0
    assert [r for g in groups for r in g.rows] == before


def test_config_round_trips_through_a_feed_file_export() -> None:
    # The feed file exports `model_dump(mode="json", exclude_defaults=True)`: `kind` must stay.
    config = Optimization.model_validate(WOO_CONFIG)
    exported = config.model_dump(mode="json", exclude_defaults=True)
    assert exported["parents"]["parent_only_when"][0]["kind"] == "equals"
    assert Optimization.model_validate(exported) == config
    assert Optimization().model_dump(exclude_defaults=True) == {}

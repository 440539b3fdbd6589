"""Taxonomies: flattening TikTok's category list, brands, attributes, replacement terms."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from catalog_sync.taxonomy import (
    CATEGORY_VERSIONS,
    CategoryAttribute,
    CategoryTerm,
    TaxonomyBrand,
    TaxonomyCategory,
    TaxonomyKind,
    TermError,
    attributes_from_api,
    brand_terms,
    brands_from_api,
    category_terms,
    category_version,
    flatten_categories,
    leaves,
    parse_brand_term,
    parse_category_term,
    parse_term,
    parse_value_cell,
    parse_value_term,
    rules_from_api,
    value_terms,
)
from tiktok_shop.models.catalog import Attribute, AttributeList, Brand, Category, CategoryRules

UK_LEAVES = Path(__file__).parent.parent / "data" / "uk-leaf-categories-v1.csv"


def api_tree_from_leaf_paths(path: Path) -> list[Category]:
    """The UK leaf list as "Get Categories 202309" would answer it: parents derived."""
    out: list[Category] = []
    ids: dict[tuple[str, ...], str] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            names = tuple(row["category_path"].split(">"))
            for depth in range(1, len(names)):
                sub = names[:depth]
                if sub not in ids:
                    ids[sub] = str(900_000_000 + len(ids))
                    parent = ids[sub[:-1]] if depth > 1 else "0"
                    out.append(Category(id=ids[sub], parent_id=parent, local_name=sub[-1]))
            out.append(
                Category(
                    id=row["category_id"].strip(),
                    parent_id=ids[names[:-1]],
                    local_name=names[-1],
                    is_leaf=True,
                    permission_statuses=["AVAILABLE"],
                )
            )
    return out


def test_category_version_per_market() -> None:
    assert category_version("US") == "v2"
    assert category_version("UK") == "v1"
    assert CATEGORY_VERSIONS == {"US": "v2", "UK": "v1"}
    with pytest.raises(ValueError, match="unknown market"):
        category_version("DE")


def test_flatten_builds_paths_levels_and_permissions() -> None:
    raw = [
        Category(id="1", parent_id="0", local_name="Home Supplies"),
        Category(id="2", parent_id="1", local_name="Home Organizers\\t"),  # literal \t
        Category(
            id="3",
            parent_id="2",
            local_name="Storage Boxes & Bins\t",
            is_leaf=True,
            permission_statuses=["AVAILABLE"],
        ),
        Category(
            id="4",
            parent_id="2",
            local_name="Hooks",
            is_leaf=True,
            permission_statuses=["INVITE_ONLY", "NON_MAIN_CATEGORY"],
        ),
    ]
    flat = {c.id: c for c in flatten_categories(raw)}
    assert flat["3"].path == "Home Supplies>Home Organizers>Storage Boxes & Bins"
    assert flat["3"].level == 3 and flat["3"].is_leaf and not flat["3"].invite_only
    assert flat["2"].name == "Home Organizers" and flat["2"].level == 2 and not flat["2"].is_leaf
    assert flat["1"].parent_id == "0" and flat["1"].path == "Home Supplies"
    assert flat["4"].invite_only
    assert flat["3"].term == "3|Home Supplies>Home Organizers>Storage Boxes & Bins"
    assert [c.id for c in leaves(flat.values())] == ["3", "4"]


def test_flatten_survives_missing_parents_and_cycles_in_any_order() -> None:
    raw = [
        Category(id="12", parent_id="11", local_name="Leaf", is_leaf=True),
        Category(id="11", parent_id="10", local_name="Mid"),
        Category(id="10", parent_id="999", local_name="Orphan root"),  # parent not listed
        Category(id="20", parent_id="21", local_name="A"),
        Category(id="21", parent_id="20", local_name="B"),  # a cycle: cut, not an endless loop
    ]
    flat = {c.id: c for c in flatten_categories(raw)}
    assert flat["12"].path == "Orphan root>Mid>Leaf"
    assert flat["10"].parent_id == "0" and flat["10"].level == 1
    assert flat["20"].path.endswith("A") and flat["21"].path.endswith("B")


def test_uk_leaf_list_flattens_to_its_1575_real_leaves() -> None:
    cats = flatten_categories(api_tree_from_leaf_paths(UK_LEAVES))
    leaf = {c.id: c for c in leaves(cats)}
    assert len(leaf) == 1575
    assert leaf["604468"].path == "Furniture>Indoor Furniture>Sofas"
    assert leaf["600621"].path == "Home Supplies>Home Organizers>Storage Boxes & Bins"
    # No name keeps the trailing tabs of the source list.
    assert not any(c.name != c.name.strip() or c.name.endswith("\\t") for c in cats)
    terms = category_terms(cats)
    assert len(terms) == 1575 and "604468|Furniture>Indoor Furniture>Sofas" in terms
    assert parse_category_term(terms[0]) == CategoryTerm(
        id="600621", path="Home Supplies>Home Organizers>Storage Boxes & Bins"
    )


def test_category_terms_leave_out_parents_and_optionally_invite_only() -> None:
    cats = [
        TaxonomyCategory(id="1", parent_id="0", name="A", path="A", level=1, is_leaf=False),
        TaxonomyCategory(id="2", parent_id="1", name="B", path="A>B", level=2, is_leaf=True),
        TaxonomyCategory(
            id="3",
            parent_id="1",
            name="C",
            path="A>C",
            level=2,
            is_leaf=True,
            permission_statuses=("INVITE_ONLY",),
        ),
    ]
    assert category_terms(cats) == ["2|A>B", "3|A>C"]
    assert category_terms(cats, include_invite_only=False) == ["2|A>B"]


def test_models_round_trip_through_json_for_the_cache() -> None:
    cat = TaxonomyCategory(
        id="2", parent_id="1", name="B", path="A>B", level=2, is_leaf=True,
        permission_statuses=("INVITE_ONLY",),
    )  # fmt: skip
    assert TaxonomyCategory.model_validate(cat.model_dump(mode="json")) == cat
    attr = attributes_from_api(
        [Attribute(id="1", name="X", type="PRODUCT_PROPERTY", values=[{"id": "5", "name": "Y"}])]
    )[0]
    assert CategoryAttribute.model_validate_json(attr.model_dump_json()) == attr


def test_brands_keep_their_authorization_status() -> None:
    brands = brands_from_api(
        [
            Brand(id="7082427311584347905", name="Teas", authorized_status="AUTHORIZED",
                  brand_status="AVAILABLE"),
            Brand(id=11, name=" Aurora Home ", authorized_status="UNAUTHORIEZD",
                  brand_status="AVAILABLE", is_t1_brand=True),
            Brand(id="12", name="Gone", authorized_status="AUTHORIZED",
                  brand_status="UNAVAILABLE"),
        ]
    )  # fmt: skip
    teas, aurora, gone = brands
    assert teas.authorized and teas.available
    assert aurora.id == "11" and aurora.name == "Aurora Home"
    assert not aurora.authorized and aurora.is_t1_brand
    assert not gone.available
    assert brand_terms(brands) == ["7082427311584347905|Teas", "11|Aurora Home"]
    assert brand_terms(brands, authorized_only=True) == ["7082427311584347905|Teas"]
    assert "12|Gone" in brand_terms(brands, include_unavailable=True)
    assert parse_brand_term("11|Aurora Home").name == "Aurora Home"


def furniture_attributes() -> list[CategoryAttribute]:
    raw = AttributeList.model_validate(
        {
            "attributes": [
                {"id": "100089", "name": "Color", "type": "SALES_PROPERTY",
                 "is_requried": False, "is_customizable": True,
                 "values": [{"id": "1000100", "name": "Red"}, {"id": "1000101", "name": "Blue"}]},
                {"id": "101610", "name": "Foldable Furniture", "type": "PRODUCT_PROPERTY",
                 "is_requried": True, "is_customizable": False, "is_multiple_selection": False,
                 "values": [{"id": "1029401", "name": "Foldable"},
                            {"id": "1029402", "name": "Non-Foldable"}]},
                {"id": "101611", "name": "Folded Dimensions", "type": "PRODUCT_PROPERTY",
                 "is_requried": False, "is_customizable": True, "values": None,
                 "requirement_conditions": [{"condition_type": "VALUE_ID_MATCH",
                                             "attribute_id": "101610",
                                             "attribute_value_id": "1029401"}]},
                {"id": 100198, "name": "Material", "type": "PRODUCT_PROPERTY",
                 "is_required": True, "is_customizable": True, "is_multiple_selection": True,
                 "values": [{"id": 1002000, "name": "Cotton"}]},
                {"id": "100347", "name": "Quantity Per Pack", "type": "PRODUCT_PROPERTY",
                 "value_data_format": "POSITIVE_INT_OR_DECIMAL", "is_customizable": True},
            ]
        }
    )  # fmt: skip
    return attributes_from_api(raw.attributes)


def test_attributes_read_flags_values_and_conditions() -> None:
    color, foldable, folded, material, qty = furniture_attributes()
    assert color.kind == "sales" and not color.required and color.customizable
    assert foldable.kind == "product" and foldable.required  # `is_requried` (sic)
    assert foldable.predefined_only and not foldable.multi_select
    assert [v.cell for v in foldable.values] == ["Foldable:::::1029401", "Non-Foldable:::::1029402"]
    assert folded.values == () and not folded.required
    assert [(c.attribute_id, c.value_id) for c in folded.required_when] == [("101610", "1029401")]
    assert material.required and material.id == "100198"  # `is_required` spelling, numeric ids
    assert material.values[0].id == "1002000" and material.multi_select
    assert not material.predefined_only  # customizable: free values allowed
    assert qty.value_format == "POSITIVE_INT_OR_DECIMAL"


def test_value_terms_render_each_predefined_value_once_and_parse_back() -> None:
    attrs = furniture_attributes()
    terms = value_terms(attrs + attrs)  # the same attributes of two categories
    assert terms == [
        "Color|Red:::::1000100",
        "Color|Blue:::::1000101",
        "Foldable Furniture|Foldable:::::1029401",
        "Foldable Furniture|Non-Foldable:::::1029402",
        "Material|Cotton:::::1002000",
    ]
    assert value_terms(attrs, attribute_ids=["101610"]) == terms[2:4]
    parsed = parse_value_term("Foldable Furniture|Non-Foldable:::::1029402")
    assert (parsed.attribute, parsed.value, parsed.value_id) == (
        "Foldable Furniture",
        "Non-Foldable",
        "1029402",
    )
    # What Split String `|` from 1 items 1 leaves in the export cell.
    assert parsed.cell == "Non-Foldable:::::1029402"
    assert parse_value_cell("Non-Foldable:::::1029402") == ("Non-Foldable", "1029402")
    assert parse_value_cell("Non-Foldable") is None
    assert parse_value_cell("Odd:::::abc") is None


@pytest.mark.parametrize(
    ("kind", "term"),
    [
        (TaxonomyKind.UK_CATEGORIES, "Furniture>Sofas"),
        (TaxonomyKind.UK_CATEGORIES, "abc|Furniture>Sofas"),
        (TaxonomyKind.US_CATEGORIES, "604468|"),
        (TaxonomyKind.BRANDS, "Teas"),
        (TaxonomyKind.VALUES, "Foldable Furniture|Foldable"),
        (TaxonomyKind.VALUES, "|Foldable:::::1029401"),
        (TaxonomyKind.VALUES, "Foldable:::::1029401"),
    ],
)
def test_malformed_terms_are_refused(kind: TaxonomyKind, term: str) -> None:
    with pytest.raises(TermError, match="has the form"):
        parse_term(kind, term)


def test_parse_term_dispatches_on_the_taxonomy() -> None:
    assert parse_term(TaxonomyKind.US_CATEGORIES, " 604468|Furniture>Sofas ") == CategoryTerm(
        id="604468", path="Furniture>Sofas"
    )
    assert parse_term(TaxonomyKind.BRANDS, "7082427311584347905|Teas").id == "7082427311584347905"
    assert parse_term(TaxonomyKind.VALUES, "Occasion|Birthday:::::1001533").value == "Birthday"


def test_taxonomy_kinds_match_productsup_labels() -> None:
    assert TaxonomyKind.categories_of("US") is TaxonomyKind.US_CATEGORIES
    assert TaxonomyKind.categories_of("UK").label == "TikTok UK categories with ids"
    assert TaxonomyKind("tiktok_values").label == "TikTok non-customized values with ids"
    assert TaxonomyKind.BRANDS.value == "tiktok_brands"


def test_rules_summary() -> None:
    rules = CategoryRules.model_validate(
        {
            "product_certifications": [{"id": "71", "name": "CPC", "is_required": True}],
            "size_chart": {"is_supported": True, "is_required": False},
            "package_dimension": {"is_required": True},
            "is_cod_allowed": False,
            "epr": {"is_required": False},
        }
    )
    summary = rules_from_api(rules)
    assert summary.package_dimensions_required and summary.size_chart_supported
    assert not summary.size_chart_required and summary.cod_allowed is False
    assert [(c.id, c.required) for c in summary.certifications] == [("71", True)]
    assert not rules_from_api(CategoryRules()).package_dimensions_required


def test_brand_helpers_on_models() -> None:
    brand = TaxonomyBrand(id="5", name="X", authorized_status="UNAUTHORIEZD")
    assert brand.available and not brand.authorized and brand.term == "5|X"

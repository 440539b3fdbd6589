"""The seeded catalogue: real UK v1 tree, hand-made v2 tree, attributes, brands."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from tiktok_sandbox.catalog_attributes import attributes_for
from tiktok_sandbox.catalog_seed import DATA, build_brands, catalog, load_uk_tree, load_v2_tree

SOURCE = Path("/work/shared/data/tiktok/uk-leaf-categories-v1.csv")


def test_uk_tree_has_every_leaf_of_the_csv_with_its_real_id() -> None:
    tree = load_uk_tree()
    with (DATA / "uk-leaf-categories-v1.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1575
    leaves = {c.id: c for c in tree.leaves()}
    assert set(leaves) == {r["category_id"] for r in rows}
    sofa = leaves["604468"]
    assert [c.local_name for c in tree.chain("604468")] == [
        "Furniture",
        "Indoor Furniture",
        "Sofas",
    ]
    assert sofa.is_leaf and tree.chain("604468")[0].parent_id == "0"


def test_uk_names_are_trimmed() -> None:
    tree = load_uk_tree()
    for cat in tree.ordered:
        assert cat.local_name == cat.local_name.strip()
        assert not cat.local_name.endswith("\\t")


def test_derived_parent_ids_are_stable_and_unique() -> None:
    a, b = load_uk_tree(), load_uk_tree()
    assert [(c.id, c.path) for c in a.ordered] == [(c.id, c.path) for c in b.ordered]
    ids = [c.id for c in a.ordered]
    assert len(ids) == len(set(ids))
    for cat in a.ordered:
        if cat.parent_id != "0":
            parent = a.by_id[cat.parent_id]
            assert not parent.is_leaf and parent.path == cat.path[:-1]


def test_v2_tree_has_enough_leaves_over_the_uk_groups() -> None:
    us, uk = load_v2_tree(), load_uk_tree()
    assert us.version == "v2" and uk.version == "v1"
    assert len(us.leaves()) >= 150
    us_groups = {c.group for c in us.leaves()}
    uk_groups = {c.group for c in uk.leaves() if not c.group.startswith("PPE")}
    assert us_groups == uk_groups
    assert not set(us.by_id) & set(uk.by_id)


def test_some_categories_are_invite_only() -> None:
    for tree in (load_uk_tree(), load_v2_tree()):
        invite = [c for c in tree.leaves() if c.invite_only]
        assert 0 < len(invite) < len(tree.leaves()) // 2


def test_furniture_leaves_carry_foldable_furniture() -> None:
    for tree in (load_uk_tree(), load_v2_tree()):
        for leaf in tree.leaves():
            names = {a["name"]: a for a in attributes_for(leaf)}
            if leaf.group == "Furniture":
                foldable = names["Foldable Furniture"]
                assert {v["name"] for v in foldable["values"]} == {"Foldable", "Non-Foldable"}
                assert foldable["is_requried"] is True
            else:
                assert "Foldable Furniture" not in names


def test_attributes_shape_and_spelling() -> None:
    leaf = load_v2_tree().leaves()[0]
    attrs = attributes_for(leaf)
    assert attrs == attributes_for(leaf)  # deterministic
    kinds = {a["type"] for a in attrs}
    assert kinds == {"SALES_PROPERTY", "PRODUCT_PROPERTY"}
    for attr in attrs:
        assert "is_requried" in attr and "is_required" not in attr
        assert all(isinstance(v["id"], str) for v in attr["values"])
    occasion = next(a for a in attrs if a["id"] == "100392")
    assert {"id": "1001533", "name": "Birthday"} in occasion["values"]


def test_brands() -> None:
    brands = build_brands()
    assert len(brands) >= 200
    assert brands[0]["id"] == "7082427311584347905" and brands[0]["name"] == "Teas"
    assert len({b["id"] for b in brands}) == len(brands)
    statuses = {b["authorized_status"] for b in brands}
    assert statuses == {"AUTHORIZED", "UNAUTHORIEZD"}
    assert any(b["brand_status"] == "UNAVAILABLE" for b in brands)


def test_packaged_csv_matches_the_shared_source_ids() -> None:
    if not SOURCE.exists():
        pytest.skip(f"{SOURCE} (the list the packaged copy was taken from) is not on this machine")
    with SOURCE.open(newline="") as f:
        source_ids = {r["category_id"] for r in csv.DictReader(f)}
    assert source_ids == {c.id for c in load_uk_tree().leaves()}


def test_trees_by_category_version() -> None:
    cat = catalog()
    assert cat.tree("UK", "v1") is cat.trees["UK"] and cat.tree("UK", "V1") is cat.trees["UK"]
    assert cat.tree("UK", "v2") is cat.tree("US", "v2") is cat.trees["US"]
    assert cat.tree("US", "v1") is None  # US shops must use v2 (12052217)
    assert cat.market_trees("UK") == [cat.trees["UK"], cat.trees["US"]]
    v2_leaf = cat.trees["US"].leaves()[0].id
    assert cat.other_versions_have("UK", "v1", v2_leaf)
    assert cat.other_versions_have("UK", "v2", "604468")
    assert not cat.other_versions_have("UK", "v2", v2_leaf)
    assert not cat.other_versions_have("UK", "v1", "1")

"""Contract: categories, attributes, rules, brands (paging), recommend category
("Get Categories 202309", "Get Brands 202309", "Recommend Category 202309" & co)."""

from __future__ import annotations

import pytest
from tiktok_shop import NotFoundError, ValidationError
from tiktok_shop.errors import TikTokError
from tiktok_shop.models.catalog import RecommendCategoryRequest
from tts_client_contract import Connected


async def first_leaf(conn: Connected, version: str) -> str:
    cats = await conn.shop.catalog.get_categories(category_version=version)
    return next(
        c.id for c in cats.categories if c.is_leaf and "INVITE_ONLY" not in c.permission_statuses
    )


async def test_us_categories_v2_tree_shape(us: Connected) -> None:
    cats = (await us.shop.catalog.get_categories(category_version="v2")).categories
    by_id = {c.id: c for c in cats}
    roots = [c for c in cats if c.parent_id == "0"]
    leaves = [c for c in cats if c.is_leaf]
    assert roots and len(leaves) >= 150
    # Every non-root points at a known parent; ids are strings.
    assert all(c.parent_id in by_id for c in cats if c.parent_id != "0")
    assert any("INVITE_ONLY" in c.permission_statuses for c in leaves)


async def test_uk_keyword_search(uk: Connected) -> None:
    cats = (await uk.shop.catalog.get_categories(keyword="Sofas")).categories
    assert any(c.local_name == "Sofas" and c.is_leaf for c in cats)


async def test_attributes_keep_official_spelling_and_values(uk: Connected) -> None:
    cats = (await uk.shop.catalog.get_categories(keyword="Sofas")).categories
    sofa = next(c for c in cats if c.local_name == "Sofas")
    attrs = (await uk.shop.catalog.get_attributes(sofa.id)).attributes
    assert {a.type for a in attrs} >= {"SALES_PROPERTY", "PRODUCT_PROPERTY"}
    assert any(a.required for a in attrs)
    foldable = next(a for a in attrs if a.name == "Foldable Furniture")
    assert {v.name for v in foldable.values} == {"Foldable", "Non-Foldable"}


async def test_attributes_of_non_leaf_and_unknown_category(uk: Connected) -> None:
    cats = (await uk.shop.catalog.get_categories()).categories
    parent = next(c for c in cats if not c.is_leaf)
    with pytest.raises(ValidationError) as info:
        await uk.shop.catalog.get_attributes(parent.id)
    assert info.value.code == 12052024
    with pytest.raises(TikTokError) as unknown:
        await uk.shop.catalog.get_attributes("1")
    assert unknown.value.code == 12052023
    assert isinstance(unknown.value, ValidationError | NotFoundError)


async def test_rules(us: Connected) -> None:
    leaf = await first_leaf(us, "v2")
    rules = await us.shop.catalog.get_rules(leaf, category_version="v2")
    assert rules.model_dump()  # a dict of rules, unknown keys kept


async def test_brands_paging_covers_all_brands_once(us: Connected) -> None:
    first = await us.shop.catalog.get_brands(page_size=50)
    assert first.total_count is not None and first.total_count >= 200
    ids = [b.id async for b in us.shop.catalog.iter_brands(page_size=50)]
    assert len(ids) == len(set(ids)) == first.total_count
    statuses = {b.authorized_status async for b in us.shop.catalog.iter_brands(page_size=100)}
    assert "UNAUTHORIEZD" in statuses and "AUTHORIZED" in statuses


async def test_brand_filters(us: Connected) -> None:
    page = await us.shop.catalog.get_brands(is_authorized=True, page_size=100)
    assert page.brands and all(b.authorized for b in page.brands)


async def test_recommend_category(uk: Connected) -> None:
    rec = await uk.shop.catalog.recommend_category(
        RecommendCategoryRequest(product_title="Grey three seater fabric sofa")
    )
    assert rec.leaf_category_id
    assert rec.categories[-1].id == rec.leaf_category_id and rec.categories[-1].is_leaf


async def test_recommend_category_no_match(uk: Connected) -> None:
    with pytest.raises(TikTokError) as info:
        await uk.shop.catalog.recommend_category(RecommendCategoryRequest(product_title="zzqx"))
    assert info.value.code == 12019064

"""Mapping suggestions: text similarity over the real UK leaves, TikTok's pick, acceptance."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from catalog_sync.suggest import (
    Suggestion,
    SuggestionIndex,
    accept_suggestions,
    normalize_word,
    segments,
    suggest,
    suggest_text,
    words,
)
from catalog_sync.taxonomy import (
    AttributeValue,
    CategoryAttribute,
    TaxonomyBrand,
    TaxonomyCategory,
    clean_name,
)

UK_LEAVES = Path(__file__).parent.parent / "data" / "uk-leaf-categories-v1.csv"
SOFAS, MUGS = "604468", "600042"


def uk_leaves() -> list[TaxonomyCategory]:
    out = []
    with UK_LEAVES.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            names = [clean_name(p) for p in row["category_path"].split(">")]
            out.append(
                TaxonomyCategory(
                    id=row["category_id"].strip(),
                    parent_id="0",
                    name=names[-1],
                    path=">".join(names),
                    level=len(names),
                    is_leaf=True,
                    # Like the sandbox: the Collections group needs an invitation.
                    permission_statuses=("INVITE_ONLY",) if names[0] == "Collections" else (),
                )
            )
    return out


@pytest.fixture(scope="module")
def index() -> SuggestionIndex:
    return SuggestionIndex.for_categories(uk_leaves())


def test_words_are_folded_and_singular() -> None:
    assert words("Storage Boxes & Bins") == ["storage", "box", "bin"]
    assert words("Children's Furniture") == ["children", "furniture"]
    assert words("Crème Brûlée Dishes") == ["creme", "brulee", "dish"]
    assert normalize_word("accessories") == "accessory"
    assert normalize_word("glass") == "glass"
    assert segments("Home & Garden > Kitchen / Dining > Mugs") == [
        "Home & Garden",
        "Kitchen",
        "Dining",
        "Mugs",
    ]


@pytest.mark.parametrize(
    ("value", "expected_path"),
    [
        ("Sofas", "Furniture>Indoor Furniture>Sofas"),
        ("sofa", "Furniture>Indoor Furniture>Sofas"),
        ("Home & Garden > Kitchen & Dining > Drinkware > Mugs", "Kitchenware>Drinkware>Mugs"),
        ("Coffee Mugs", "Kitchenware>Drinkware>Mugs"),
        ("Duvet Covers", "Textiles & Soft Furnishings>Bedding>Duvet Covers"),
        ("candles", "Home Supplies>Home Decor>Candles"),
        ("Necklaces", "Fashion Accessories>Costume Jewellery & Accessories>Necklaces"),
    ],
)
def test_best_text_match(index: SuggestionIndex, value: str, expected_path: str) -> None:
    best = index.search(value, limit=3)
    assert best and best[0].item.label == expected_path
    assert all(0 < m.score <= 1 for m in best)
    assert [m.score for m in best] == sorted((m.score for m in best), reverse=True)


def test_exact_leaf_path_scores_one_and_typos_still_match(index: SuggestionIndex) -> None:
    exact = index.search("Furniture>Indoor Furniture>Sofas", limit=1)[0]
    assert exact.item.id == SOFAS and exact.score == pytest.approx(1.0)
    typo = index.search("Sofaz", limit=3)
    assert typo and all("Sofas" in m.item.label for m in typo)
    assert typo[0].score < exact.score
    assert index.search("zzqx qqzz") == []
    assert index.search("") == []


def test_only_leaves_are_suggested() -> None:
    parent = TaxonomyCategory(
        id="1", parent_id="0", name="Furniture", path="Furniture", level=1, is_leaf=False
    )
    idx = SuggestionIndex.for_categories([parent, *uk_leaves()[:50]])
    assert all(m.item.id != "1" for m in idx.search("Furniture", limit=50))


def test_suggest_text_lists_terms_with_scores(index: SuggestionIndex) -> None:
    out = suggest_text(["Mugs", "Collectible Pottery", "zzqx"], index, limit=2)
    assert out["zzqx"] == []
    mug = out["Mugs"][0]
    assert (mug.id, mug.term, mug.source) == (MUGS, "600042|Kitchenware>Drinkware>Mugs", "text")
    pottery = out["Collectible Pottery"][0]
    assert pottery.label == "Collections>Contemporary Culture Collectibles>Pottery"
    assert pottery.invite_only


async def test_tiktok_pick_is_combined_with_text(index: SuggestionIndex) -> None:
    asked: list[str] = []

    async def recommend(title: str) -> tuple[str, str] | None:
        asked.append(title)
        if "mug" in title.lower():
            return MUGS, "Kitchenware>Drinkware>Mugs"  # agrees with the text match
        if "widget" in title.lower():
            return SOFAS, "Furniture>Indoor Furniture>Sofas"  # TikTok alone
        return None

    text = suggest_text(["Mugs"], index, limit=3)["Mugs"][0].score
    out = await suggest(
        ["Mugs", "Widgets", "zzqx", "Mugs"],
        index,
        recommend=recommend,
        titles={"Widgets": "Blue widget 3000"},
        recommend_confidence=0.6,
    )
    assert sorted(asked) == ["Blue widget 3000", "Mugs", "zzqx"]  # each value asked once
    both = out["Mugs"][0]
    assert both.source == "text+tiktok" and both.score == pytest.approx(
        1 - (1 - text) * 0.4, abs=1e-4
    )
    alone = out["Widgets"][0]
    assert (alone.id, alone.source, alone.score) == (SOFAS, "tiktok", 0.6)
    assert alone.term == "604468|Furniture>Indoor Furniture>Sofas"
    assert out["zzqx"] == []


async def test_recommend_calls_are_capped(index: SuggestionIndex) -> None:
    calls = 0

    async def recommend(title: str) -> tuple[str, str] | None:
        nonlocal calls
        calls += 1
        return None

    values = [f"value {i}" for i in range(20)]
    out = await suggest(values, index, recommend=recommend, max_recommend_calls=5)
    assert calls == 5 and set(out) == set(values)


def suggestion(value: str, score: float, *, term: str = "1|A", invite: bool = False) -> Suggestion:
    return Suggestion(
        value=value, term=term, id=term.split("|")[0], label=term.split("|")[1],
        score=score, source="text", invite_only=invite,
    )  # fmt: skip


def test_nothing_is_accepted_without_an_explicit_threshold() -> None:
    found = {
        "a": [suggestion("a", 0.95, term="1|A"), suggestion("a", 0.9, term="2|B")],
        "b": [suggestion("b", 0.7)],
        "c": [suggestion("c", 0.99, term="3|C", invite=True), suggestion("c", 0.85, term="4|D")],
        "d": [],
    }
    assert accept_suggestions(found, min_score=0.8) == {"a": "1|A", "c": "4|D"}
    assert accept_suggestions(found, min_score=0.8, allow_invite_only=True)["c"] == "3|C"
    assert accept_suggestions(found, min_score=0.96) == {}
    for bad in (0.0, 1.5, -1.0):
        with pytest.raises(ValueError, match="min_score"):
            accept_suggestions(found, min_score=bad)
    with pytest.raises(TypeError):
        accept_suggestions(found)  # type: ignore[call-arg]


def test_brand_and_value_indexes() -> None:
    brands = SuggestionIndex.for_brands(
        [
            TaxonomyBrand(id="1", name="Aurora Home", brand_status="AVAILABLE"),
            TaxonomyBrand(id="2", name="Aurora Living"),
            TaxonomyBrand(id="3", name="Birch Home", brand_status="UNAVAILABLE"),
        ]
    )
    assert brands.search("AURORA home", limit=1)[0].item.term == "1|Aurora Home"
    assert all(m.item.id != "3" for m in brands.search("Birch Home"))
    occasion = CategoryAttribute(
        id="100392",
        name="Occasion",
        kind="product",
        values=(AttributeValue(id="1001533", name="Birthday"),
                AttributeValue(id="1001534", name="Wedding")),
    )  # fmt: skip
    values = SuggestionIndex.for_values(occasion)
    assert values.search("birthdays")[0].item.term == "Occasion|Birthday:::::1001533"

"""Test support: a synthetic UK taxonomy, a generated feed with planted defects, and the
readiness it must yield.

The readiness unit test feeds the generated rows to the analyzer in memory; the HTTP test
seeds the taxonomy cache with the same taxonomy (`seed_taxonomy_cache`, stored as a fetch
stores it), uploads the rows as NDJSON and reads `GET /v1/feeds/{id}/readiness` and
`/issues`. Both judge the outcome with `check_report` and `expected_issues`, numbers
derived from the generator's own bookkeeping (which parent got which defect), so the two
paths are held to one set of expectations.

The taxonomy is synthetic but shaped like TikTok's ("Get Categories 202309", "Get Attributes
202309", "Get Brands 202309"): real UK category ids, a required attribute, a conditionally
required one, predefined single- and multi-select values, a customizable sales attribute,
an invite-only category, an unauthorized and an unavailable brand.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_sync import taxonomy_cache
from catalog_sync.classify import schema_for
from catalog_sync.readiness import (
    ReadinessAnalyzer,
    ReadinessReport,
    ReadinessSettings,
    Status,
    TestKind,
)
from catalog_sync.taxonomy import (
    AttributeValue,
    CategoryAttribute,
    RequiredWhen,
    TaxonomyBrand,
    TaxonomyCategory,
)

MARKET = "UK"
Row = dict[str, str]

# --- the synthetic taxonomy -----------------------------------------------------------------

SOFA, MUG, DRESS, INVITE, PARENT_CAT, UNLOADED = (
    "604468", "600042", "804744", "822800", "900000001", "600621",
)  # fmt: skip
FOLDABLE = "product_attribute.Foldable Furniture#101610"
FOLDED = "product_attribute.Folded Dimensions#101611"
MATERIAL = "product_attribute.Material#100198"
OCCASION = "product_attribute.Occasion#100392"
QTY = "product_attribute.Quantity Per Pack#100347"
COLOR = "sku.sales_attribute.Color"
COLOR_IMAGE = "sku.sales_attribute_image.Color"
SIZE = "sku.sales_attribute.Size"
SIZE_IMAGE = "sku.sales_attribute_image.Size"


def values(first_id: int, *names: str) -> tuple[AttributeValue, ...]:
    return tuple(AttributeValue(id=str(first_id + i), name=n) for i, n in enumerate(names))


COLORS = ("Red", "Blue", "Black", "White", "Green", "Grey")
OCCASIONS = ("Birthday", "Wedding", "Christmas", "Anniversary", "Daily", "Party")
COLOR_ATTR = CategoryAttribute(
    id="100089", name="Color", kind="sales", customizable=True, values=values(1000100, *COLORS)
)
SIZE_ATTR = CategoryAttribute(
    id="100000", name="Size", kind="sales", values=values(1000200, "S", "M", "L")
)
OCCASION_ATTR = CategoryAttribute(
    id="100392", name="Occasion", kind="product", multi_select=True,
    values=values(1001533, *OCCASIONS),
)  # fmt: skip
MATERIAL_VALUES = values(1002000, "Cotton", "Polyester", "Leather", "Wood")


def material(required: bool) -> CategoryAttribute:
    return CategoryAttribute(
        id="100198", name="Material", kind="product", required=required,
        customizable=True, multi_select=True, values=MATERIAL_VALUES,
    )  # fmt: skip


QTY_ATTR = CategoryAttribute(
    id="100347", name="Quantity Per Pack", kind="product", customizable=True,
    value_format="POSITIVE_INT_OR_DECIMAL",
)  # fmt: skip
FURNITURE = [
    CategoryAttribute(
        id="101610", name="Foldable Furniture", kind="product", required=True,
        values=(AttributeValue(id="1029401", name="Foldable"),
                AttributeValue(id="1029402", name="Non-Foldable")),
    ),
    CategoryAttribute(
        id="101611", name="Folded Dimensions", kind="product", customizable=True,
        required_when=(RequiredWhen(attribute_id="101610", value_id="1029401"),),
    ),
]  # fmt: skip
# category id -> its attributes ("Get Attributes 202309"); UNLOADED has none on purpose.
CATEGORY_ATTRS = {
    SOFA: [COLOR_ATTR, OCCASION_ATTR, material(True), QTY_ATTR, *FURNITURE],
    MUG: [COLOR_ATTR, OCCASION_ATTR, material(False), QTY_ATTR],
    DRESS: [COLOR_ATTR, SIZE_ATTR, OCCASION_ATTR, material(True), QTY_ATTR],
    INVITE: [COLOR_ATTR, OCCASION_ATTR, material(False), QTY_ATTR],
}
SCHEMAS = {cid: schema_for(attrs, market=MARKET) for cid, attrs in CATEGORY_ATTRS.items()}
PATHS = {
    SOFA: "Furniture>Indoor Furniture>Sofas",
    MUG: "Kitchenware>Drinkware>Mugs",
    DRESS: "Kids' Fashion>Girls' Clothes>Dresses",
    INVITE: "Collections>Contemporary Culture Collectibles>Red Porcelain",
    UNLOADED: "Home Supplies>Home Organizers>Storage Boxes & Bins",
}


def leaf(cid: str, path: str, invite: bool = False) -> TaxonomyCategory:
    names = path.split(">")
    return TaxonomyCategory(
        id=cid, parent_id="1", name=names[-1], path=path, level=len(names), is_leaf=True,
        permission_statuses=("INVITE_ONLY",) if invite else ("AVAILABLE",),
    )  # fmt: skip


CATEGORIES = {cid: leaf(cid, path, invite=cid == INVITE) for cid, path in PATHS.items()}
CATEGORIES[PARENT_CAT] = TaxonomyCategory(
    id=PARENT_CAT, parent_id="0", name="Furniture", path="Furniture", level=1, is_leaf=False
)
TEAS, UNAUTHORIZED, UNAVAILABLE = "7082427311584347905", "200", "300"
BRANDS = {
    TEAS: TaxonomyBrand(id=TEAS, name="Teas", authorized_status="AUTHORIZED"),
    UNAUTHORIZED: TaxonomyBrand(id=UNAUTHORIZED, name="Umber", authorized_status="UNAUTHORIEZD"),
    UNAVAILABLE: TaxonomyBrand(
        id=UNAVAILABLE, name="Gone", authorized_status="AUTHORIZED", brand_status="UNAVAILABLE"
    ),
}


def make_analyzer(
    *,
    categories: Mapping[str, TaxonomyCategory] | None = CATEGORIES,
    brands: Mapping[str, TaxonomyBrand] | None = BRANDS,
    settings: ReadinessSettings | None = None,
) -> ReadinessAnalyzer:
    """An analyzer over the synthetic taxonomy (what readiness builds from the cache)."""
    return ReadinessAnalyzer(
        SCHEMAS, market=MARKET, categories=categories, brands=brands, settings=settings
    )


async def seed_taxonomy_cache(session: AsyncSession, connection_id: str) -> None:
    """Store the synthetic taxonomy in the taxonomy cache as a fetch would have: the UK
    categories, each category's attributes, and `connection_id`'s brands. Flush only."""
    await taxonomy_cache.store_categories(session, MARKET, CATEGORIES.values())
    for cid, attrs in CATEGORY_ATTRS.items():
        await taxonomy_cache.store_attributes(session, MARKET, cid, attrs)
    await taxonomy_cache.store_brands(session, MARKET, connection_id, BRANDS.values())


# --- a generated feed with planted defects ----------------------------------------------------

CATEGORY_COLUMNS = {
    SOFA: [OCCASION, MATERIAL, QTY, FOLDABLE, FOLDED, COLOR, COLOR_IMAGE],
    MUG: [OCCASION, MATERIAL, QTY, COLOR, COLOR_IMAGE],
    DRESS: [OCCASION, MATERIAL, QTY, COLOR, COLOR_IMAGE, SIZE, SIZE_IMAGE],
    INVITE: [OCCASION, MATERIAL, QTY, COLOR, COLOR_IMAGE],
}
COMMON_COLUMNS = [
    "product_id", "parent_id", "product_name", "description", "category_id", "category_path",
    "brand_id", "brand_name", "images", "main_image", "package_weight", "package_weight_unit",
    "package_length", "package_width", "package_height", "package_dimension_unit", "sku.price",
    "sku.currency", "sku.quantity", "sku.seller_sku", "sku.image", "sku.gtin", "sku.gtin_type",
]  # fmt: skip

# defect: (products, which parents qualify, attribute it breaks, test it fails)
DEFECTS: dict[str, tuple[int, str, str, TestKind]] = {
    "missing_foldable": (37, "sofa", FOLDABLE, TestKind.REQUIRED),
    "folded_missing": (7, "sofa", FOLDED, TestKind.REQUIRED),
    "material_missing": (10, "dress", MATERIAL, TestKind.REQUIRED),
    "occasion_not_predefined": (12, "any", OCCASION, TestKind.PREDEFINED),
    "inconsistent_title": (5, "variants", "product_name", TestKind.CONSISTENCY),
    "ten_images": (3, "any", "images", TestKind.IMAGE_COUNT),
    "bad_price": (8, "variants", "sku.price", TestKind.FORMAT),
    "invite_only": (6, "mug", "category_id", TestKind.INVITE_ONLY),
    "unauthorized_brand": (4, "any", "brand_id", TestKind.BRAND_AUTHORIZATION),
    "long_title": (9, "any", "product_name", TestKind.LENGTH),
    "bad_weight": (11, "any", "package_weight", TestKind.FORMAT),
}
# Defects found on a variant (the last one), not on the main product.
VARIANT_DEFECTS = frozenset({"bad_price"})


@dataclass
class GeneratedFeed:
    rows: list[Row]
    category_of: dict[str, str]  # parent -> category
    defect_of: dict[str, str]  # parent -> its one defect
    colors: Counter[str] = field(default_factory=Counter)
    size_of: dict[str, int] = field(default_factory=dict)  # parent -> its variants

    def failing(self, attribute: str, test: TestKind | None = None) -> set[str]:
        return {
            p
            for p, d in self.defect_of.items()
            if DEFECTS[d][2] == attribute and (test is None or DEFECTS[d][3] is test)
        }

    def ndjson(self) -> bytes:
        """The rows as an NDJSON upload (one object per line, every value a string)."""
        return b"".join(orjson.dumps(row) + b"\n" for row in self.rows)


def generate(seed: int = 20240601, total_rows: int = 10_000) -> GeneratedFeed:
    """`total_rows` rows of 1-4 variants per parent, each defect planted in exactly its count
    of parents (one defect per parent), deterministic for a seed."""
    rng = random.Random(seed)
    sizes: list[int] = []
    while sum(sizes) < total_rows:
        sizes.append(rng.randint(1, 4))
    sizes[-1] -= sum(sizes) - total_rows
    if sizes[-1] == 0:
        sizes.pop()
    parents = [f"P{i:05d}" for i in range(len(sizes))]
    size_of = dict(zip(parents, sizes, strict=True))
    category_of = {p: rng.choice([SOFA, MUG, DRESS]) for p in parents}
    eligible = {
        "sofa": lambda p: category_of[p] == SOFA,
        "dress": lambda p: category_of[p] == DRESS,
        "mug": lambda p: category_of[p] == MUG,
        "variants": lambda p: size_of[p] >= 2,
        "any": lambda p: True,
    }
    pool = list(parents)
    rng.shuffle(pool)
    defect_of: dict[str, str] = {}
    for defect, (count, who, _, _) in DEFECTS.items():
        chosen = [p for p in pool if p not in defect_of and eligible[who](p)][:count]
        if len(chosen) != count:
            raise ValueError(f"too few parents qualify for {defect}: {len(chosen)} of {count}")
        defect_of.update(dict.fromkeys(chosen, defect))
    for p, defect in defect_of.items():
        if defect == "invite_only":
            category_of[p] = INVITE
    feed = GeneratedFeed([], category_of, defect_of, size_of=size_of)
    for p in parents:
        feed.rows.extend(product_rows(rng, p, size_of[p], category_of[p], defect_of.get(p), feed))
    if len(feed.rows) != total_rows:
        raise ValueError(f"generated {len(feed.rows)} rows, not {total_rows}")
    return feed


def product_rows(
    rng: random.Random, p: str, size: int, category: str, defect: str | None, feed: GeneratedFeed
) -> list[Row]:
    images = 10 if defect == "ten_images" else rng.randint(1, 9)
    shared = {
        "parent_id": p,
        "product_name": "T" * 256 if defect == "long_title" else f"Product {p}",
        "description": "<p>Made well.</p>",
        "category_id": category,
        "category_path": PATHS[category],
        "brand_id": UNAUTHORIZED if defect == "unauthorized_brand" else TEAS,
        "brand_name": "Teas",
        "images": "#".join(f"https://img.example/{p}/{i}.jpg" for i in range(images)),
        "package_weight": "heavy" if defect == "bad_weight" else f"{rng.randint(1, 40)}.5",
        "package_weight_unit": "KILOGRAM",
        "package_dimension_unit": "CENTIMETER",
        QTY: str(rng.randint(1, 6)),
    }
    occasion = rng.randrange(len(OCCASIONS))
    shared[OCCASION] = f"{OCCASIONS[occasion]}:::::{1001533 + occasion}"
    if defect == "occasion_not_predefined":
        shared[OCCASION] = "Graduation"
    if category == SOFA:
        foldable = rng.random() < 0.5
        shared[FOLDABLE] = "Foldable:::::1029401" if foldable else "Non-Foldable:::::1029402"
        shared[FOLDED] = "80x40" if foldable else ""
        if defect == "missing_foldable":
            shared[FOLDABLE], shared[FOLDED] = "", ""
        if defect == "folded_missing":
            shared[FOLDABLE], shared[FOLDED] = "Foldable:::::1029401", ""
    if category in (SOFA, DRESS) or rng.random() < 0.5:
        shared[MATERIAL] = "Wood:::::1002003" if category == SOFA else "Cotton:::::1002000"
    if defect == "material_missing":
        shared[MATERIAL] = ""
    rows = []
    offset = rng.randrange(len(COLORS))
    for k in range(size):
        color = COLORS[(offset + k) % len(COLORS)]
        feed.colors[color] += 1
        row = {
            **shared,
            "product_id": f"{p}-{k}",
            "sku.price": f"{rng.randint(1, 300)}.99",
            "sku.currency": "GBP",
            "sku.quantity": str(rng.randint(0, 500)),
            "sku.seller_sku": f"{p}-{k}",
            COLOR: color,
        }
        if category == DRESS:
            row[SIZE] = "SML"[k % 3]
        rows.append(row)
    if defect == "inconsistent_title":
        rows[1]["product_name"] = f"Product {p} (other title)"
    if defect == "bad_price":
        rows[-1]["sku.price"] = "12,99 GBP"
    return rows


# --- what the analysis must say -------------------------------------------------------------


def expected_status(passed: int, total: int) -> Status:
    if passed == total:
        return Status.GREEN
    return Status.ORANGE if passed / total >= 0.8 else Status.RED


IssueKey = tuple[str, str, str, TestKind]  # (parent_id, product_id, attribute, test)


def expected_issues(feed: GeneratedFeed) -> list[IssueKey]:
    """Every planted defect, once, on its attribute and test (sorted): nothing else."""
    out = []
    for p, d in feed.defect_of.items():
        product = f"{p}-{feed.size_of[p] - 1}" if d in VARIANT_DEFECTS else f"{p}-0"
        out.append((p, product, DEFECTS[d][2], DEFECTS[d][3]))
    return sorted(out)


def issue_keys(issues: Iterable[Mapping[str, Any]]) -> list[IssueKey]:
    """Issues as `GET /v1/feeds/{id}/issues` lists them (JSON objects or CSV rows), sorted."""
    return sorted(
        (i["parent_id"], i["product_id"], i["attribute"], TestKind(i["test"])) for i in issues
    )


def _same(actual: object, expected: object, what: str) -> None:
    if actual != expected:
        raise AssertionError(f"{what}: got {actual!r}, expected {expected!r}")


def check_report(report: ReadinessReport, feed: GeneratedFeed) -> None:
    """The readiness of `feed` must be exactly what its planted defects make it.

    Products, rows and ready products; per attribute its products, passed, failed, status
    and failures per test; per category its products and ready ones; the colour
    distribution. Raises AssertionError saying what differs.
    """
    parents = set(feed.category_of)
    _same(report.rows, len(feed.rows), "rows")
    _same(report.products, len(parents), "products")
    _same(report.ready, len(parents) - len(feed.defect_of), "ready products")

    # The brief's numbers, from the generator's bookkeeping.
    _same(report.attribute(FOLDABLE).failed, 37, f"{FOLDABLE} failed")
    _same(report.attribute(OCCASION).failed, 12, f"{OCCASION} failed")
    _same(
        {t.test: t.failed for t in report.attribute("product_name").tests},
        {TestKind.REQUIRED: 0, TestKind.LENGTH: 9, TestKind.FORMAT: 0, TestKind.CONSISTENCY: 5},
        "product_name failures per test",
    )
    _same(report.attribute("images").failed, 3, "images failed")

    columns = set(COMMON_COLUMNS).union(*CATEGORY_COLUMNS.values())
    _same({a.name for a in report.attributes}, columns, "attributes")
    for a in report.attributes:
        applies = {
            p for p, c in feed.category_of.items() if a.name in COMMON_COLUMNS
            or a.name in CATEGORY_COLUMNS[c]
        }  # fmt: skip
        failing = feed.failing(a.name)
        _same(
            (a.products, a.failed, a.passed),
            (len(applies), len(failing), len(applies) - len(failing)),
            f"{a.name} (products, failed, passed)",
        )
        _same(
            a.status, expected_status(len(applies) - len(failing), len(applies)), f"{a.name} status"
        )
        for t in a.tests:
            _same(t.failed, len(feed.failing(a.name, t.test)), f"{a.name} {t.test} failed")

    by_category = {c.category_id: c for c in report.categories}
    for cid in CATEGORY_ATTRS:
        members = {p for p, c in feed.category_of.items() if c == cid}
        ready = members - set(feed.defect_of)
        _same(
            (by_category[cid].products, by_category[cid].ready),
            (len(members), len(ready)),
            f"category {cid} (products, ready)",
        )
    _same(by_category[INVITE].status, Status.RED, "invite-only category status")  # all 6 fail

    color = report.attribute(COLOR)
    _same({v.value: v.count for v in color.distribution}, dict(feed.colors), "colours")
    _same((color.distribution_exact, color.empty), (True, 0), "colours (exact, empty)")

"""The Analyzer: how ready a feed's export is for TikTok (docs/feeds.md, "Readiness").

Feed it the export rows one product at a time (a parent's variant rows, the first one
being the main product, which supplies the shared attributes); it checks every attribute
of the product's category schema (`classify.schema_for`) and accumulates, per export
attribute, the share of products that pass its tests with a green / orange / red status,
the distribution of its values and the values TikTok supports. Each `add` also returns
the product's own issues, for the issues list; they are not kept, so a feed of 1,000,000
rows needs memory only for the per-attribute counters and bounded value distributions.

Tests (`TestKind`) follow TikTok's "Create Product 202309" (limits as the sandbox's
product_validation.py enforces them): required attributes (also conditionally, from
requirement_conditions), predefined values (`Value:::::Id` with a known id, unless the
attribute is customizable), one value for single-select attributes, lengths, formats
(numbers, URLs, HTML tags, no Chinese in titles), ranges (price, stock), at most 9 images,
shared attributes equal across the variants of a parent, an invite-only category or a
brand not authorized for the shop, at most 100 SKUs with distinct variations, no SKU
twice in one product. The report and issue models are in `readiness_report.py`.

A product passes an attribute when every test of it passes on the main row (shared
attributes) or on every variant row (`product_id` and `sku.*`). A variant may leave a
shared attribute empty (the main product supplies it); a different non-empty value is
an inconsistency.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

from catalog_sync import naming as N
from catalog_sync.classify import (
    DIMENSION_UNITS,
    MAX_SKUS,
    WEIGHT_UNITS,
    AttributeSource,
    SchemaAttribute,
    ValueFormat,
    common_schema,
)
from catalog_sync.readiness_checks import Check, Problem, TestKind, shown, value_checks
from catalog_sync.readiness_report import (
    ISSUE_FIELDS,
    AttributeReadiness,
    CategoryReadiness,
    Issue,
    ProductResult,
    ReadinessReport,
    ReadinessSettings,
    Status,
    TestCount,
    ValueCount,
    issue_dict,
    iter_issues,
    render_issues_csv,
    render_issues_json,
    render_issues_ndjson,
    status_for,
)
from catalog_sync.taxonomy import TaxonomyBrand, TaxonomyCategory

__all__ = [
    "ISSUE_FIELDS",
    "AttributeReadiness",
    "CategoryReadiness",
    "Issue",
    "ProductResult",
    "ReadinessAnalyzer",
    "ReadinessReport",
    "ReadinessSettings",
    "Row",
    "Status",
    "TestCount",
    "TestKind",
    "ValueCount",
    "analyze",
    "group_by_parent",
    "issue_dict",
    "iter_issues",
    "render_issues_csv",
    "render_issues_json",
    "render_issues_ndjson",
    "status_for",
]

Row = Mapping[str, str]

_KEY_MAX = 200  # characters of a value kept as a distribution key


_RANK = {kind: i for i, kind in enumerate(TestKind)}


# --- bounded value distribution ---------------------------------------------------------


class _TopValues:
    """Value counts, exact up to `capacity` distinct values, then approximate.

    Past 2 x capacity distinct values the least frequent half is dropped (counts of the
    values kept are then lower bounds), so memory stays bounded on any feed.
    """

    __slots__ = ("capacity", "counts", "exact")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.counts: dict[str, int] = {}
        self.exact = True

    def add(self, value: str) -> None:
        if len(value) > _KEY_MAX:
            value = value[:_KEY_MAX] + "…"
        counts = self.counts
        counts[value] = counts.get(value, 0) + 1
        if len(counts) > 2 * self.capacity:
            kept = heapq.nlargest(self.capacity, counts.items(), key=itemgetter(1))
            self.counts = dict(kept)
            self.exact = False

    def top(self, n: int) -> list[ValueCount]:
        best = heapq.nsmallest(n, self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return [ValueCount(value=v, count=c) for v, c in best]


# --- compiled schemas ---------------------------------------------------------------------


@dataclass(slots=True)
class _Stats:
    """Counters of one export attribute over the whole feed."""

    attr: SchemaAttribute
    capacity: int
    required: bool = False
    conditional: bool = False
    products: int = 0
    failed: int = 0
    empty: int = 0
    tests: dict[TestKind, int] = field(default_factory=dict)
    supported: dict[str, None] = field(default_factory=dict)
    top: _TopValues = field(init=False)
    tracked: bool = field(init=False)

    def __post_init__(self) -> None:
        self.top = _TopValues(self.capacity)
        self.tracked = (
            self.attr.name not in _UNTRACKED and self.attr.value_format is not ValueFormat.URL
        )


@dataclass(slots=True)
class _Attr:
    """One attribute of one compiled category schema."""

    name: str
    stats: _Stats
    required: bool
    conditions: tuple[tuple[str, str], ...]  # (export name of the controlling attribute, value id)
    checks: tuple[Check, ...]
    split: bool  # values are `#`-joined
    per_part: bool  # distribution counts each value of a multi-value cell
    tracked: bool  # values are counted (not for ids and URLs, unique by design)
    consistency: bool


@dataclass(slots=True)
class _Compiled:
    shared: list[_Attr]
    variant: list[_Attr]
    sales: tuple[str, ...]  # export names of the sales attributes (variations)


# "Create Product 202309": weight and dimension units go in pairs.
UNIT_PAIRS = {"KILOGRAM": "CENTIMETER", "POUND": "INCH"}
MAX_VARIATION_LEVELS = 3
# Unique per product or SKU by design: a value distribution would only cost memory and time.
_UNTRACKED = frozenset({N.PRODUCT_ID, N.PARENT_ID, N.SKU_SELLER_SKU, N.SKU_GTIN})


# --- the analyzer ----------------------------------------------------------------------------


class ReadinessAnalyzer:
    """Accumulates readiness over product groups fed one at a time (`add`), then `report`.

    `schemas` maps a category id to its export schema (`classify.schema_for`); a product
    whose category has none is checked against the common attributes (`common`, by
    default the market's) and gets a `category` issue. With `categories` (the market's
    taxonomy), unknown, non-leaf and invite-only categories are reported; with `brands`
    (the shop's), unknown, unavailable and unauthorized brands.
    """

    MAX_CATEGORY_ROWS = 10_000  # distinct categories reported; the rest are summed up

    def __init__(
        self,
        schemas: Mapping[str, Sequence[SchemaAttribute]],
        *,
        market: str | None = None,
        common: Sequence[SchemaAttribute] | None = None,
        categories: Mapping[str, TaxonomyCategory] | None = None,
        brands: Mapping[str, TaxonomyBrand] | None = None,
        settings: ReadinessSettings | None = None,
    ) -> None:
        self.settings = settings or ReadinessSettings()
        self.market = market
        self._schemas = schemas
        self._common = list(common) if common is not None else common_schema(market)
        self._categories = categories
        self._brands = brands
        self._stats: dict[str, _Stats] = {}
        self._compiled: dict[str, _Compiled] = {}
        self._fallback: _Compiled | None = None
        self._per_category: dict[str, list[int]] = {}
        self._other_categories = [0, 0]
        self.rows = 0
        self.products = 0
        self.ready = 0

    # compile ------------------------------------------------------------------------------

    def _stats_for(self, a: SchemaAttribute) -> _Stats:
        st = self._stats.get(a.name)
        if st is None:
            st = _Stats(a, self.settings.distribution_capacity)
            self._stats[a.name] = st
        st.required = st.required or a.required
        st.conditional = st.conditional or bool(a.required_when)
        room = self.settings.max_supported_values - len(st.supported)
        for value in a.supported_values[: max(room, 0)]:
            st.supported[value] = None
        return st

    def _compile(self, schema: Sequence[SchemaAttribute], known: bool) -> _Compiled:
        by_attr_id = {a.attribute_id: a.name for a in schema if a.attribute_id}
        shared: list[_Attr] = []
        variant: list[_Attr] = []
        for a in schema:
            st = self._stats_for(a)
            extra: list[Check] = []
            kinds: list[TestKind] = []
            if a.name == N.CATEGORY_ID:
                extra.append(self._category_check(known))
                kinds.append(TestKind.CATEGORY)
                if self._categories is not None:
                    kinds.append(TestKind.INVITE_ONLY)
            elif a.name == N.BRAND_ID and self._brands is not None:
                extra.append(self._brand_check)
                kinds += [TestKind.BRAND, TestKind.BRAND_AUTHORIZATION]
            elif a.name == N.PARENT_ID:
                kinds += [TestKind.VARIANT_COUNT, TestKind.VARIANT_COMBINATION]
            elif a.name == N.PACKAGE_DIMENSION_UNIT and not a.choices:
                kinds.append(TestKind.PREDEFINED)  # the pairing with the weight unit
            elif a.name == N.PRODUCT_ID:
                kinds.append(TestKind.DUPLICATE)
            checks, value_kinds = value_checks(a, self.market, extra)
            conditions = tuple(
                (by_attr_id[c.attribute_id], c.value_id)
                for c in a.required_when
                if c.attribute_id in by_attr_id
            )
            consistency = not a.per_variant and a.name != N.PARENT_ID
            ordered = [TestKind.REQUIRED] if a.required or conditions else []
            ordered += [*value_kinds, *kinds]
            if consistency:
                ordered.append(TestKind.CONSISTENCY)
            for kind in ordered:
                st.tests.setdefault(kind, 0)
            compiled = _Attr(
                name=a.name,
                stats=st,
                required=a.required,
                conditions=conditions,
                checks=checks,
                split=a.multi_select or bool(a.values),
                per_part=bool(a.values or a.choices),
                tracked=st.tracked,
                consistency=consistency,
            )
            (variant if a.per_variant else shared).append(compiled)
        sales = tuple(
            a.name
            for a in schema
            if a.source is AttributeSource.SALES and a.name.startswith(N.SALES_ATTRIBUTE_PREFIX)
        )
        return _Compiled(shared, variant, sales)

    def _schema_of(self, category_id: str) -> _Compiled:
        compiled = self._compiled.get(category_id)
        if compiled is not None:
            return compiled
        schema = self._schemas.get(category_id) if category_id else None
        if schema is None:
            if self._fallback is None:
                self._fallback = self._compile(self._common, known=False)
            return self._fallback
        compiled = self._compile(schema, known=True)
        self._compiled[category_id] = compiled
        return compiled

    def _category_check(self, known: bool) -> Check:
        categories = self._categories

        def run(cell: str) -> Problem | None:
            cid = cell.strip()
            if not cid.isdigit():
                return None  # the format test reports it
            if categories is not None:
                cat = categories.get(cid)
                if cat is None:
                    return TestKind.CATEGORY, f"category {cid} does not exist in this market"
                if not cat.is_leaf:
                    return TestKind.CATEGORY, f"category {cid} is not a leaf category"
                if cat.invite_only:
                    return (
                        TestKind.INVITE_ONLY,
                        f"category {cid} is invite-only: TikTok must approve the shop first",
                    )
            if not known:
                return TestKind.CATEGORY, f"the attributes of category {cid} are not loaded"
            return None

        return run

    def _brand_check(self, cell: str) -> Problem | None:
        bid = cell.strip()
        if not bid.isdigit() or self._brands is None:
            return None
        brand = self._brands.get(bid)
        if brand is None or not brand.available:
            return TestKind.BRAND, f"brand {bid} is unknown or unavailable for this shop"
        if not brand.authorized:
            return TestKind.BRAND_AUTHORIZATION, f"brand {bid} is not authorized for this shop"
        return None

    # accumulate ---------------------------------------------------------------------------

    def add(self, rows: Sequence[Row]) -> ProductResult:
        """Check one product: its variant rows, the main product first."""
        if not rows:
            raise ValueError("a product has at least one row")
        main = rows[0]
        parent = main.get(N.PARENT_ID, "")
        main_id = main.get(N.PRODUCT_ID, "")
        category_id = main.get(N.CATEGORY_ID, "").strip()
        compiled = self._schema_of(category_id)
        issues: list[Issue] = []
        product_level = _product_problems(main, rows, compiled.sales, self.market)
        for a in compiled.shared:
            self._shared(a, main, rows, parent, main_id, issues, product_level.get(a.name))
        for a in compiled.variant:
            self._variant(a, main, rows, parent, issues)
        self.rows += len(rows)
        self.products += 1
        ready = not issues
        self.ready += ready
        self._count_category(category_id, ready)
        return ProductResult(parent, main_id, category_id, len(rows), tuple(issues))

    def _required(self, a: _Attr, main: Row) -> bool:
        if a.required:
            return True
        for ctrl, value_id in a.conditions:
            cell = main.get(ctrl, "")
            if cell and any(
                N.parse_predefined(p).value_id == value_id for p in N.split_multi(cell)
            ):
                return True
        return False

    def _problems(self, a: _Attr, cell: str, main: Row) -> list[Problem]:
        if not cell.strip():
            if a.required or a.conditions:
                if self._required(a, main):
                    return [(TestKind.REQUIRED, "a value is required")]
            return []
        out = []
        for check in a.checks:
            problem = check(cell)
            if problem is not None:
                out.append(problem)
        return out

    def _distribute(self, a: _Attr, cell: str) -> None:
        st = a.stats
        if not cell.strip():
            st.empty += 1
        elif not a.tracked:
            return
        elif a.per_part:
            for part in N.split_multi(cell):
                st.top.add(part)
        else:
            st.top.add(cell)

    def _shared(
        self,
        a: _Attr,
        main: Row,
        rows: Sequence[Row],
        parent: str,
        main_id: str,
        issues: list[Issue],
        product_level: list[Problem] | None,
    ) -> None:
        st = a.stats
        st.products += 1
        cell = main.get(a.name, "")
        self._distribute(a, cell)
        problems = self._problems(a, cell, main)
        if product_level:
            problems += product_level
        if a.consistency and len(rows) > 1:
            for row in rows[1:]:
                other = row.get(a.name, "")
                if other and other != cell:
                    problems.append(
                        (
                            TestKind.CONSISTENCY,
                            f"variant {row.get(N.PRODUCT_ID, '')} has {shown(other)}, "
                            f"the main product {shown(cell)}",
                        )
                    )
                    break
        if not problems:
            return
        st.failed += 1
        seen: set[TestKind] = set()
        for kind, message in problems:
            issues.append(Issue(parent, main_id, a.name, kind, message))
            if kind not in seen:
                seen.add(kind)
                st.tests[kind] = st.tests.get(kind, 0) + 1

    def _variant(
        self, a: _Attr, main: Row, rows: Sequence[Row], parent: str, issues: list[Issue]
    ) -> None:
        st = a.stats
        st.products += 1
        failed: set[TestKind] = set()
        for row in rows:
            cell = row.get(a.name, "")
            self._distribute(a, cell)
            problems = self._problems(a, cell, main)
            for kind, message in problems:
                issues.append(Issue(parent, row.get(N.PRODUCT_ID, ""), a.name, kind, message))
                failed.add(kind)
        if a.name == N.PRODUCT_ID and len(rows) > 1:
            twice = _first_repeated(row.get(N.PRODUCT_ID, "") for row in rows)
            if twice is not None:
                message = "the product id appears twice in the product"
                issues.append(Issue(parent, twice, a.name, TestKind.DUPLICATE, message))
                failed.add(TestKind.DUPLICATE)
        if failed:
            st.failed += 1
            for kind in failed:
                st.tests[kind] = st.tests.get(kind, 0) + 1

    def _count_category(self, category_id: str, ready: bool) -> None:
        counts = self._per_category.get(category_id)
        if counts is None:
            if len(self._per_category) >= self.MAX_CATEGORY_ROWS:
                counts = self._other_categories
            else:
                counts = self._per_category[category_id] = [0, 0]
        counts[0] += 1
        counts[1] += ready

    # report -------------------------------------------------------------------------------

    def report(self) -> ReadinessReport:
        threshold = self.settings.orange_threshold
        attributes = []
        for name, st in self._stats.items():
            a = st.attr
            passed = st.products - st.failed
            attributes.append(
                AttributeReadiness(
                    name=name,
                    label=a.label,
                    source=a.source,
                    required=st.required,
                    conditionally_required=st.conditional,
                    per_variant=a.per_variant,
                    products=st.products,
                    passed=passed,
                    failed=st.failed,
                    share=_share(passed, st.products),
                    status=status_for(passed, st.products, threshold),
                    tests=[
                        TestCount(test=k, failed=st.tests[k])
                        for k in sorted(st.tests, key=_RANK.__getitem__)
                    ],
                    distribution=st.top.top(self.settings.top_values),
                    distinct_values=len(st.top.counts),
                    distribution_exact=st.top.exact,
                    distribution_tracked=st.tracked,
                    empty=st.empty,
                    supported_values=list(st.supported),
                )
            )
        categories = []
        for cid, (products, ready) in self._per_category.items():
            cat = self._categories.get(cid) if self._categories is not None else None
            categories.append(
                CategoryReadiness(
                    category_id=cid,
                    path=cat.path if cat is not None else None,
                    products=products,
                    ready=ready,
                    share=_share(ready, products),
                    status=status_for(ready, products, threshold),
                )
            )
        return ReadinessReport(
            rows=self.rows,
            products=self.products,
            ready=self.ready,
            share=_share(self.ready, self.products),
            status=status_for(self.ready, self.products, threshold),
            threshold=threshold,
            attributes=attributes,
            categories=categories,
            categories_truncated=self._other_categories[0] > 0,
        )


def _product_problems(
    main: Row, rows: Sequence[Row], sales: tuple[str, ...], market: str | None
) -> dict[str, list[Problem]]:
    """Tests across attributes or variants, keyed by the attribute they are reported on."""
    out: dict[str, list[Problem]] = {}
    if len(rows) > MAX_SKUS:
        out[N.PARENT_ID] = [(TestKind.VARIANT_COUNT, f"{len(rows)} SKUs, at most {MAX_SKUS}")]
    if len(rows) > 1:
        problem = _combination_problem(rows, sales)
        if problem is not None:
            out.setdefault(N.PARENT_ID, []).append(problem)
    weight_unit = main.get(N.PACKAGE_WEIGHT_UNIT, "").strip()
    dims_unit = main.get(N.PACKAGE_DIMENSION_UNIT, "").strip()
    paired = UNIT_PAIRS.get(weight_unit)
    # A unit the market does not take is reported on its own attribute already.
    allowed = set(WEIGHT_UNITS.get(market or "", UNIT_PAIRS)) | set(
        DIMENSION_UNITS.get(market or "", UNIT_PAIRS.values())
    )
    if (
        paired
        and dims_unit in UNIT_PAIRS.values()
        and dims_unit != paired
        and {weight_unit, dims_unit} <= allowed
    ):
        message = f"{dims_unit} does not go with {weight_unit}: use {paired}"
        out[N.PACKAGE_DIMENSION_UNIT] = [(TestKind.PREDEFINED, message)]
    return out


def _combination_problem(rows: Sequence[Row], sales: tuple[str, ...]) -> Problem | None:
    """Each SKU needs its own combination of sales attribute values, at most 3 levels."""
    used = [n for n in sales if any(row.get(n, "").strip() for row in rows)]
    if len(used) > MAX_VARIATION_LEVELS:
        levels = ", ".join(n[len(N.SALES_ATTRIBUTE_PREFIX) :] for n in used)
        return TestKind.VARIANT_COMBINATION, f"{len(used)} variation levels ({levels}), at most 3"
    seen: dict[tuple[str, ...], str] = {}
    for row in rows:
        combo = tuple(row.get(n, "").strip().lower() for n in used)
        product_id = row.get(N.PRODUCT_ID, "")
        if combo in seen:
            values = ", ".join(
                f"{n[len(N.SALES_ATTRIBUTE_PREFIX) :]}={row.get(n, '')}" for n in used
            )
            return (
                TestKind.VARIANT_COMBINATION,
                f"variants {seen[combo]} and {product_id} have the same variation"
                + (f" ({values})" if values else " (no sales attribute values)"),
            )
        seen[combo] = product_id
    return None


def _first_repeated(values: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


def _share(passed: int, total: int) -> float:
    return 1.0 if total == 0 else passed / total


def group_by_parent(rows: Iterable[Row]) -> Iterator[list[Row]]:
    """Consecutive rows with the same parent_id as one product (rows sorted by parent).

    A row without parent_id is a product of its own, keyed by its product_id, as
    `dataflow.group_variants` groups them. Unlike `group_variants`, the variants are left
    as they are: the analyzer must see a variant's own shared values to report an
    inconsistency.
    """
    group: list[Row] = []
    current: str | None = None
    for row in rows:
        key = row.get(N.PARENT_ID) or row.get(N.PRODUCT_ID) or ""
        if group and (key != current or not key):
            yield group
            group = []
        current = key
        group.append(row)
    if group:
        yield group


def analyze(
    groups: Iterable[Sequence[Row]],
    schemas: Mapping[str, Sequence[SchemaAttribute]],
    *,
    market: str | None = None,
    categories: Mapping[str, TaxonomyCategory] | None = None,
    brands: Mapping[str, TaxonomyBrand] | None = None,
    settings: ReadinessSettings | None = None,
) -> ReadinessReport:
    """Readiness of a whole feed at once (the issues are dropped)."""
    analyzer = ReadinessAnalyzer(
        schemas, market=market, categories=categories, brands=brands, settings=settings
    )
    for group in groups:
        analyzer.add(group)
    return analyzer.report()

"""Readiness analyzer: each test kind, the status thresholds, distributions, issue lists,
and a generated 10,000-row feed with counted defects."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from catalog_sync.classify import schema_for
from catalog_sync.readiness import (
    ISSUE_FIELDS,
    ReadinessAnalyzer,
    ReadinessSettings,
    Status,
    TestKind,
    analyze,
    group_by_parent,
    iter_issues,
    render_issues_csv,
    render_issues_json,
    render_issues_ndjson,
    status_for,
)
from catalog_sync.taxonomy import CategoryAttribute
from catalog_sync.testing import (
    BRANDS,
    CATEGORIES,
    CATEGORY_ATTRS,
    COLOR,
    COLOR_IMAGE,
    DRESS,
    FOLDABLE,
    FOLDED,
    INVITE,
    MATERIAL,
    MUG,
    OCCASION,
    PARENT_CAT,
    PATHS,
    QTY,
    SCHEMAS,
    SIZE,
    SOFA,
    TEAS,
    UNAUTHORIZED,
    UNAVAILABLE,
    UNLOADED,
    check_report,
    expected_issues,
    generate,
    make_analyzer,
)


def sofa_row(product_id: str = "S1-A", parent_id: str = "S1", **over: str) -> dict[str, str]:
    row = {
        "product_id": product_id,
        "parent_id": parent_id,
        "product_name": "Grey three seater sofa",
        "description": "<p>A <strong>comfy</strong> sofa</p><ul><li>3 seats</li></ul>",
        "category_id": SOFA,
        "category_path": PATHS[SOFA],
        "brand_id": TEAS,
        "brand_name": "Teas",
        "images": "https://img.example/s1/1.jpg#https://img.example/s1/2.jpg",
        "package_weight": "40",
        "package_weight_unit": "KILOGRAM",
        "package_length": "200",
        "package_width": "90",
        "package_height": "80",
        "package_dimension_unit": "CENTIMETER",
        "sku.price": "499.00",
        "sku.currency": "GBP",
        "sku.quantity": "10",
        "sku.seller_sku": product_id,
        "sku.gtin": "05012345678900",
        "sku.gtin_type": "EAN",
        FOLDABLE: "Non-Foldable:::::1029402",
        MATERIAL: "Wood:::::1002003#Velour",
        OCCASION: "Birthday:::::1001533",
        COLOR: "Grey",
    }
    row.update(over)
    return row


def problems(rows: list[dict[str, str]], **kw: Any) -> list[tuple[str, TestKind]]:
    return [(i.attribute, i.test) for i in make_analyzer(**kw).add(rows).issues]


def test_a_complete_product_passes_everything() -> None:
    analyzer = make_analyzer()
    result = analyzer.add([sofa_row("S1-A"), sofa_row("S1-B", **{COLOR: "Blue", "sku.price": "9"})])
    assert result.issues == () and result.ready and result.variants == 2
    report = analyzer.report()
    assert report.products == report.ready == 1 and report.rows == 2
    assert report.status is Status.GREEN
    assert all(a.status is Status.GREEN and a.failed == 0 for a in report.attributes)


BAD_CELLS = [
    ("product_name", "", TestKind.REQUIRED),
    ("product_name", "x" * 256, TestKind.LENGTH),
    ("product_name", "沙发 sofa", TestKind.FORMAT),
    ("description", "<div>no divs</div>", TestKind.FORMAT),
    ("description", "x" * 10_001, TestKind.LENGTH),
    ("description", "", TestKind.REQUIRED),
    ("category_id", "604468|Furniture>Indoor Furniture>Sofas", TestKind.FORMAT),
    ("category_id", "999999", TestKind.CATEGORY),
    ("category_id", PARENT_CAT, TestKind.CATEGORY),
    ("category_id", INVITE, TestKind.INVITE_ONLY),
    ("category_id", UNLOADED, TestKind.CATEGORY),
    ("brand_id", UNAUTHORIZED, TestKind.BRAND_AUTHORIZATION),
    ("brand_id", UNAVAILABLE, TestKind.BRAND),
    ("brand_id", "123456", TestKind.BRAND),
    ("brand_id", "Teas", TestKind.FORMAT),
    ("images", "", TestKind.REQUIRED),
    ("images", "#".join(f"https://img.example/{i}.jpg" for i in range(10)), TestKind.IMAGE_COUNT),
    ("images", "https://img.example/1.jpg#ftp://img.example/2.jpg", TestKind.FORMAT),
    ("images", "img.example/1.jpg", TestKind.FORMAT),
    ("package_weight", "", TestKind.REQUIRED),
    ("package_weight", "heavy", TestKind.FORMAT),
    ("package_weight", "0", TestKind.FORMAT),
    ("package_weight", "-2", TestKind.FORMAT),
    ("package_length", "ten", TestKind.FORMAT),
    ("package_weight_unit", "POUND", TestKind.PREDEFINED),  # US only
    ("package_dimension_unit", "INCH", TestKind.PREDEFINED),
    ("sku.price", "", TestKind.REQUIRED),
    ("sku.price", "abc", TestKind.FORMAT),
    ("sku.price", "0", TestKind.FORMAT),
    ("sku.price", "NaN", TestKind.FORMAT),
    ("sku.price", "5600.01", TestKind.RANGE),
    ("sku.currency", "USD", TestKind.PREDEFINED),
    ("sku.quantity", "", TestKind.REQUIRED),
    ("sku.quantity", "1.5", TestKind.FORMAT),
    ("sku.quantity", "1000000", TestKind.RANGE),
    ("sku.seller_sku", "S" * 51, TestKind.LENGTH),
    ("sku.gtin", "12345", TestKind.FORMAT),
    ("sku.gtin_type", "ASIN", TestKind.PREDEFINED),
    ("sku.image", "not a url", TestKind.FORMAT),
    (FOLDABLE, "", TestKind.REQUIRED),
    (FOLDABLE, "Foldable", TestKind.PREDEFINED),  # the value without its id
    (FOLDABLE, "Folding:::::1029499", TestKind.PREDEFINED),
    (FOLDABLE, "Non-Foldable:::::1029402#Non-Foldable:::::1029402", TestKind.SINGLE_VALUE),
    (MATERIAL, "", TestKind.REQUIRED),
    (MATERIAL, "Velvet:::::999", TestKind.PREDEFINED),  # an id TikTok does not know
    (MATERIAL, "V" * 501, TestKind.LENGTH),
    (OCCASION, "Graduation", TestKind.PREDEFINED),
    (QTY, "two", TestKind.FORMAT),
    (COLOR, "C" * 51, TestKind.LENGTH),
    (COLOR_IMAGE, "file:///tmp/x.jpg", TestKind.FORMAT),
]


@pytest.mark.parametrize(("attribute", "cell", "test"), BAD_CELLS)
def test_each_test_kind_fails_alone(attribute: str, cell: str, test: TestKind) -> None:
    assert problems([sofa_row(**{attribute: cell})]) == [(attribute, test)]


GOOD_CELLS = [
    ("product_name", "x" * 255),
    ("description", "x" * 10_000),
    ("description", "plain text, no tags"),
    ("brand_id", ""),  # a brand is optional
    ("images", "#".join(f"https://img.example/{i}.jpg" for i in range(9))),
    ("images", "https://img.example/1.jpg #https://img.example/2.jpg"),
    ("sku.price", "5600"),
    ("sku.price", "0.01"),
    ("sku.quantity", "0"),
    ("sku.quantity", "999999"),
    ("sku.gtin", "012345678905"),
    (MATERIAL, "Velour"),  # customizable: a free value
    (MATERIAL, "Cotton:::::1002000#Polyester:::::1002001"),  # multi-select
    (OCCASION, "Birthday:::::1001533#Party:::::1001538"),
    (QTY, "2.5"),
    (COLOR, "Midnight blue"),  # customizable sales attribute
    (FOLDED, "80x40"),  # optional while Non-Foldable
]


@pytest.mark.parametrize(("attribute", "cell"), GOOD_CELLS)
def test_good_values_pass(attribute: str, cell: str) -> None:
    assert problems([sofa_row(**{attribute: cell})]) == []


def test_requirement_conditions_make_an_attribute_required() -> None:
    foldable = {FOLDABLE: "Foldable:::::1029401"}
    assert problems([sofa_row(**foldable)]) == [(FOLDED, TestKind.REQUIRED)]
    assert problems([sofa_row(**foldable, **{FOLDED: "80x40"})]) == []


def test_predefined_messages_say_what_to_write() -> None:
    result = make_analyzer().add([sofa_row(**{FOLDABLE: "foldable"})])
    assert "write Foldable:::::1029401" in result.issues[0].message


def test_predefined_only_sales_attribute_takes_the_name_or_the_id() -> None:
    def dress(**over: str) -> dict[str, str]:
        row = sofa_row(category_id=DRESS, **{MATERIAL: "Cotton:::::1002000"})
        row.pop(FOLDABLE)
        row.update(over)
        return row

    assert (
        problems([dress(**{SIZE: "M"}), dress(product_id="S1-B", **{SIZE: "L:::::1000202"})]) == []
    )
    assert problems([dress(**{SIZE: "XXXL"})]) == [(SIZE, TestKind.PREDEFINED)]


def test_shared_attributes_must_agree_across_variants() -> None:
    main = sofa_row("S1-A")
    same = sofa_row("S1-B", **{COLOR: "Blue", "sku.price": "519.00"})  # sku.* may differ
    empty = sofa_row("S1-C", **{COLOR: "Red"}, product_name="", description="")  # main supplies
    other = sofa_row("S1-D", **{COLOR: "Black"}, product_name="Another sofa")
    assert problems([main, same, empty]) == []
    result = make_analyzer().add([main, same, other])
    assert [(i.product_id, i.attribute, i.test) for i in result.issues] == [
        ("S1-A", "product_name", TestKind.CONSISTENCY)
    ]
    assert "S1-D" in result.issues[0].message


def test_variant_issues_name_the_variant() -> None:
    rows = [sofa_row("S1-A"), sofa_row("S1-B", **{COLOR: "Blue", "sku.price": "free"})]
    result = make_analyzer().add(rows)
    assert [(i.parent_id, i.product_id, i.attribute) for i in result.issues] == [
        ("S1", "S1-B", "sku.price")
    ]


def test_one_product_counts_once_however_many_variants_fail() -> None:
    analyzer = make_analyzer()
    analyzer.add([sofa_row(f"S1-{k}", **{COLOR: k, "sku.price": "x"}) for k in "ABC"])
    price = analyzer.report().attribute("sku.price")
    assert (price.products, price.failed) == (1, 1)
    assert {t.test: t.failed for t in price.tests}[TestKind.FORMAT] == 1


def test_sku_count_and_duplicate_skus() -> None:
    many = [sofa_row(f"S1-{k}", **{COLOR: f"C{k}"}) for k in range(101)]
    assert problems(many) == [("parent_id", TestKind.VARIANT_COUNT)]
    twice = [sofa_row("S1-A"), sofa_row("S1-A", **{COLOR: "Blue"})]
    assert problems(twice) == [("product_id", TestKind.DUPLICATE)]


def test_each_sku_needs_its_own_variation() -> None:
    same = [sofa_row("S1-A"), sofa_row("S1-B", **{"sku.price": "9"})]  # both Grey
    assert problems(same) == [("parent_id", TestKind.VARIANT_COMBINATION)]
    message = make_analyzer().add(same).issues[0].message
    assert message == "variants S1-A and S1-B have the same variation (Color=Grey)"
    no_variation = [sofa_row("S1-A", **{COLOR: ""}), sofa_row("S1-B", **{COLOR: ""})]
    assert problems(no_variation) == [("parent_id", TestKind.VARIANT_COMBINATION)]
    sales = [
        CategoryAttribute(id=str(200 + i), name=f"Level{i}", kind="sales", customizable=True)
        for i in range(4)
    ]
    schema = {MUG: schema_for(sales, market="UK")}
    levels = {f"sku.sales_attribute.Level{i}" for i in range(4)}
    rows = [
        sofa_row(f"M-{k}", "M", category_id=MUG, **dict.fromkeys(levels, str(k))) for k in (1, 2)
    ]
    four = ReadinessAnalyzer(schema, market="UK").add(rows).issues
    assert [(i.attribute, i.test) for i in four] == [("parent_id", TestKind.VARIANT_COMBINATION)]
    assert "4 variation levels" in four[0].message
    three = [{k: v for k, v in r.items() if not k.endswith("Level3")} for r in rows]
    assert ReadinessAnalyzer(schema, market="UK").add(three).issues == ()


def test_weight_and_dimension_units_pair_up_in_the_us() -> None:
    us = ReadinessAnalyzer({SOFA: schema_for(CATEGORY_ATTRS[SOFA], market="US")}, market="US")
    pound = sofa_row(package_weight_unit="POUND", **{"sku.currency": "USD"})
    assert [(i.attribute, i.test) for i in us.add([pound]).issues] == [
        ("package_dimension_unit", TestKind.PREDEFINED)
    ]
    inch = {**pound, "package_dimension_unit": "INCH"}
    assert us.add([inch]).issues == ()
    assert us.report().attribute("package_dimension_unit").failed == 1


def test_without_taxonomies_category_and_brand_are_not_judged() -> None:
    rows = [sofa_row(brand_id=UNAUTHORIZED)]
    assert problems(rows, categories=None, brands=None) == []
    invite = sofa_row(category_id=INVITE)
    assert problems([invite], categories=None) == []  # schema known, permission unknown


def test_unloaded_schema_still_checks_common_attributes() -> None:
    row = sofa_row(category_id=UNLOADED, product_name="")
    assert problems([row]) == [
        ("product_name", TestKind.REQUIRED),
        ("category_id", TestKind.CATEGORY),
    ]
    message = make_analyzer().add([row]).issues[1].message
    assert message == f"the attributes of category {UNLOADED} are not loaded"


@pytest.mark.parametrize(
    ("passed", "total", "threshold", "status"),
    [
        (10, 10, 0.8, Status.GREEN),
        (0, 0, 0.8, Status.GREEN),
        (8, 10, 0.8, Status.ORANGE),  # exactly the threshold
        (999, 1000, 0.8, Status.ORANGE),
        (7, 10, 0.8, Status.RED),
        (0, 10, 0.8, Status.RED),
        (5, 10, 0.5, Status.ORANGE),
        (4, 10, 0.5, Status.RED),
        (9, 10, 1.0, Status.RED),
        (0, 10, 0.0, Status.ORANGE),
    ],
)
def test_status_thresholds(passed: int, total: int, threshold: float, status: Status) -> None:
    assert status_for(passed, total, threshold) is status


@pytest.mark.parametrize(
    ("bad", "status"), [(0, Status.GREEN), (2, Status.ORANGE), (3, Status.RED)]
)
def test_attribute_status_follows_the_share(bad: int, status: Status) -> None:
    analyzer = make_analyzer()
    for i in range(10):
        analyzer.add([sofa_row(f"P{i}-A", f"P{i}", product_name="" if i < bad else "Sofa")])
    title = analyzer.report().attribute("product_name")
    assert (title.products, title.passed, title.failed) == (10, 10 - bad, bad)
    assert title.share == pytest.approx((10 - bad) / 10) and title.status is status
    orange_at_70 = make_analyzer(settings=ReadinessSettings(orange_threshold=0.7))
    for i in range(10):
        orange_at_70.add([sofa_row(f"P{i}-A", f"P{i}", product_name="" if i < bad else "Sofa")])
    relaxed = orange_at_70.report().attribute("product_name").status
    assert relaxed is (Status.GREEN if bad == 0 else Status.ORANGE)


def test_report_lists_tests_distribution_and_supported_values() -> None:
    analyzer = make_analyzer(settings=ReadinessSettings(top_values=2))
    for i, occasion in enumerate(["Birthday:::::1001533"] * 3 + ["Party:::::1001538"] * 2 + [""]):
        analyzer.add([sofa_row(f"P{i}-A", f"P{i}", **{OCCASION: occasion})])
    report = analyzer.report()
    occ = report.attribute(OCCASION)
    assert [(v.value, v.count) for v in occ.distribution] == [
        ("Birthday:::::1001533", 3),
        ("Party:::::1001538", 2),
    ]
    assert occ.empty == 1 and occ.distinct_values == 2 and occ.distribution_exact
    assert occ.supported_values[0] == "Birthday:::::1001533" and len(occ.supported_values) == 6
    assert not occ.required and occ.distribution_tracked
    ids = report.attribute("product_id")  # unique by design: not counted
    assert not ids.distribution_tracked and ids.distribution == [] and ids.empty == 0
    assert [t.test for t in occ.tests] == [TestKind.PREDEFINED, TestKind.CONSISTENCY]
    foldable = report.attribute(FOLDABLE)
    assert foldable.required and foldable.tests[0].test is TestKind.REQUIRED
    folded = report.attribute(FOLDED)
    assert folded.conditionally_required and not folded.required
    cat = next(c for c in report.categories if c.category_id == SOFA)
    assert (cat.products, cat.ready, cat.path, cat.status) == (6, 6, PATHS[SOFA], Status.GREEN)


def test_distribution_memory_is_bounded() -> None:
    analyzer = make_analyzer(settings=ReadinessSettings(distribution_capacity=50, top_values=3))
    for i in range(2_000):
        title = "Popular sofa" if i % 4 == 0 else f"Sofa number {i}"
        analyzer.add([sofa_row(f"P{i}-A", f"P{i}", product_name=title)])
    title = analyzer.report().attribute("product_name")
    assert not title.distribution_exact and title.distinct_values <= 100
    assert title.distribution[0].value == "Popular sofa"
    assert title.distribution[0].count >= 400  # a lower bound once approximate


def test_group_by_parent_and_analyze() -> None:
    rows = [sofa_row("A-1", "A"), sofa_row("A-2", "A", **{COLOR: "Blue"}), sofa_row("B-1", "B")]
    groups = list(group_by_parent(iter(rows)))
    assert [[r["product_id"] for r in g] for g in groups] == [["A-1", "A-2"], ["B-1"]]
    report = analyze(groups, SCHEMAS, market="UK", categories=CATEGORIES, brands=BRANDS)
    assert (report.rows, report.products, report.ready) == (3, 2, 2)
    assert list(group_by_parent([])) == []
    loose = [{"product_id": "X"}, {"product_id": "X"}, {"product_id": ""}, {"product_id": ""}]
    assert [len(g) for g in group_by_parent(loose)] == [2, 1, 1]
    with pytest.raises(ValueError, match="at least one row"):
        make_analyzer().add([])


def test_issue_renderings() -> None:
    analyzer = make_analyzer()
    results = [
        analyzer.add([sofa_row("A-1", "A", product_name="", description='<div a="1">, "x"')]),
        analyzer.add(
            [sofa_row("B-1", "B"), sofa_row("B-2", "B", **{COLOR: "Red", "sku.price": "1,5"})]
        ),
    ]
    issues = list(iter_issues(results))
    lines = list(render_issues_csv(issues))
    parsed = list(csv.reader(io.StringIO("".join(lines))))
    assert parsed[0] == list(ISSUE_FIELDS)
    assert parsed[1:] == [
        ["A", "A-1", "product_name", "required", "a value is required"],
        ["A", "A-1", "description", "format", "unsupported HTML tags: div"],
        ["B", "B-2", "sku.price", "format", "price '1,5' is not a number greater than 0"],
    ]
    assert len(list(render_issues_csv(issues, header=False))) == 3
    ndjson = [json.loads(line) for line in render_issues_ndjson(issues)]
    assert ndjson == render_issues_json(issues)
    assert ndjson[2] == dict(zip(ISSUE_FIELDS, parsed[3], strict=True))


# --- a generated 10,000-row feed with counted defects -----------------------------------
# (the generator and the expected numbers are shared with the HTTP test,
# tests/integration/test_catalog_readiness_feed.py)


def test_generated_feed_yields_exactly_the_planted_defects() -> None:
    feed = generate()
    analyzer = make_analyzer(settings=ReadinessSettings(top_values=20))
    results = [analyzer.add(group) for group in group_by_parent(feed.rows)]
    report = analyzer.report()

    assert report.products == len(feed.category_of) == len(results)
    assert {r.parent_id for r in results if not r.ready} == set(feed.defect_of)
    # Every planted defect is reported once, on its attribute and test, and nothing else.
    issues = [(i.parent_id, i.product_id, i.attribute, i.test) for i in iter_issues(results)]
    assert sorted(issues) == expected_issues(feed)
    check_report(report, feed)


def test_the_expectations_catch_a_miscount() -> None:
    feed = generate()
    analyzer = make_analyzer()
    for group in group_by_parent(feed.rows):
        analyzer.add(group)
    report = analyzer.report()
    check_report(report, feed)
    with pytest.raises(AssertionError, match="ready products: got 3894, expected 3893"):
        check_report(report.model_copy(update={"ready": report.ready + 1}), feed)
    feed.defect_of.popitem()  # a defect the bookkeeping forgot
    with pytest.raises(AssertionError):
        check_report(report, feed)

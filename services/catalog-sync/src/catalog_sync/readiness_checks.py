"""The analyzer's tests of one export value (docs/feeds.md, "Readiness").

Each check takes a non-empty cell and returns its first problem, `(TestKind, message)`, or
None. `value_checks(attr)` builds them once per attribute of a category schema, so the
analyzer's hot loop (`readiness.py`) does no per-row compiling. Limits and formats are
those of TikTok's "Create Product 202309" (as the sandbox's product_validation.py
enforces them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from catalog_sync import naming as N
from catalog_sync.classify import (
    MAX_STOCK,
    PRICE_RANGES,
    AttributeSource,
    SchemaAttribute,
    ValueFormat,
)

# "Create Product 202309": the only tags a description may use.
ALLOWED_TAGS = frozenset({"p", "img", "ul", "ol", "li", "br", "strong", "b", "i", "em", "u"})
_TAG = re.compile(r"<\s*/?\s*([a-zA-Z][a-zA-Z0-9]*)")
# CJK ideographs (unified, extension A, compatibility): no Chinese in titles (12052051).
_CHINESE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_URL = re.compile(r"^https?://[^\s/?#]+\S*$", re.IGNORECASE)
_IDENTIFIER_LENGTHS = frozenset({8, 12, 13, 14})
_SHOWN = 60  # characters of a value quoted in a message


class TestKind(StrEnum):
    __test__ = False  # not a pytest class

    REQUIRED = "required"
    PREDEFINED = "predefined"
    SINGLE_VALUE = "single_value"
    LENGTH = "length"
    FORMAT = "format"
    RANGE = "range"
    IMAGE_COUNT = "image_count"
    CONSISTENCY = "consistency"
    CATEGORY = "category"
    INVITE_ONLY = "invite_only"
    BRAND = "brand"
    BRAND_AUTHORIZATION = "brand_authorization"
    VARIANT_COUNT = "variant_count"
    VARIANT_COMBINATION = "variant_combination"
    DUPLICATE = "duplicate"


Problem = tuple[TestKind, str]
Check = Callable[[str], "Problem | None"]


def shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "…")


def _decimal(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _positive_number(part: str) -> Problem | None:
    number = _decimal(part)
    if number is None or number <= 0:
        return TestKind.FORMAT, f"{shown(part)} is not a number greater than 0"
    return None


def _price_check(market: str | None) -> Check:
    bounds = PRICE_RANGES.get(market or "")
    low, high = (Decimal(bounds[1]), Decimal(bounds[2])) if bounds else (None, None)
    currency = bounds[0] if bounds else ""

    def check(part: str) -> Problem | None:
        number = _decimal(part)
        if number is None or number <= 0:
            return TestKind.FORMAT, f"price {shown(part)} is not a number greater than 0"
        if low is not None and high is not None and not low <= number <= high:
            return TestKind.RANGE, f"price {part.strip()} is outside {low}-{high} {currency}"
        return None

    return check


def _stock(part: str) -> Problem | None:
    text = part.strip()
    if not text.isdigit():
        return TestKind.FORMAT, f"stock {shown(part)} is not a whole number"
    if int(text) > MAX_STOCK:
        return TestKind.RANGE, f"stock {text} is above {MAX_STOCK}"
    return None


def _url(part: str) -> Problem | None:
    if _URL.match(part):
        return None
    return TestKind.FORMAT, f"{shown(part)} is not an http(s) URL"


def _title(part: str) -> Problem | None:
    if _CHINESE.search(part):
        return TestKind.FORMAT, "Chinese characters are not allowed in the title"
    return None


def _html(part: str) -> Problem | None:
    if "<" not in part:
        return None
    bad = sorted({t.lower() for t in _TAG.findall(part)} - ALLOWED_TAGS)
    if bad:
        return TestKind.FORMAT, f"unsupported HTML tags: {', '.join(bad)}"
    return None


def _digits(part: str) -> Problem | None:
    if part.strip().isdigit():
        return None
    return TestKind.FORMAT, f"{shown(part)} is not a TikTok id (digits)"


def _identifier(part: str) -> Problem | None:
    text = part.strip()
    if text.isdigit() and len(text) in _IDENTIFIER_LENGTHS:
        return None
    return TestKind.FORMAT, f"{shown(part)} is not a GTIN/EAN/UPC/ISBN (8, 12, 13 or 14 digits)"


def _format_check(fmt: ValueFormat, market: str | None) -> Check | None:
    return {
        ValueFormat.TEXT: None,
        ValueFormat.TITLE: _title,
        ValueFormat.HTML: _html,
        ValueFormat.ID: _digits,
        ValueFormat.DECIMAL: _positive_number,
        ValueFormat.PRICE: _price_check(market),
        ValueFormat.INTEGER: _stock,
        ValueFormat.URL: _url,
        ValueFormat.IDENTIFIER: _identifier,
    }[fmt]


def _format_tests(fmt: ValueFormat) -> tuple[TestKind, ...]:
    if fmt is ValueFormat.TEXT:
        return ()
    if fmt in (ValueFormat.PRICE, ValueFormat.INTEGER):
        return (TestKind.FORMAT, TestKind.RANGE)
    return (TestKind.FORMAT,)


def value_checks(
    a: SchemaAttribute, market: str | None, extra: Sequence[Check]
) -> tuple[tuple[Check, ...], tuple[TestKind, ...]]:
    """The checks of a non-empty cell, and the test kinds they may report."""
    checks: list[Check] = []
    kinds: list[TestKind] = []
    split = a.multi_select or bool(a.values)
    if a.max_values is not None:
        most = a.max_values

        def count(cell: str) -> Problem | None:
            n = len(N.split_multi(cell))
            return (TestKind.IMAGE_COUNT, f"{n} values, at most {most}") if n > most else None

        checks.append(count)
        kinds.append(TestKind.IMAGE_COUNT)
    if a.source is AttributeSource.PRODUCT and not a.multi_select:

        def single(cell: str) -> Problem | None:
            if N.MULTI_SEPARATOR in cell and len(N.split_multi(cell)) > 1:
                return TestKind.SINGLE_VALUE, "the attribute accepts one value only"
            return None

        checks.append(single)
        kinds.append(TestKind.SINGLE_VALUE)
    part_checks: list[Check] = []
    if a.values:
        part_checks.append(_predefined_check(a))
        kinds.append(TestKind.PREDEFINED)
    elif a.choices:
        choices = frozenset(a.choices)
        listed = ", ".join(a.choices)

        def choice(part: str) -> Problem | None:
            if part.strip() in choices:
                return None
            return TestKind.PREDEFINED, f"{shown(part)} is not one of {listed}"

        part_checks.append(choice)
        kinds.append(TestKind.PREDEFINED)
    if a.min_length is not None or a.max_length is not None:
        part_checks.append(_length_check(a.min_length, a.max_length))
        kinds.append(TestKind.LENGTH)
    fmt = _format_check(a.value_format, market)
    if fmt is not None:
        part_checks.append(_on_value_text(fmt) if a.values else fmt)
        kinds.extend(_format_tests(a.value_format))
    if part_checks:
        checks.append(_each_part(tuple(part_checks), split))
    checks.extend(extra)
    return tuple(checks), tuple(kinds)


def _each_part(checks: tuple[Check, ...], split: bool) -> Check:
    """Run part checks on each value of the cell; report the first problem of each check."""

    def run(cell: str) -> Problem | None:
        parts = N.split_multi(cell) if split else [cell]
        for part in parts:
            for check in checks:
                problem = check(part)
                if problem is not None:
                    return problem
        return None

    return run


def _on_value_text(check: Check) -> Check:
    """Apply a text check to the value of a `Value:::::Id` part (not to its id)."""

    def run(part: str) -> Problem | None:
        return check(N.parse_predefined(part).value)

    return run


def _length_check(low: int | None, high: int | None) -> Check:
    def run(part: str) -> Problem | None:
        text = N.parse_predefined(part).value
        n = len(text)
        if high is not None and n > high:
            return TestKind.LENGTH, f"{n} characters, at most {high}"
        if low is not None and n < low:
            return TestKind.LENGTH, f"{n} characters, at least {low}"
        return None

    return run


def _predefined_check(a: SchemaAttribute) -> Check:
    ids = {v.id for v in a.values}
    by_name = {v.name.lower(): v for v in a.values}
    strict = a.predefined_only
    sales = a.source is AttributeSource.SALES

    def run(part: str) -> Problem | None:
        value, value_id = N.parse_predefined(part)
        if value_id is not None:
            if value_id in ids:
                return None
            return TestKind.PREDEFINED, f"{shown(part)}: value id {value_id} is not predefined"
        if not strict:
            return None
        known = by_name.get(value.strip().lower())
        if known is not None:
            if sales:  # TikTok takes a sales attribute's value by name
                return None
            return TestKind.PREDEFINED, f"{shown(part)} lacks its id: write {known.cell}"
        return TestKind.PREDEFINED, f"{shown(part)} is not a predefined value"

    return run

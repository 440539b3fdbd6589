"""Every rule box: its parameters, Productsup's examples, edge cases and load-time validation."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pytest
from catalog_sync.rules import (
    AppendPrependColumn,
    Case,
    Condition,
    DefaultValue,
    FirstN,
    NumberFormat,
    PriceFormat,
    RegexReplace,
    RuleBox,
    RuleContext,
    SplitString,
    StaticValue,
    StripHtml,
    TaxonomyMapping,
    TextReplace,
    Trim,
    Truncate,
    compile_chain,
    parse_number,
    parse_rules,
)
from pydantic import TypeAdapter, ValidationError

CATEGORY_TERM = "600621|Home Supplies>Home Organizers>Storage Boxes & Bins"


def run(
    box: RuleBox, value: str, row: Mapping[str, str] | None = None, ctx: RuleContext | None = None
) -> str:
    return box.compile()(value, row or {}, ctx or RuleContext())


ONE_BOX: TypeAdapter[RuleBox] = TypeAdapter(RuleBox)


def one(data: dict[str, Any]) -> RuleBox:
    return ONE_BOX.validate_python(data)


def error_fields(exc: ValidationError) -> list[tuple[Any, ...]]:
    return [err["loc"] for err in exc.errors()]


# --- Taxonomy Mapping ----------------------------------------------------------------------


def test_taxonomy_mapping_replaces_by_the_lists_term() -> None:
    ctx = RuleContext.from_lists({"uk-categories": {"Storage": CATEGORY_TERM}})
    box = TaxonomyMapping(list="uk-categories")
    assert run(box, "Storage", ctx=ctx) == CATEGORY_TERM
    assert ctx.unmapped == {}


def test_taxonomy_mapping_matches_the_whole_value_exactly() -> None:
    ctx = RuleContext.from_lists({"cats": {"Storage": CATEGORY_TERM}})
    box = TaxonomyMapping(list="cats")
    assert run(box, "storage", ctx=ctx) == ""
    assert run(box, "Storage ", ctx=ctx) == ""
    assert run(box, "Home > Storage", ctx=ctx) == ""
    assert ctx.unmapped == {"cats": {"storage", "Storage ", "Home > Storage"}}


def test_taxonomy_mapping_unmapped_value_empties_and_is_reported() -> None:
    ctx = RuleContext.from_lists({"cats": {"Storage": CATEGORY_TERM, "Listed, no term": ""}})
    box = TaxonomyMapping(list="cats")
    assert run(box, "Garden", ctx=ctx) == ""
    # A value already in the list but without a replacement term yet is unmapped too.
    assert run(box, "Listed, no term", ctx=ctx) == ""
    assert run(box, "Garden", ctx=ctx) == ""
    assert ctx.unmapped == {"cats": {"Garden", "Listed, no term"}}


def test_taxonomy_mapping_can_keep_unmapped_values() -> None:
    ctx = RuleContext()
    box = TaxonomyMapping(list="brands", unmapped="keep")
    assert run(box, "Acme", ctx=ctx) == "Acme"
    assert ctx.unmapped == {"brands": {"Acme"}}


def test_taxonomy_mapping_leaves_empty_values_alone_and_unreported() -> None:
    ctx = RuleContext()
    assert run(TaxonomyMapping(list="cats"), "", ctx=ctx) == ""
    assert ctx.unmapped == {}


def test_taxonomy_mapping_uses_the_given_lookup_with_list_name_and_value() -> None:
    asked: list[tuple[str, str]] = []

    def lookup(list_name: str, value: str) -> str | None:
        asked.append((list_name, value))
        return value.upper()

    assert run(TaxonomyMapping(list="L"), "ü-value", ctx=RuleContext(lookup)) == "Ü-VALUE"
    assert asked == [("L", "ü-value")]


def test_taxonomy_mapping_needs_a_list() -> None:
    with pytest.raises(ValidationError) as exc:
        one({"type": "taxonomy_mapping", "list": ""})
    assert ("taxonomy_mapping", "list") in error_fields(exc.value)


# --- Split String --------------------------------------------------------------------------


def test_split_string_seed_category_id_and_path() -> None:
    # The TikTok Shop setup: category_id = from 0, 1 item; category_path = from 1, 1 item.
    cat_id = one({"type": "split_string", "splitter": "|", "from": 0, "items": 1})
    cat_path = one({"type": "split_string", "splitter": "|", "from": 1, "items": 1})
    assert run(cat_id, CATEGORY_TERM) == "600621"
    assert run(cat_path, CATEGORY_TERM) == "Home Supplies>Home Organizers>Storage Boxes & Bins"


def test_split_string_several_items_join_back_with_the_splitter() -> None:
    box = SplitString(splitter=">", from_=1, items=2)
    assert run(box, "Home Supplies>Home Organizers>Storage Boxes & Bins") == (
        "Home Organizers>Storage Boxes & Bins"
    )
    assert run(SplitString(splitter=">", from_=1, items=None), "a>b>c>d") == "b>c>d"


def test_split_string_out_of_range_and_missing_splitter() -> None:
    assert run(SplitString(splitter="|", from_=5), "a|b") == ""
    assert run(SplitString(splitter="|", from_=0), "no splitter") == "no splitter"
    assert run(SplitString(splitter="|", from_=1), "no splitter") == ""
    assert run(SplitString(splitter="|", from_=0), "") == ""
    assert run(SplitString(splitter="|", from_=1), "") == ""


def test_split_string_multi_character_splitter_and_whitespace_kept() -> None:
    box = SplitString(splitter=":::::", from_=1)
    assert run(box, "Foldable:::::1002263") == "1002263"
    # Pieces are not trimmed (Split String is exact; add Trim after it).
    assert run(SplitString(splitter="|", from_=1), "600621 | Home") == " Home"
    assert run(SplitString(splitter="|", from_=0), "Stühle|Möbel") == "Stühle"


def test_split_string_validation() -> None:
    with pytest.raises(ValidationError) as exc:
        one({"type": "split_string", "splitter": "", "from": -1, "items": 0})
    assert set(error_fields(exc.value)) == {
        ("split_string", "splitter"),
        ("split_string", "from"),
        ("split_string", "items"),
    }


# --- Append/Prepend Column -----------------------------------------------------------------

ROW = {"image_2": "https://cdn/2.jpg", "image_3": "https://cdn/3.jpg", "empty": ""}


def test_append_column_adds_whitespace_text_and_the_columns_value() -> None:
    box = one({"type": "append_column", "column": "image_2", "text": "#"})
    assert run(box, "https://cdn/1.jpg", ROW) == "https://cdn/1.jpg #https://cdn/2.jpg"


def test_seed_images_appended_with_space_hash_then_cleaned_to_hash() -> None:
    chain = compile_chain(
        parse_rules(
            [
                {"type": "append_column", "column": "image_2", "text": "#"},
                {"type": "append_column", "column": "image_3", "text": "#"},
                {"type": "text_replace", "search_for": " #", "replace_by": "#"},
            ]
        )
    )
    assert chain is not None
    value = chain("https://cdn/1.jpg", ROW, RuleContext())
    assert value == "https://cdn/1.jpg#https://cdn/2.jpg#https://cdn/3.jpg"


def test_prepend_column_puts_the_columns_value_and_text_first() -> None:
    box = one({"type": "prepend_column", "column": "image_2", "text": "#"})
    assert run(box, "https://cdn/1.jpg", ROW) == "https://cdn/2.jpg# https://cdn/1.jpg"


def test_append_column_empty_sides() -> None:
    box = AppendPrependColumn(column="image_2", text="#")
    # Nothing to add: unchanged (no dangling text).
    assert run(AppendPrependColumn(column="empty", text="#"), "a", ROW) == "a"
    assert run(AppendPrependColumn(column="missing", text="#"), "a", ROW) == "a"
    # Nothing to add to: no leading whitespace.
    assert run(box, "", ROW) == "#https://cdn/2.jpg"
    assert run(AppendPrependColumn(type="prepend_column", column="image_2", text="#"), "", ROW) == (
        "https://cdn/2.jpg#"
    )


def test_append_column_without_whitespace_and_text() -> None:
    assert run(AppendPrependColumn(column="size", whitespace=False), "Shirt", {"size": "XL"}) == (
        "ShirtXL"
    )
    assert run(AppendPrependColumn(column="size"), "Shirt", {"size": "XL"}) == "Shirt XL"
    assert run(AppendPrependColumn(column="size", text="Größe "), "Hemd", {"size": "XL"}) == (
        "Hemd Größe XL"
    )


def test_predefined_value_built_by_append_column() -> None:
    # Foldable + ":::::" + the value id column, joined without whitespace.
    box = AppendPrependColumn(column="foldable_id", text=":::::", whitespace=False)
    assert run(box, "Foldable", {"foldable_id": "1002263"}) == "Foldable:::::1002263"


def test_append_column_needs_a_column_and_a_known_mode() -> None:
    with pytest.raises(ValidationError):
        one({"type": "append_column", "column": ""})
    with pytest.raises(ValidationError):
        one({"type": "append_prepend_column", "column": "x"})


# --- Static Value --------------------------------------------------------------------------


def test_static_value_assigns_appends_prepends_without_whitespace() -> None:
    assert run(StaticValue(value="GBP"), "anything") == "GBP"
    assert run(StaticValue(value="GBP"), "") == "GBP"
    assert run(StaticValue(value=" cm", mode="append"), "30") == "30 cm"
    assert run(StaticValue(value="ca. ", mode="prepend"), "30") == "ca. 30"
    assert run(StaticValue(value="!", mode="append"), "Sale") == "Sale!"


# --- Text Replace --------------------------------------------------------------------------


def test_text_replace_is_exact_and_whitespace_sensitive() -> None:
    box = TextReplace(search_for=" #", replace_by="#")
    assert run(box, "a #b #c") == "a#b#c"
    assert run(box, "a#b") == "a#b"  # no space before "#": nothing to replace
    assert run(box, "a  #b") == "a #b"  # one replacement per occurrence, not a collapse
    assert run(TextReplace(search_for="#", replace_by=" | "), "a#b") == "a | b"


def test_text_replace_is_case_sensitive_and_unicode() -> None:
    box = TextReplace(search_for="Colour", replace_by="Farbe")
    assert run(box, "colour Colour") == "colour Farbe"
    assert run(TextReplace(search_for="ß", replace_by="ss"), "Straße") == "Strasse"
    assert run(TextReplace(search_for="x", replace_by=""), "xax") == "a"
    assert run(box, "") == ""


def test_text_replace_needs_something_to_search() -> None:
    with pytest.raises(ValidationError) as exc:
        one({"type": "text_replace", "search_for": "", "replace_by": "x"})
    assert ("text_replace", "search_for") in error_fields(exc.value)


# --- Default Value -------------------------------------------------------------------------


def test_default_value_fills_only_empty_values() -> None:
    box = DefaultValue(value="One Size")
    assert run(box, "") == "One Size"
    assert run(box, "  \t") == "One Size"
    assert run(box, "M") == "M"
    assert run(box, " M ") == " M "


def test_default_value_from_another_column_then_the_value() -> None:
    box = DefaultValue(column="title", value="n/a")
    assert run(box, "", {"title": "Box"}) == "Box"
    assert run(box, "", {"title": " "}) == "n/a"
    assert run(box, "", {}) == "n/a"
    assert run(DefaultValue(column="title"), "", {}) == ""


def test_default_value_needs_a_default() -> None:
    with pytest.raises(ValidationError):
        one({"type": "default_value"})


# --- Trim ----------------------------------------------------------------------------------


def test_trim_and_collapse() -> None:
    assert run(Trim(), "  Box \t\n") == "Box"
    assert run(Trim(), "\u00a0Box\u3000") == "Box"  # unicode whitespace too
    assert run(Trim(), "a  b") == "a  b"
    assert run(Trim(collapse=True), "  a \n\t b  ") == "a b"
    assert run(Trim(), "") == ""


# --- Strip HTML ----------------------------------------------------------------------------


def test_strip_html_to_plain_text() -> None:
    html = (
        "<p>Sturdy <strong>box</strong> &amp; lid.</p><ul><li>Stackable</li><li>Foldable</li>"
        "</ul><script>alert(1)</script><!-- note --><style>p{}</style>Größe&nbsp;XL"
    )
    assert run(StripHtml(), html) == "Sturdy box & lid. Stackable Foldable Größe XL"


def test_strip_html_leaves_text_without_markup_unchanged() -> None:
    assert run(StripHtml(), "plain  text") == "plain  text"
    assert run(StripHtml(), "") == ""
    assert run(StripHtml(), "a < b and c > d") == "a < b and c > d"


def test_strip_html_keeps_allowed_tags_without_unsafe_attributes() -> None:
    box = StripHtml(allowed_tags=("p", "BR", "img", "a"))
    html = (
        '<div class="x"><p style="color:red" onclick="evil()">Hi<br/>there &amp; you</p>'
        "<img src='https://cdn/1.jpg' onerror=x alt=pic><a href=\"javascript:alert(1)\">x</a>"
        "<span>s</span></div>"
    )
    assert run(box, html) == (
        " <p>Hi<br />there &amp; you</p><img src='https://cdn/1.jpg' alt=\"pic\"><a>x</a>s "
    )


def test_strip_html_validates_tag_names() -> None:
    with pytest.raises(ValidationError) as exc:
        one({"type": "strip_html", "allowed_tags": ["p", "<b>"]})
    assert ("strip_html", "allowed_tags") in error_fields(exc.value)


def test_strip_html_repeated_value_answers_the_same() -> None:
    fn = StripHtml().compile()
    ctx = RuleContext()
    first = fn("<b>x</b>", {}, ctx)
    assert fn("<b>x</b>", {}, ctx) == first == "x"
    assert fn("<i>y</i>", {}, ctx) == "y"


# --- Truncate ------------------------------------------------------------------------------


def test_truncate_fitting_value_is_unchanged() -> None:
    assert run(Truncate(max_length=11), "Hello world") == "Hello world"
    assert run(Truncate(max_length=5, suffix="…"), "Hello") == "Hello"
    assert run(Truncate(max_length=3), "") == ""


def test_truncate_exactly_at_a_word_boundary_keeps_the_word() -> None:
    # The 11th character ends "world" and the next one is a space: cut there.
    assert run(Truncate(max_length=11), "Hello world again") == "Hello world"
    # One more character would not fit "again": back to the boundary.
    assert run(Truncate(max_length=13), "Hello world again") == "Hello world"


def test_truncate_at_word_boundary_with_suffix_within_the_limit() -> None:
    box = Truncate(max_length=14, suffix="…")
    out = run(box, "Storage box, with lid and handles")
    assert out == "Storage box…"
    assert len(out) <= 14
    assert run(Truncate(max_length=10, suffix="..."), "One two three four") == "One two..."


def test_truncate_long_word_is_cut_hard_and_word_boundary_can_be_off() -> None:
    assert run(Truncate(max_length=5), "Supercalifragilistic") == "Super"
    assert run(Truncate(max_length=8, word_boundary=False), "Hello world") == "Hello wo"


def test_truncate_counts_characters_not_bytes() -> None:
    assert run(Truncate(max_length=4), "Größe XL") == "Größ"
    assert run(Truncate(max_length=6), "日本語 テキスト") == "日本語"


def test_truncate_suffix_must_fit() -> None:
    with pytest.raises(ValidationError):
        one({"type": "truncate", "max_length": 3, "suffix": "..."})
    with pytest.raises(ValidationError):
        one({"type": "truncate", "max_length": 0})


# --- Regex Replace -------------------------------------------------------------------------


def test_regex_replace_with_groups_case_and_count() -> None:
    assert run(RegexReplace(pattern=r"\D+"), "5 012345-678900") == "5012345678900"
    assert run(RegexReplace(pattern=r"(\d+)\s*cm", replacement=r"\1"), "30 cm") == "30"
    assert run(RegexReplace(pattern=r"(?P<n>\d+)x", replacement=r"\g<n>"), "2x") == "2"
    assert run(RegexReplace(pattern="sale", replacement="", ignore_case=True), "SALE Box") == (
        " Box"
    )
    assert run(RegexReplace(pattern="a", replacement="b", count=1), "aaa") == "baa"
    assert run(RegexReplace(pattern=r"\s+", replacement=" "), "Größe \u00a0 XL") == "Größe XL"


def test_bad_regex_is_a_validation_error_naming_the_field() -> None:
    with pytest.raises(ValidationError) as exc:
        one({"type": "regex_replace", "pattern": "(unclosed"})
    assert error_fields(exc.value) == [("regex_replace", "pattern")]
    assert "regular expression" in str(exc.value)


def test_bad_group_reference_is_a_validation_error_naming_the_replacement() -> None:
    with pytest.raises(ValidationError) as exc:
        one({"type": "regex_replace", "pattern": "(a)", "replacement": r"\2"})
    assert error_fields(exc.value) == [("regex_replace", "replacement")]
    with pytest.raises(ValidationError):
        one({"type": "regex_replace", "pattern": "(?P<x>a)", "replacement": r"\g<y>"})


# --- Case ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("upper", "ocean blue", "OCEAN BLUE"),
        ("lower", "OCEAN Blue", "ocean blue"),
        ("title", "ocean BLUE  shirt", "Ocean Blue  Shirt"),
        ("title", "don't stop", "Don't Stop"),
        ("title", "größe", "Größe"),
        ("first_upper", "ocean BLUE", "Ocean BLUE"),
        ("upper", "straße", "STRASSE"),
        ("title", "", ""),
        ("first_upper", "", ""),
    ],
)
def test_case_modes(mode: str, value: str, expected: str) -> None:
    assert run(one({"type": "case", "mode": mode}), value) == expected


def test_case_refuses_unknown_mode() -> None:
    with pytest.raises(ValidationError):
        one({"type": "case", "mode": "sarcastic"})


# --- Number and price format ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.234,50", Decimal("1234.50")),
        ("1,234.50", Decimal("1234.50")),
        ("1 234,50 €", Decimal("1234.50")),
        ("1\u00a0234,50", Decimal("1234.50")),
        ("1'234.50 CHF", Decimal("1234.50")),
        ("£12.99", Decimal("12.99")),
        ("12,99 EUR", Decimal("12.99")),
        ("GBP 12.5", Decimal("12.5")),
        ("1,234", Decimal("1234")),
        ("1.234.567", Decimal("1234567")),
        ("1,234,567.8", Decimal("1234567.8")),
        ("12,5", Decimal("12.5")),
        ("0,125", Decimal("0.125")),
        ("1234,567", Decimal("1234.567")),
        ("1.5", Decimal("1.5")),
        ("-3,5 kg", Decimal("-3.5")),
        ("12.99 (was 15.99)", Decimal("12.99")),
        ("42", Decimal("42")),
    ],
)
def test_parse_number_tolerates_both_conventions(text: str, expected: Decimal) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "€", "1,2.3,4"])
def test_parse_number_without_a_number(text: str) -> None:
    assert parse_number(text) is None


def test_parse_number_explicit_input_separator() -> None:
    assert parse_number("1,234", ",") == Decimal("1.234")
    assert parse_number("1.234", ".") == Decimal("1.234")
    assert parse_number("1.234", ",") == Decimal("1234")


def test_price_format_as_tiktok_takes_it() -> None:
    box = PriceFormat()
    assert run(box, "£1,234.5") == "1234.50"
    assert run(box, "1.234,50 €") == "1234.50"
    assert run(box, "12,99 EUR") == "12.99"
    assert run(box, "19.999") == "20.00"  # half up
    assert run(box, "0.005") == "0.01"
    assert run(box, "-0.001") == "0.00"  # never "-0.00"
    assert run(box, "") == ""
    assert run(box, "free") == ""
    assert run(PriceFormat(on_invalid="keep"), "free") == "free"
    assert run(PriceFormat(decimals=0), "12.50") == "13"


def test_number_format_decimals_and_separators() -> None:
    assert run(NumberFormat(), "1.234,50") == "1234.50"  # decimals kept as given
    assert run(NumberFormat(decimals=0), "499.6 g") == "500"
    assert run(NumberFormat(decimals=1), "30,54") == "30.5"
    assert run(NumberFormat(decimals=2, thousands_separator=","), "1234567.891") == ("1,234,567.89")
    assert run(
        NumberFormat(decimals=2, decimal_separator=",", thousands_separator="."), "1234567.891"
    ) == ("1.234.567,89")
    assert run(NumberFormat(decimals=2, decimal_separator=","), "12.5") == "12,50"
    assert run(NumberFormat(decimals=0, thousands_separator=" "), "1234567") == "1 234 567"


def test_number_format_validation() -> None:
    with pytest.raises(ValidationError):
        one({"type": "number_format", "decimal_separator": ",", "thousands_separator": ","})
    with pytest.raises(ValidationError):
        one({"type": "number_format", "decimals": -1})
    with pytest.raises(ValidationError):
        one({"type": "price_format", "decimal_separator": ";"})


# --- First N -------------------------------------------------------------------------------


def test_first_n_keeps_the_first_values_and_cleans_separators() -> None:
    images = "#".join(f"https://cdn/{i}.jpg" for i in range(1, 13))
    out = run(FirstN(n=9), images)
    assert out.split("#") == [f"https://cdn/{i}.jpg" for i in range(1, 10)]
    assert run(FirstN(n=2), "a #b #c") == "a#b"
    assert run(FirstN(n=5), "#a# #b") == "a#b"
    assert run(FirstN(n=3), "") == ""
    assert run(FirstN(n=1), "only") == "only"


def test_first_n_unique_drops_repeats_first() -> None:
    assert run(FirstN(n=2, unique=True), "a#a#b#c") == "a#b"
    assert run(FirstN(n=2), "a#a#b#c") == "a#a"


def test_first_n_needs_a_positive_n() -> None:
    with pytest.raises(ValidationError):
        one({"type": "first_n", "n": 0})


# --- Condition -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "operand", "value", "passes"),
    [
        ("equals", "Foldable", "Foldable", True),
        ("equals", "Foldable", "foldable", False),
        ("not_equals", "Foldable", "x", True),
        ("contains", "fold", "unfoldable", True),
        ("not_contains", "fold", "chair", True),
        ("starts_with", "Non-", "Non-Foldable", True),
        ("ends_with", ".jpg", "a.png", False),
        ("matches", r"^\d{13}$", "5012345678900", True),
        ("matches", r"^\d{13}$", "501234567890", False),
        ("not_matches", r"\d", "abc", True),
        ("empty", "", "", True),
        ("empty", "", " \t", True),
        ("empty", "", "x", False),
        ("not_empty", "", "x", True),
    ],
)
def test_condition_operators(operator: str, operand: str, value: str, passes: bool) -> None:
    box = one(
        {"type": "condition", "operator": operator, "operand": operand, "then": "T", "else": "E"}
    )
    assert run(box, value) == ("T" if passes else "E")


def test_condition_without_else_leaves_the_value() -> None:
    box = Condition(operator="contains", operand="foldable", then="Foldable:::::1002263")
    assert run(box, "a foldable chair") == "Foldable:::::1002263"
    assert run(box, "a chair") == "a chair"


def test_condition_on_another_column_and_ignoring_case() -> None:
    box = one(
        {
            "type": "condition",
            "column": "tags",
            "operator": "contains",
            "operand": "FOLDABLE",
            "ignore_case": True,
            "then": "Foldable:::::1002263",
            "else": "Non-Foldable:::::1004668",
        }
    )
    assert run(box, "", {"tags": "home, Foldable"}) == "Foldable:::::1002263"
    assert run(box, "", {"tags": "home"}) == "Non-Foldable:::::1004668"
    assert run(box, "", {}) == "Non-Foldable:::::1004668"
    regex = Condition(operator="matches", operand="^STRASSE", ignore_case=True, then="yes")
    assert run(regex, "strasse 1") == "yes"


def test_condition_bad_regex_names_the_operand() -> None:
    with pytest.raises(ValidationError) as exc:
        one({"type": "condition", "operator": "matches", "operand": "[", "then": "x"})
    assert error_fields(exc.value) == [("condition", "operand")]
    # Not a regex operator: any text is fine.
    assert run(Condition(operator="contains", operand="[", then="x"), "a[b") == "x"


# --- Loading and chaining ------------------------------------------------------------------


def test_unknown_type_and_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        parse_rules([{"type": "make_it_pretty"}])
    with pytest.raises(ValidationError) as exc:
        parse_rules([{"type": "trim", "colapse": True}])
    assert (0, "trim", "colapse") in error_fields(exc.value)


def test_boxes_are_frozen_and_round_trip_through_plain_data() -> None:
    rules = parse_rules(
        [
            {"type": "split_string", "splitter": "|", "from": 1, "items": 1},
            {"type": "condition", "operator": "empty", "then": "x", "else": "y"},
        ]
    )
    split = rules[0]
    assert isinstance(split, SplitString)
    with pytest.raises(ValidationError):
        split.splitter = ">"  # type: ignore[misc]
    dumped = [r.model_dump(by_alias=True) for r in rules]
    assert dumped[0]["from"] == 1
    assert dumped[1]["else"] == "y"
    assert parse_rules(dumped) == rules


def test_compile_chain_applies_top_to_bottom() -> None:
    chain = compile_chain([Trim(), Case(mode="upper"), Truncate(max_length=3)])
    assert chain is not None
    assert chain("  abcdef ", {}, RuleContext()) == "ABC"
    reversed_chain = compile_chain([Truncate(max_length=3), Trim(), Case(mode="upper")])
    assert reversed_chain is not None
    assert reversed_chain("  abcdef ", {}, RuleContext()) == "A"
    assert compile_chain([]) is None
    pair = compile_chain([Trim(), Case(mode="lower")])
    assert pair is not None
    assert pair(" AB ", {}, RuleContext()) == "ab"

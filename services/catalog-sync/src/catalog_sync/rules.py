"""Rule boxes: the per-attribute transformations of a feed's dataflow.

Each box is a frozen pydantic model (so a feed file or the API can embed it, validated at
load: a bad regular expression is a validation error naming its field) and compiles ONCE
into a plain callable `(value, row, ctx) -> str`. The dataflow (`catalog_sync.dataflow`)
chains the callables top to bottom; nothing here validates, parses or compiles per row.

- `value` is the attribute's current value (every value is a string, "" = missing);
- `row` is the input of the stage the box runs in (the import row for an intermediate box,
  the intermediate row for an export box): Append/Prepend Column and Condition read other
  columns from it;
- `ctx` (`RuleContext`) answers Taxonomy Mapping lookups and collects unmapped values.

The boxes and their parameters follow Productsup's (Taxonomy Mapping, Split String,
Append/Prepend Column, Text Replace, Static Value, ...); docs/feeds.md, "Dataflow and rule
boxes", states each one's exact behaviour and where we chose.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, ClassVar, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from catalog_sync.naming import join_multi, split_multi

Lookup: TypeAlias = Callable[[str, str], "str | None"]
"""(list name, source value) -> the list's replacement term, None when the value is not listed."""

RuleFn: TypeAlias = Callable[[str, Mapping[str, str], "RuleContext"], str]


def _no_lists(list_name: str, value: str) -> str | None:
    return None


class RuleContext:
    """What rule boxes consult while a dataflow runs: the Partner Taxonomy Mapping lists.

    Values a Taxonomy Mapping box could not map (not in the list, or listed without a
    replacement term yet) are collected in `unmapped` (list name -> values), so the caller
    can add them to the list and report them, instead of asking the merchant to recreate
    the list as Productsup does.
    """

    __slots__ = ("lookup", "unmapped")

    def __init__(self, lookup: Lookup | None = None) -> None:
        self.lookup: Lookup = lookup or _no_lists
        self.unmapped: dict[str, set[str]] = {}

    @classmethod
    def from_lists(cls, lists: Mapping[str, Mapping[str, str]]) -> RuleContext:
        """A context over in-memory lists: list name -> {source value: replacement term}."""
        empty: Mapping[str, str] = {}

        def lookup(list_name: str, value: str) -> str | None:
            return lists.get(list_name, empty).get(value)

        return cls(lookup)

    def report_unmapped(self, list_name: str, value: str) -> None:
        seen = self.unmapped.get(list_name)
        if seen is None:
            self.unmapped[list_name] = {value}
        else:
            seen.add(value)


def _is_empty(value: str) -> bool:
    """Empty for the boxes that test emptiness: "" or only whitespace."""
    return not value or value.isspace()


def _compile_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE if ignore_case else 0)


def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return pattern


_CACHE_SIZE = 4096


def _cached(fn: Callable[[str], str]) -> RuleFn:
    """A value-only box behind a bounded memo.

    Variants of one product repeat their shared values (one description, one weight) and
    catalogs repeat prices and sizes, so the costly boxes (HTML, numbers) mostly answer
    from the memo. Bounded by entries; emptied when full rather than tracking recency.
    """
    cache: dict[str, str] = {}

    def cached(value: str, row: Mapping[str, str], ctx: RuleContext) -> str:
        out = cache.get(value)
        if out is None:
            out = fn(value)
            if len(cache) >= _CACHE_SIZE:
                cache.clear()
            cache[value] = out
        return out

    return cached


class _Box(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    title: ClassVar[str]
    """The box's name as a feed manager knows it (shown in the preview trace)."""

    def compile(self) -> RuleFn:
        raise NotImplementedError


class TaxonomyMapping(_Box):
    """Replace the whole value by its replacement term in a Partner Taxonomy Mapping list."""

    title: ClassVar[str] = "Taxonomy Mapping"
    type: Literal["taxonomy_mapping"] = "taxonomy_mapping"
    list: str = Field(min_length=1, description="Name of the Partner Taxonomy Mapping list.")
    unmapped: Literal["empty", "keep"] = Field(
        default="empty",
        description="A value the list does not map: 'empty' (default, so the attribute "
        "reads as missing) or 'keep' the source value. Either way it is reported as unmapped.",
    )

    def compile(self) -> RuleFn:
        name, keep = self.list, self.unmapped == "keep"

        def taxonomy_mapping(value: str, row: Mapping[str, str], ctx: RuleContext) -> str:
            if not value:
                return value
            term = ctx.lookup(name, value)
            if term:
                return term
            ctx.report_unmapped(name, value)
            return value if keep else ""

        return taxonomy_mapping


class SplitString(_Box):
    """Keep `items` pieces of the value split at `splitter`, starting at piece `from` (0-based).

    `600621|Home Supplies>Home Organizers>Storage Boxes & Bins` split at `|`: from 0, 1 item
    is the category id `600621`; from 1, 1 item is the path. Several items are joined back
    with the splitter; a piece past the end is "".
    """

    title: ClassVar[str] = "Split String"
    type: Literal["split_string"] = "split_string"
    splitter: str = Field(min_length=1, description="The separator, e.g. '|'.")
    from_: int = Field(
        default=0,
        validation_alias="from",
        serialization_alias="from",
        ge=0,
        description="Index of the first piece kept, 0 = first.",
    )
    items: int | None = Field(
        default=1, ge=1, description="How many pieces to keep; null = all the rest."
    )

    def compile(self) -> RuleFn:
        sep, start = self.splitter, self.from_
        stop = None if self.items is None else start + self.items
        if start == 0 and stop == 1:

            def first_piece(value: str, row: Mapping[str, str], ctx: RuleContext) -> str:
                return value.partition(sep)[0]

            return first_piece

        def split_string(value: str, row: Mapping[str, str], ctx: RuleContext) -> str:
            return sep.join(value.split(sep)[start:stop])

        return split_string


class AppendPrependColumn(_Box):
    """Add another column's value after (`append_column`) or before (`prepend_column`) it.

    Productsup's box: `text` is static text placed next to the added value, and a
    whitespace separates the two parts, so append with text `#` gives `a.jpg #b.jpg` (hence
    the Text Replace ` #` -> `#` the TikTok Shop setup puts last); prepend with text `#`
    gives `b.jpg# a.jpg`. An empty column value adds nothing; an empty current value
    takes no whitespace. `whitespace: false` joins without it.
    """

    title: ClassVar[str] = "Append/Prepend Column"
    type: Literal["append_column", "prepend_column"] = "append_column"
    column: str = Field(min_length=1, description="The column whose value is added.")
    text: str = Field(
        default="", description="Static text between the current and the added value."
    )
    whitespace: bool = Field(default=True, description="Put a whitespace between the two parts.")

    def compile(self) -> RuleFn:
        col, text, gap = self.column, self.text, " " if self.whitespace else ""
        if self.type == "append_column":

            def append_column(value: str, row: Mapping[str, str], ctx: RuleContext) -> str:
                other = row.get(col, "")
                if not other:
                    return value
                return f"{value}{gap}{text}{other}" if value else text + other

            return append_column

        def prepend_column(value: str, row: Mapping[str, str], ctx: RuleContext) -> str:
            other = row.get(col, "")
            if not other:
                return value
            return f"{other}{text}{gap}{value}" if value else other + text

        return prepend_column


class StaticValue(_Box):
    """Assign, append or prepend a fixed value; no whitespace is added (Productsup's box)."""

    title: ClassVar[str] = "Static Value"
    type: Literal["static_value"] = "static_value"
    value: str
    mode: Literal["assign", "append", "prepend"] = "assign"

    def compile(self) -> RuleFn:
        fixed, mode = self.value, self.mode

        def static_value(value: str, row: Mapping[str, str], ctx: RuleContext) -> str:
            if mode == "assign":
                return fixed
            return value + fixed if mode == "append" else fixed + value

        return static_value


class TextReplace(_Box):
    """Replace every occurrence of `search_for` by `replace_by`: exact, case- and
    whitespace-sensitive (` #` is not `#`)."""

    title: ClassVar[str] = "Text Replace"
    type: Literal["text_replace"] = "text_replace"
    search_for: str = Field(min_length=1)
    replace_by: str = ""

    def compile(self) -> RuleFn:
        old, new = self.search_for, self.replace_by

        def text_replace(value: str, row: Mapping[str, str], ctx: RuleContext) -> str:
            return value.replace(old, new)

        return text_replace


class DefaultValue(_Box):
    """When the value is empty (or only whitespace): another column's value, else `value`."""

    title: ClassVar[str] = "Default Value"
    type: Literal["default_value"] = "default_value"
    value: str = ""
    column: str | None = Field(default=None, description="Take the default from this column first.")

    @model_validator(mode="after")
    def _has_a_default(self) -> DefaultValue:
        if not self.value and not self.column:
            raise ValueError("give a default `value`, a `column`, or both")
        return self

    def compile(self) -> RuleFn:
        fixed, col = self.value, self.column

        def default_value(value: str, row: Mapping[str, str], ctx: RuleContext) -> str:
            if value and not value.isspace():
                return value
            if col is not None:
                other = row.get(col, "")
                if other and not other.isspace():
                    return other
            return fixed

        return default_value


class Trim(_Box):
    """Remove whitespace at both ends; optionally collapse inner runs to one space."""

    title: ClassVar[str] = "Trim"
    type: Literal["trim"] = "trim"
    collapse: bool = Field(
        default=False, description="Also replace consecutive whitespace by one space."
    )

    def compile(self) -> RuleFn:
        if self.collapse:

            def trim_collapse(value: str, row: Mapping[str, str], ctx: RuleContext) -> str:
                return " ".join(value.split())

            return trim_collapse

        def trim(value: str, row: Mapping[str, str], ctx: RuleContext) -> str:
            return value.strip()

        return trim


_DROP_WITH_CONTENT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENT_OR_DECL = re.compile(r"<!--.*?-->|<![^>]*>|<\?[^>]*>", re.DOTALL)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)\b([^>]*)>")
_ATTRIBUTE = re.compile(r"""([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")
_BLOCK_TAGS = frozenset(
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 "
    "h5 h6 header hr li main nav ol p pre section table tbody td tfoot th thead tr ul".split()
)


class StripHtml(_Box):
    """Remove HTML tags, keeping the `allowed_tags` (e.g. the ones TikTok renders in a
    description).

    Without allowed tags the result is plain text: entities decoded, a removed block tag
    (`p`, `br`, `li`, ...) becomes a space, whitespace collapsed. With allowed tags the
    result stays HTML: entities untouched, an allowed tag keeps only `keep_attributes`.
    `script`/`style` elements go with their content, comments always go.
    """

    title: ClassVar[str] = "Strip HTML"
    type: Literal["strip_html"] = "strip_html"
    allowed_tags: tuple[str, ...] = Field(
        default=(), description="Tags to keep, e.g. ['p', 'br', 'ul']."
    )
    keep_attributes: tuple[str, ...] = Field(
        default=("src", "href", "alt"), description="Attributes an allowed tag keeps."
    )

    @field_validator("allowed_tags", "keep_attributes")
    @classmethod
    def _lowercase_names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9:-]*", name):
                raise ValueError(f"not a tag or attribute name: {name!r}")
        return tuple(n.lower() for n in names)

    def compile(self) -> RuleFn:
        allowed, keep = frozenset(self.allowed_tags), frozenset(self.keep_attributes)

        def to_text(match: re.Match[str]) -> str:
            return " " if match[2].lower() in _BLOCK_TAGS else ""

        def to_allowed(match: re.Match[str]) -> str:
            name = match[2].lower()
            if name not in allowed:
                return " " if name in _BLOCK_TAGS else ""
            if match[1]:
                return f"</{name}>"
            kept = []
            for attr, raw in _ATTRIBUTE.findall(match[3]):
                attr = attr.lower()
                quoted = raw if raw[0] in "\"'" else f'"{raw}"'
                if attr in keep and not quoted[1:].lstrip().lower().startswith("javascript:"):
                    kept.append(f" {attr}={quoted}")
            closing = " /" if match[3].rstrip().endswith("/") else ""
            return f"<{name}{''.join(kept)}{closing}>"

        if not allowed:

            def strip_html(value: str) -> str:
                if "<" not in value and "&" not in value:
                    return value
                text = _COMMENT_OR_DECL.sub("", _DROP_WITH_CONTENT.sub(" ", value))
                return " ".join(html.unescape(_TAG.sub(to_text, text)).split())

            return _cached(strip_html)

        def strip_html_except(value: str) -> str:
            if "<" not in value:
                return value
            text = _COMMENT_OR_DECL.sub("", _DROP_WITH_CONTENT.sub(" ", value))
            return _TAG.sub(to_allowed, text)

        return _cached(strip_html_except)


_TRUNCATE_TRAILING = " \t\r\n,;:-"


class Truncate(_Box):
    """Shorten to at most `max_length` characters (suffix included), at a word boundary.

    A value that fits is unchanged. Otherwise the cut falls on the last whitespace inside the
    limit (a word that ends exactly at the limit is kept whole), trailing whitespace and
    `,;:-` go, and the suffix (e.g. `…`) is added. A single word longer than the limit is cut
    hard.
    """

    title: ClassVar[str] = "Truncate"
    type: Literal["truncate"] = "truncate"
    max_length: int = Field(ge=1)
    suffix: str = ""
    word_boundary: bool = True

    @model_validator(mode="after")
    def _suffix_fits(self) -> Truncate:
        if len(self.suffix) >= self.max_length:
            raise ValueError("`suffix` must be shorter than `max_length`")
        return self

    def compile(self) -> RuleFn:
        max_len, suffix, words = self.max_length, self.suffix, self.word_boundary
        limit = max_len - len(suffix)

        def truncate(value: str, row: Mapping[str, str], ctx: RuleContext) -> str:
            if len(value) <= max_len:
                return value
            cut = value[:limit]
            if words and not value[limit].isspace():
                i = limit - 1
                while i >= 0 and not cut[i].isspace():
                    i -= 1
                if i > 0:
                    cut = cut[:i]
            cut = cut.rstrip(_TRUNCATE_TRAILING) or value[:limit]
            return cut + suffix

        return truncate


class RegexReplace(_Box):
    """Replace matches of a regular expression (Python syntax; groups as `\\1` or `\\g<name>`)."""

    title: ClassVar[str] = "Regex Replace"
    type: Literal["regex_replace"] = "regex_replace"
    pattern: str = Field(min_length=1)
    replacement: str = ""
    ignore_case: bool = False
    count: int = Field(default=0, ge=0, description="At most this many replacements; 0 = all.")

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, pattern: str) -> str:
        return _check_regex(pattern)

    @field_validator("replacement")
    @classmethod
    def _check_replacement(cls, replacement: str, info: ValidationInfo) -> str:
        # Expand the replacement once against a pattern with the same groups, so a bad group
        # reference fails at load, not on the first matching row.
        pattern = info.data.get("pattern")
        if pattern is None:  # the pattern itself was refused
            return replacement
        compiled = re.compile(pattern)
        names = {index: name for name, index in compiled.groupindex.items()}
        probe = "".join(
            f"(?P<{names[i]}>)" if i in names else "()" for i in range(1, compiled.groups + 1)
        )
        try:
            re.sub(probe, replacement, "", count=1)
        except (re.error, IndexError) as exc:
            raise ValueError(f"not a valid replacement for the pattern: {exc}") from None
        return replacement

    def compile(self) -> RuleFn:
        rx, repl, count = (
            _compile_regex(self.pattern, self.ignore_case),
            self.replacement,
            self.count,
        )

        def regex_replace(value: str) -> str:
            return rx.sub(repl, value, count)

        return _cached(regex_replace)


_WORD = re.compile(r"\S+")


def _title_word(match: re.Match[str]) -> str:
    word = match[0]
    return word[:1].upper() + word[1:].lower()


class Case(_Box):
    """Change letter case: upper, lower, title (each word capitalised, the rest lowered) or
    first_upper (only the first character)."""

    title: ClassVar[str] = "Case"
    type: Literal["case"] = "case"
    mode: Literal["upper", "lower", "title", "first_upper"]

    def compile(self) -> RuleFn:
        mode = self.mode
        if mode == "upper":
            return lambda value, row, ctx: value.upper()
        if mode == "lower":
            return lambda value, row, ctx: value.lower()
        if mode == "title":
            return _cached(lambda value: _WORD.sub(_title_word, value))
        return lambda value, row, ctx: value[:1].upper() + value[1:]


# Digits with separators: `.`/`,` anywhere, a space-like or `'` only before a group of 3.
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+|['\u00a0\u202f\u2009 ]\d{3}(?!\d))*")
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_GROUPING = str.maketrans("", "", "'\u00a0\u202f\u2009 ")


def parse_number(
    text: str, decimal_separator: Literal["auto", ".", ","] = "auto"
) -> Decimal | None:
    """The first number in `text` (currency codes, symbols and units around it ignored).

    `1.234,50`, `1,234.50`, `1 234,50 €`, `GBP 12.99` all parse. With `auto`: when both `.`
    and `,` occur the last one is the decimal separator; one kind occurring several times
    groups thousands; a single `,` followed by exactly three digits after a 1-3 digit
    non-zero integer part groups thousands (`1,234`), otherwise it is decimal (`12,5`);
    a single `.` is decimal.
    """
    if decimal_separator != "," and _PLAIN_NUMBER.fullmatch(text):
        return Decimal(text)
    match = _NUMBER.search(text)
    if match is None:
        return None
    s = match[0]
    if " " in s or "'" in s or not s.isascii():
        s = s.translate(_GROUPING)
    dec: str = decimal_separator
    if dec == "auto":
        last_dot, last_comma = s.rfind("."), s.rfind(",")
        if last_dot >= 0 and last_comma >= 0:
            dec = "." if last_dot > last_comma else ","
        elif last_dot < 0 and last_comma < 0:
            dec = "."
        else:
            sep = "." if last_dot >= 0 else ","
            integer, _, fraction = s.lstrip("+-").partition(sep)
            if s.count(sep) > 1:
                dec = "," if sep == "." else "."
            elif sep == "," and len(fraction) == 3 and len(integer) <= 3 and integer != "0":
                dec = "."
            else:
                dec = sep
    s = s.replace("," if dec == "." else ".", "")
    if s.count(dec) > 1:
        return None
    try:
        return Decimal(s.replace(dec, "."))
    except InvalidOperation:
        return None


def _number_formatter(
    decimals: int | None,
    decimal_separator: str,
    thousands_separator: str,
    input_decimal_separator: Literal["auto", ".", ","],
    keep_invalid: bool,
) -> RuleFn:
    quantum = None if decimals is None else Decimal(1).scaleb(-decimals)
    spec = ",f" if thousands_separator else "f"
    table = None
    if thousands_separator not in ("", ",") or decimal_separator != ".":
        table = str.maketrans({",": thousands_separator, ".": decimal_separator})

    def number_format(value: str) -> str:
        if not value:
            return value
        number = parse_number(value, input_decimal_separator)
        if number is None:
            return value if keep_invalid else ""
        try:
            if quantum is not None:
                number = number.quantize(quantum, ROUND_HALF_UP)
        except InvalidOperation:
            return value if keep_invalid else ""
        if not number:
            number = abs(number)  # never "-0.00"
        out = format(number, spec)
        return out.translate(table) if table is not None else out

    return _cached(number_format)


class _NumberBox(_Box):
    decimal_separator: Literal[".", ","] = "."
    thousands_separator: Literal["", ",", ".", " ", "'", "\u00a0"] = ""
    input_decimal_separator: Literal["auto", ".", ","] = Field(
        default="auto", description="How to read the input; 'auto' accepts 1.234,50 and 1,234.50."
    )
    on_invalid: Literal["empty", "keep"] = Field(
        default="empty", description="A value without a number: 'empty' (default) or 'keep' it."
    )

    @model_validator(mode="after")
    def _separators_differ(self) -> _NumberBox:
        if self.thousands_separator == self.decimal_separator:
            raise ValueError("`thousands_separator` must differ from `decimal_separator`")
        return self


class NumberFormat(_NumberBox):
    """Rewrite a number: `decimals` places (half up; null keeps the input's), separators."""

    title: ClassVar[str] = "Number Format"
    type: Literal["number_format"] = "number_format"
    decimals: int | None = Field(default=None, ge=0, le=10)

    def compile(self) -> RuleFn:
        return _number_formatter(
            self.decimals,
            self.decimal_separator,
            self.thousands_separator,
            self.input_decimal_separator,
            self.on_invalid == "keep",
        )


class PriceFormat(_NumberBox):
    """A price as TikTok takes it: `12.99` from `£12.99`, `12,99 EUR` or `1.234,5`."""

    title: ClassVar[str] = "Price Format"
    type: Literal["price_format"] = "price_format"
    decimals: int = Field(default=2, ge=0, le=4)

    def compile(self) -> RuleFn:
        return _number_formatter(
            self.decimals,
            self.decimal_separator,
            self.thousands_separator,
            self.input_decimal_separator,
            self.on_invalid == "keep",
        )


class FirstN(_Box):
    """Keep the first `n` values of a `#`-joined multi-value (e.g. TikTok's 9 images),
    cleaning separator artefacts (` #`, empty values) on the way."""

    title: ClassVar[str] = "First N Values"
    type: Literal["first_n"] = "first_n"
    n: int = Field(ge=1)
    unique: bool = Field(default=False, description="Drop repeated values first.")

    def compile(self) -> RuleFn:
        n, unique = self.n, self.unique

        def first_n(value: str) -> str:
            if not value:
                return value
            parts: Iterable[str] = split_multi(value)
            if unique:
                parts = dict.fromkeys(parts)
            return join_multi(list(parts)[:n])

        return _cached(first_n)


Operator: TypeAlias = Literal[
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "matches",
    "not_matches",
    "empty",
    "not_empty",
]


class Condition(_Box):
    """If the value (or another `column`) passes the test, set `then`; else `else` (when given).

    `empty` means "" or only whitespace; `matches` searches a regular expression anywhere in
    the tested value; `ignore_case` applies to every comparison.
    """

    title: ClassVar[str] = "Condition"
    type: Literal["condition"] = "condition"
    column: str | None = Field(default=None, description="Test this column instead of the value.")
    operator: Operator
    operand: str = Field(default="", description="What to compare with (a regex for matches).")
    ignore_case: bool = False
    then: str = Field(description="The value set when the test passes.")
    else_: str | None = Field(
        default=None,
        validation_alias="else",
        serialization_alias="else",
        description="Set otherwise; null = unchanged.",
    )

    @field_validator("operand")
    @classmethod
    def _check_operand(cls, operand: str, info: ValidationInfo) -> str:
        if info.data.get("operator") in ("matches", "not_matches"):
            return _check_regex(operand)
        return operand

    def _test(self) -> Callable[[str], bool]:
        op, fold = self.operator, self.ignore_case
        operand = self.operand.casefold() if fold else self.operand
        if op in ("empty", "not_empty"):
            return _is_empty if op == "empty" else (lambda s: not _is_empty(s))
        if op in ("matches", "not_matches"):
            search = _compile_regex(self.operand, fold).search
            if op == "matches":
                return lambda s: search(s) is not None
            return lambda s: search(s) is None
        tests: dict[str, Callable[[str], bool]] = {
            "equals": lambda s: s == operand,
            "not_equals": lambda s: s != operand,
            "contains": lambda s: operand in s,
            "not_contains": lambda s: operand not in s,
            "starts_with": lambda s: s.startswith(operand),
            "ends_with": lambda s: s.endswith(operand),
        }
        test = tests[op]
        return (lambda s: test(s.casefold())) if fold else test

    def compile(self) -> RuleFn:
        test, col, then, otherwise = self._test(), self.column, self.then, self.else_

        def condition(value: str, row: Mapping[str, str], ctx: RuleContext) -> str:
            subject = value if col is None else row.get(col, "")
            if test(subject):
                return then
            return value if otherwise is None else otherwise

        return condition


RuleBox = Annotated[
    TaxonomyMapping
    | SplitString
    | AppendPrependColumn
    | StaticValue
    | TextReplace
    | DefaultValue
    | Trim
    | StripHtml
    | Truncate
    | RegexReplace
    | Case
    | NumberFormat
    | PriceFormat
    | FirstN
    | Condition,
    Field(discriminator="type"),
]
"""Any rule box, chosen by its `type`."""

RULE_BOXES: TypeAdapter[list[RuleBox]] = TypeAdapter(list[RuleBox])


def parse_rules(data: object) -> list[RuleBox]:
    """Validate a list of rule boxes given as plain data (from YAML/JSON)."""
    return RULE_BOXES.validate_python(data)


def compile_chain(rules: Iterable[RuleBox]) -> RuleFn | None:
    """One callable applying `rules` top to bottom; None for an empty chain (value unchanged)."""
    fns = tuple(rule.compile() for rule in rules)
    if not fns:
        return None
    if len(fns) == 1:
        return fns[0]
    if len(fns) == 2:
        first, second = fns

        def chain2(value: str, row: Mapping[str, str], ctx: RuleContext) -> str:
            return second(first(value, row, ctx), row, ctx)

        return chain2

    def chain(value: str, row: Mapping[str, str], ctx: RuleContext) -> str:
        for fn in fns:
            value = fn(value, row, ctx)
        return value

    return chain

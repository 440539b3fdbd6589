"""Data optimization: make any catalogue fit TikTok's main product + variants model.

TikTok Shop (as Productsup's export) wants every row to be a sellable SKU with a
`product_id`, and the rows of one product to share a `parent_id`. Many catalogues are not
shaped that way: WooCommerce exports a `variable` parent row (name, description, images,
no price) followed by `variation` rows (price, stock, attributes) that point to it through
a `Parent` column; other feeds carry the group in some `item_group_id` column, or rows that
must never be sold. Two steps fix that (docs/feeds.md, "Data optimization"):

1. per row (`Optimizer.prepare_row`, as rows arrive): derive `parent_id` from a column,
   falling back to `product_id`; exclude the rows a filter matches;
2. per group (`Optimizer.finish_group`, given every row sharing one parent_id, in memory
   or after a SQL `GROUP BY parent_id`): the row the parent_id points to
   (`product_id == parent_id`) fills its variants' empty shared attributes (every column
   not prefixed `sku.`); when it is a parent-only row (`parents.parent_only_when`), it is
   not sellable and is not exported as a SKU.

Rows are changed in place (they are the parser's fresh dicts; no copies on the hot path).
The configuration is part of a feed file, so its models forbid unknown keys.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Row = dict[str, str]
Predicate = Callable[[Row], bool]

SKU_PREFIX = "sku."
PRODUCT_ID = "product_id"
PARENT_ID = "parent_id"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Equals(_Model):
    """The column's value is `value` (compared whole, surrounding blanks ignored)."""

    kind: Literal["equals"]
    column: str
    value: str
    ignore_case: bool = Field(default=False, description="Compare case-insensitively.")
    negate: bool = Field(default=False, description="Hold when the condition does not.")


class OneOf(_Model):
    """The column's value is one of `values`."""

    kind: Literal["in"]
    column: str
    values: list[str] = Field(min_length=1)
    ignore_case: bool = Field(default=False, description="Compare case-insensitively.")
    negate: bool = Field(default=False, description="Hold when the condition does not.")


class Empty(_Model):
    """The column is empty, blank or absent (e.g. an empty `Regular price`)."""

    kind: Literal["empty"]
    column: str
    negate: bool = Field(default=False, description="Hold when the column has a value.")


class Matches(_Model):
    """The regular expression `pattern` is found in the column's value (`re.search`)."""

    kind: Literal["matches"]
    column: str
    pattern: str = Field(
        description="Python regular expression; anchor it with ^…$ to match whole."
    )
    ignore_case: bool = Field(default=False, description="Match case-insensitively.")
    negate: bool = Field(default=False, description="Hold when the pattern is not found.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


Condition = Annotated[Equals | OneOf | Empty | Matches, Field(discriminator="kind")]


class RowFilter(_Model):
    """Exclude the rows for which every condition of `when` holds."""

    name: str = Field(min_length=1, description="Named in the counters, e.g. `no price`.")
    when: list[Condition] = Field(min_length=1)


class ParentIdFrom(_Model):
    """Take `parent_id` from another column (WooCommerce `Parent`, Google `item_group_id`)."""

    column: str
    overwrite: bool = Field(
        default=False,
        description="Replace a parent_id the row already has (default: only fill an empty one).",
    )


class ParentRows(_Model):
    """The group step: what the row a group's parent_id points to does for its variants."""

    parent_only_when: list[Condition] = Field(
        default_factory=list,
        description=(
            "A row for which all these hold is a parent-only row (e.g. `Type equals variable`): "
            "not sellable, never exported as a SKU. Empty: every row is sellable."
        ),
    )
    fill: bool = Field(
        default=True,
        description="Fill the variants' empty shared (non-`sku.`) attributes from the parent row.",
    )
    columns: list[str] | None = Field(
        default=None,
        description="Fill only these columns (default: every shared column the parent has).",
    )
    skip_columns: list[str] = Field(
        default_factory=list,
        description="Never fill these columns (e.g. a per-variant price without `sku.` prefix).",
    )


class Optimization(_Model):
    """A feed's data optimization (the feed file's `optimization:`); every part is optional."""

    parent_id_from: ParentIdFrom | None = None
    exclude: list[RowFilter] = Field(default_factory=list)
    parents: ParentRows | None = None


def _predicate(condition: Equals | OneOf | Empty | Matches) -> Predicate:
    column = condition.column
    test: Predicate
    if isinstance(condition, Empty):

        def test(row: Row) -> bool:
            value = row.get(column)
            return not value or value.isspace()

    elif isinstance(condition, Matches):
        search = re.compile(condition.pattern, re.IGNORECASE if condition.ignore_case else 0).search

        def test(row: Row) -> bool:
            return search(row.get(column, "")) is not None

    else:
        wanted = [condition.value] if isinstance(condition, Equals) else condition.values
        if condition.ignore_case:
            folded = frozenset(v.strip().casefold() for v in wanted)

            def test(row: Row) -> bool:
                return row.get(column, "").strip().casefold() in folded

        else:
            exact = frozenset(v.strip() for v in wanted)

            def test(row: Row) -> bool:
                return row.get(column, "").strip() in exact

    if condition.negate:
        positive = test
        return lambda row: not positive(row)
    return test


def compile_conditions(conditions: list[Condition]) -> Predicate:
    """One predicate that holds when all `conditions` hold (compiled once, not per row)."""
    tests = [_predicate(c) for c in conditions]
    if len(tests) == 1:
        return tests[0]
    return lambda row: all(test(row) for test in tests)


@dataclass
class GroupResult:
    """One TikTok product: its exported SKU rows (main product first) and what was dropped."""

    parent_id: str
    rows: list[Row]
    dropped: list[tuple[Row, str]] = field(default_factory=list)
    filled: int = 0


@dataclass
class OptimizeStats:
    excluded: Counter[str] = field(default_factory=Counter)
    groups: int = 0
    parent_only_dropped: int = 0
    parents_without_variants: int = 0
    values_filled: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "excluded": dict(self.excluded),
            "groups": self.groups,
            "parent_only_dropped": self.parent_only_dropped,
            "parents_without_variants": self.parents_without_variants,
            "values_filled": self.values_filled,
        }


PARENT_ONLY = "parent_only"
PARENT_WITHOUT_VARIANTS = "parent_without_variants"


class Optimizer:
    """A compiled `Optimization`: conditions and regexes are built once, here."""

    def __init__(self, config: Optimization | None = None) -> None:
        self.config = config or Optimization()
        self.stats = OptimizeStats()
        source = self.config.parent_id_from
        self._parent_column = source.column if source else None
        self._overwrite = bool(source and source.overwrite)
        self._filters = [(f.name, compile_conditions(f.when)) for f in self.config.exclude]
        parents = self.config.parents
        self._parent_only = (
            compile_conditions(parents.parent_only_when)
            if parents and parents.parent_only_when
            else None
        )
        self._fill = parents.fill if parents else True
        self._fill_columns = parents.columns if parents else None
        self._skip = frozenset({PRODUCT_ID, PARENT_ID, *(parents.skip_columns if parents else ())})

    def prepare_row(self, row: Row) -> str | None:
        """Per row: set `parent_id`, then apply the filters.

        Returns the name of the filter that excludes the row (the caller drops it), or None
        for a row to keep. `parent_id` ends up set on every row: from `parent_id_from`'s
        column when it has a value, else the row's own, else its `product_id`.
        """
        column = self._parent_column
        if column is not None:
            value = row.get(column, "").strip()
            if value and (self._overwrite or not row.get(PARENT_ID)):
                row[PARENT_ID] = value
        if not row.get(PARENT_ID):
            row[PARENT_ID] = row.get(PRODUCT_ID, "")
        for name, excluded in self._filters:
            if excluded(row):
                self.stats.excluded[name] += 1
                return name
        return None

    def finish_group(self, parent_id: str, rows: list[Row]) -> GroupResult:
        """Per group: all the kept rows whose `parent_id` is `parent_id`, in source order.

        The row whose product_id is `parent_id` (if present) fills the others' empty shared
        attributes; a parent-only row is dropped (`parent_only`, or `parent_without_variants`
        when no sellable row is left, so the product is not exported at all). A sellable
        parent row is moved first: it is the main product.
        """
        self.stats.groups += 1
        parent = next((r for r in rows if r.get(PRODUCT_ID) == parent_id), None)
        parent_only = self._parent_only
        gone: list[Row] = []
        if parent_only is None:
            kept = rows
        else:
            kept = []
            for row in rows:
                (gone if parent_only(row) else kept).append(row)
        result = GroupResult(parent_id, kept)
        reason = PARENT_ONLY if kept else PARENT_WITHOUT_VARIANTS
        result.dropped = [(row, reason) for row in gone]
        if reason == PARENT_ONLY:
            self.stats.parent_only_dropped += len(gone)
        else:
            self.stats.parents_without_variants += len(gone)
        if parent is not None and kept:
            if self._fill:
                result.filled = self._fill_from(parent, kept)
                self.stats.values_filled += result.filled
            at = next((i for i, r in enumerate(kept) if r is parent), 0)
            if at:
                kept.insert(0, kept.pop(at))
        return result

    def _fill_from(self, parent: Row, rows: list[Row]) -> int:
        skip = self._skip
        names = self._fill_columns if self._fill_columns is not None else list(parent)
        shared = [
            (name, value)
            for name in names
            if name not in skip and not name.startswith(SKU_PREFIX)
            for value in (parent.get(name, ""),)
            if value
        ]
        filled = 0
        for row in rows:
            if row is parent:
                continue
            for name, value in shared:
                if not row.get(name):
                    row[name] = value
                    filled += 1
        return filled


def group_rows(rows: Iterable[Row]) -> dict[str, list[Row]]:
    """Rows by `parent_id`, groups in order of first appearance (the in-memory GROUP BY)."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.get(PARENT_ID) or row.get(PRODUCT_ID, ""), []).append(row)
    return groups


def optimize_rows(rows: Iterable[Row], optimizer: Optimizer) -> Iterator[GroupResult]:
    """Both steps in memory: prepare every row, group the kept ones, finish each group."""
    kept = (row for row in rows if optimizer.prepare_row(row) is None)
    for parent_id, group in group_rows(kept).items():
        yield optimizer.finish_group(parent_id, group)

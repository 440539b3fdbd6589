"""The dataflow of a feed: import -> intermediate -> export, as in Productsup's Dataflow.

- **import**: a source row as received (`dict[str, str]`, one row per variant);
- **intermediate**: every import column passes through unchanged; an intermediate mapping
  (target, source import column, rule boxes) adds a column or overrides one. Its rule
  boxes read other columns from the import row;
- **export**: only the declared export attributes, each a source intermediate column and
  an ordered chain of rule boxes applied top to bottom, reading other columns from the
  intermediate row.

`Dataflow` is the configuration (a pydantic model the feed file embeds);
`Dataflow.compile()` turns it, once, into a `CompiledDataflow` whose `transform(row)` is the
hot path of a run and whose `trace(row)` backs the feed preview (every export attribute's
value at each stage and the rule box that changed it). `group_variants` turns transformed
rows, clustered by `parent_id`, into TikTok products. See docs/feeds.md, "Dataflow and rule
boxes".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Literal, NamedTuple, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, model_validator

from catalog_sync.naming import PARENT_ID, PRODUCT_ID, is_variant_attribute
from catalog_sync.rules import RuleBox, RuleContext, RuleFn, compile_chain

Stage: TypeAlias = Literal["import", "intermediate", "export"]


class IntermediateMapping(BaseModel):
    """An intermediate column computed from an import column through rule boxes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(min_length=1, description="The intermediate column written.")
    source: str | None = Field(
        default=None, description="The import column read; null = the target's own name."
    )
    rules: tuple[RuleBox, ...] = Field(default=(), description="Rule boxes, applied top to bottom.")

    @property
    def source_column(self) -> str:
        return self.target if self.source is None else self.source


class ExportMapping(BaseModel):
    """One export attribute: an intermediate column through rule boxes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attribute: str = Field(
        min_length=1,
        description="Export attribute, e.g. product_name, product_attribute.Material#100157, "
        "sku.price.",
    )
    source: str | None = Field(
        default=None, description="The intermediate column read; null = the attribute's own name."
    )
    rules: tuple[RuleBox, ...] = Field(default=(), description="Rule boxes, applied top to bottom.")

    @property
    def source_column(self) -> str:
        return self.attribute if self.source is None else self.source


class Dataflow(BaseModel):
    """A feed's intermediate and export mappings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    intermediate: tuple[IntermediateMapping, ...] = ()
    export: tuple[ExportMapping, ...] = ()

    @model_validator(mode="after")
    def _names_are_unique(self) -> Dataflow:
        for what, names in (
            ("intermediate target", [m.target for m in self.intermediate]),
            ("export attribute", [m.attribute for m in self.export]),
        ):
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise ValueError(f"{what} {name!r} is mapped twice")
                seen.add(name)
        return self

    @property
    def export_attributes(self) -> tuple[str, ...]:
        return tuple(m.attribute for m in self.export)

    def compile(self, ctx: RuleContext | None = None) -> CompiledDataflow:
        """Compile every rule chain once; `ctx` serves Taxonomy Mapping (default: no lists)."""
        return CompiledDataflow(self, RuleContext() if ctx is None else ctx)


class TraceStep(NamedTuple):
    """An attribute's value after a stage's input (rule None) or after a rule box changed it."""

    stage: Stage
    value: str
    rule: str | None


AttributeTrace: TypeAlias = tuple[str, list[TraceStep]]
_LabelledFns: TypeAlias = tuple[tuple[str, RuleFn], ...]


def _labelled(rules: Iterable[RuleBox]) -> _LabelledFns:
    """Each box compiled on its own and named for the trace: `#2 Split String`."""
    labelled = []
    for i, rule in enumerate(rules, start=1):
        title = rule.title
        if rule.type in ("append_column", "prepend_column"):
            title = "Append Column" if rule.type == "append_column" else "Prepend Column"
        labelled.append((f"#{i} {title}", rule.compile()))
    return tuple(labelled)


def _run_traced(
    stage: Stage,
    value: str,
    boxes: _LabelledFns,
    row: Mapping[str, str],
    ctx: RuleContext,
    steps: list[TraceStep],
) -> str:
    changed = False
    for label, fn in boxes:
        new = fn(value, row, ctx)
        if new != value:
            steps.append(TraceStep(stage, new, label))
            changed = True
        value = new
    if not changed:
        steps.append(TraceStep(stage, value, None))
    return value


class CompiledDataflow:
    """A dataflow ready to run: plain tuples of (name, source, compiled chain)."""

    __slots__ = ("_export", "_export_traced", "_inter", "_inter_traced", "attributes", "ctx")

    def __init__(self, dataflow: Dataflow, ctx: RuleContext) -> None:
        self.ctx = ctx
        self.attributes: tuple[str, ...] = dataflow.export_attributes
        self._inter: tuple[tuple[str, str, RuleFn | None], ...] = tuple(
            (m.target, m.source_column, compile_chain(m.rules)) for m in dataflow.intermediate
        )
        self._export: tuple[tuple[str, str, RuleFn | None], ...] = tuple(
            (m.attribute, m.source_column, compile_chain(m.rules)) for m in dataflow.export
        )
        self._inter_traced: tuple[tuple[str, str, _LabelledFns], ...] = tuple(
            (m.target, m.source_column, _labelled(m.rules)) for m in dataflow.intermediate
        )
        self._export_traced: tuple[tuple[str, str, _LabelledFns], ...] = tuple(
            (m.attribute, m.source_column, _labelled(m.rules)) for m in dataflow.export
        )

    def intermediate(self, row: Mapping[str, str]) -> Mapping[str, str]:
        """The intermediate row: the import row plus the intermediate mappings' columns.

        Without intermediate mappings this is `row` itself (read-only, not copied).
        """
        if not self._inter:
            return row
        ctx = self.ctx
        out = dict(row)
        for target, source, fn in self._inter:
            value = row.get(source, "")
            out[target] = value if fn is None else fn(value, row, ctx)
        return out

    def transform(self, row: Mapping[str, str]) -> dict[str, str]:
        """The export row: exactly the declared export attributes, in declared order."""
        inter = self.intermediate(row)
        ctx = self.ctx
        return {
            attribute: (
                inter.get(source, "") if fn is None else fn(inter.get(source, ""), inter, ctx)
            )
            for attribute, source, fn in self._export
        }

    def transform_many(self, rows: Iterable[Mapping[str, str]]) -> Iterator[dict[str, str]]:
        transform = self.transform
        for row in rows:
            yield transform(row)

    def trace(self, row: Mapping[str, str]) -> list[AttributeTrace]:
        """For each export attribute, its value at import, intermediate and export.

        Each stage contributes one step per rule box that changed the value (labelled
        `#<position> <box>`), or one unlabelled step when nothing in it changed the value.
        The first step is the import value the attribute comes from.
        """
        ctx = self.ctx
        inter = dict(row)
        inter_steps: dict[str, list[TraceStep]] = {}
        for target, source, boxes in self._inter_traced:
            value = row.get(source, "")
            steps = [TraceStep("import", value, None)]
            inter[target] = _run_traced("intermediate", value, boxes, row, ctx, steps)
            inter_steps[target] = steps
        traces: list[AttributeTrace] = []
        for attribute, source, boxes in self._export_traced:
            value = inter.get(source, "")
            computed = inter_steps.get(source)
            if computed is None:
                steps = [TraceStep("import", value, None), TraceStep("intermediate", value, None)]
            else:
                steps = list(computed)
            _run_traced("export", value, boxes, inter, ctx, steps)
            traces.append((attribute, steps))
        return traces

    def lineage(self) -> dict[str, tuple[str, str]]:
        """export attribute -> (import column, intermediate column) it is computed from."""
        import_of = {target: source for target, source, _ in self._inter}
        return {
            attribute: (import_of.get(source, source), source)
            for attribute, source, _ in self._export
        }


class _VariantKeys(dict[str, bool]):
    """attribute name -> is it a per-variant attribute; memoised (rows repeat their keys)."""

    def __missing__(self, key: str) -> bool:
        verdict = is_variant_attribute(key)
        if len(self) < 100_000:
            self[key] = verdict
        return verdict


_VARIANT_KEYS = _VariantKeys()


class UnclusteredRowsError(ValueError):
    """Rows of one parent_id were not consecutive, so grouping them would split a product."""


def group_variants(
    rows: Iterable[dict[str, str]], *, check_clustered: bool = True
) -> Iterator[tuple[str, list[dict[str, str]]]]:
    """Group consecutive rows sharing a `parent_id` into (parent_id, variants) products.

    The first row of a new parent_id is the main product and supplies the shared
    attributes: every further variant keeps its own `product_id` and `sku.*` values and takes
    all other attributes from the main row (so one product never has two titles). The main
    row is yielded as given; the other variants are new dicts. A row without `parent_id` is
    grouped by its `product_id` (a product without variants); a row with neither is a group
    of its own under "". Rows must be clustered by parent_id (e.g. `ORDER BY parent_id`,
    keeping intake order inside a parent); with `check_clustered` a parent_id that reappears
    after another raises `UnclusteredRowsError`.
    """
    variant = _VARIANT_KEYS
    seen: set[str] = set()
    key: str | None = None
    group: list[dict[str, str]] = []
    shared: dict[str, str] = {}
    for row in rows:
        row_key = row.get(PARENT_ID) or row.get(PRODUCT_ID) or ""
        if row_key and row_key == key:
            merged = shared.copy()
            merged.update({k: v for k, v in row.items() if variant[k]})
            group.append(merged)
            continue
        if key is not None:
            yield key, group
        if check_clustered and row_key:
            if row_key in seen:
                raise UnclusteredRowsError(
                    f"parent_id {row_key!r} reappears after other products; "
                    "cluster the rows by parent_id"
                )
            seen.add(row_key)
        key, group = row_key, [row]
        shared = {k: v for k, v in row.items() if not variant[k]}
        if not row_key:
            yield "", group
            key = None
    if key is not None:
        yield key, group

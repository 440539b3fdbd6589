"""Feed files: one YAML document describes a whole feed (docs/feeds.md, "The feed file").

`parse` validates a file whole and refuses it with every problem listed (path in the file,
line, what to fix); `apply` creates or updates the feed it names, idempotently (applying the
same file twice changes nothing the second time); `export` writes a feed back as a file
that `apply` accepts unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.errors import AppError

from catalog_sync import autoaccept, feeds, lists
from catalog_sync.dataflow import Dataflow
from catalog_sync.models import Feed, MappingList, Source
from catalog_sync.optimize import Optimization
from catalog_sync.schemas import NAME_PATTERN, FeedIn, FeedPatch, FeedSettings, NoNul
from catalog_sync.sources import SourceOptions

TAXONOMIES = {
    "tiktok_us_categories": "TikTok US categories with ids",
    "tiktok_uk_categories": "TikTok UK categories with ids",
    "tiktok_brands": "TikTok brands with ids",
    "tiktok_values": "TikTok non-customized values with ids",
}
Taxonomy = Literal["tiktok_us_categories", "tiktok_uk_categories", "tiktok_brands", "tiktok_values"]
MAX_FILE_BYTES = 8 * 1024 * 1024


class FeedSection(FeedSettings):
    name: str = Field(pattern=NAME_PATTERN)


class SourceSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=NAME_PATTERN, description="several feeds may name one source")
    name: str | None = None
    options: SourceOptions | None = Field(
        default=None, description="how uploads are read (delimiter, column renames…)"
    )


class ListSection(BaseModel):
    """A Partner Taxonomy Mapping list and the replacements chosen so far."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    taxonomy: Taxonomy
    attribute: str = Field(min_length=1, description="the import attribute whose values it maps")
    accept_above_score: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="apply suggestions scoring at least this without confirmation",
    )
    mappings: dict[str, str] = Field(
        default_factory=dict, description="source value → replacement term"
    )


class FeedFile(NoNul):
    model_config = ConfigDict(extra="forbid")

    feed: FeedSection
    source: SourceSection | None = None
    optimization: Optimization = Field(default_factory=Optimization)
    dataflow: Dataflow = Field(default_factory=Dataflow)
    lists: list[ListSection] = Field(default_factory=list)


@dataclass(frozen=True)
class FileProblem:
    path: str
    line: int | None
    problem: str

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "problem": self.problem}


class InvalidFeedFile(AppError):
    status_code = 422
    code = "invalid_feed_file"

    def __init__(self, problems: Sequence[FileProblem]) -> None:
        super().__init__(
            f"the feed file was refused whole: {len(problems)} problem(s); fix each and apply again"
        )
        self.problems = list(problems)


def _lines(
    node: yaml.Node, path: tuple[str | int, ...], out: dict[tuple[str | int, ...], int]
) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key)
            out[(*path, name)] = key.start_mark.line + 1
            _lines(value, (*path, name), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)


def _line_of(loc: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


def parse(raw: bytes | str) -> FeedFile:
    """Validate a feed file; raise `InvalidFeedFile` listing every problem."""
    if len(raw) > MAX_FILE_BYTES:
        raise InvalidFeedFile([FileProblem("(file)", None, f"larger than {MAX_FILE_BYTES} bytes")])
    try:
        node = yaml.compose(raw, Loader=yaml.SafeLoader)
        document = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = mark.line + 1 if mark is not None else None
        raise InvalidFeedFile([FileProblem("(file)", line, f"not valid YAML: {problem}")]) from None
    if not isinstance(document, dict) or node is None:
        raise InvalidFeedFile(
            [FileProblem("(file)", 1, "a feed file is a mapping with at least a `feed:` section")]
        )
    lines: dict[tuple[str | int, ...], int] = {}
    _lines(node, (), lines)
    problems = _list_problems(document, lines)
    try:
        parsed = FeedFile.model_validate(document)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(
                p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))
            )
            problems.append(FileProblem(_path(loc), _line_of(loc, lines), err["msg"]))
        raise InvalidFeedFile(problems) from None
    if problems:
        raise InvalidFeedFile(problems)
    return parsed


def _list_problems(
    document: dict[str, Any], lines: dict[tuple[str | int, ...], int]
) -> list[FileProblem]:
    """Replacement terms of the wrong form and lists defined twice (from the raw document,
    so they are reported together with every other problem of the file)."""
    problems: list[FileProblem] = []
    entries = document.get("lists")
    if not isinstance(entries, list):
        return problems
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        taxonomy, mappings, name = entry.get("taxonomy"), entry.get("mappings"), entry.get("name")
        if taxonomy in TAXONOMIES and isinstance(mappings, dict):
            for value, term in mappings.items():
                why = lists.check_term(taxonomy, term) if isinstance(term, str) else None
                if why:
                    loc: tuple[str | int, ...] = ("lists", i, "mappings", value)
                    problems.append(
                        FileProblem(_path(loc), _line_of(loc, lines), f"{term!r}: {why}")
                    )
        if isinstance(name, str):
            if name in seen:
                loc = ("lists", i, "name")
                problems.append(
                    FileProblem(
                        _path(loc),
                        _line_of(loc, lines),
                        f"list {name!r} is defined twice (also lists[{seen[name]}])",
                    )
                )
            seen.setdefault(name, i)
    return problems


@dataclass(frozen=True)
class Applied:
    feed: Feed
    created: bool
    changed: bool


async def apply(session: AsyncSession, raw: bytes | str) -> Applied:
    """Create or update the feed a file describes (flush only); idempotent."""
    spec = parse(raw)
    settings = spec.feed.model_dump(exclude={"name"})
    # As written (exclude_unset keeps each rule box's `type`; by_alias its `from`/`else`).
    optimization = spec.optimization.model_dump(mode="json", by_alias=True, exclude_unset=True)
    dataflow = spec.dataflow.model_dump(mode="json", by_alias=True, exclude_unset=True)
    source_id = spec.source.id if spec.source else spec.feed.name
    source = await feeds.ensure_source(
        session, source_id, spec.source.name if spec.source else None
    )
    options = (
        spec.source.options.model_dump(mode="json", exclude_unset=True)
        if spec.source and spec.source.options
        else {}
    )
    source_changed = source.options != options
    if source_changed:
        source.options = options
        await session.flush()
    feed = await feeds.feed_by_name(session, spec.feed.name)
    created = feed is None
    if feed is None:
        feed = await feeds.create_feed(
            session,
            FeedIn(
                name=spec.feed.name,
                source_id=source_id,
                optimization=optimization,
                dataflow=dataflow,
                **settings,
            ),
        )
        changed = True
    else:
        before = feed.version
        if feed.source_id != source_id:
            feed.source_id = source_id
            feed.version += 1
        feed = await feeds.update_feed(
            session,
            feed.id,
            FeedPatch(optimization=optimization, dataflow=dataflow, **settings),
        )
        changed = feed.version != before
    if await _apply_lists(session, feed, spec.lists):
        changed = True
        if not created:
            feed.version += 1
            await session.flush()
    if source_changed and not created:
        changed = True
    feed = await feeds.get_feed(session, feed.id)
    # A new list gathers the values the source already holds; a declared accept_above_score
    # applies at once (both no-ops on a second apply of the same file).
    if await lists.collect_values(session, feed):
        changed = True
    if await autoaccept.apply_declared(session, feed):
        changed = True
    return Applied(await feeds.get_feed(session, feed.id), created, changed)


async def _apply_lists(session: AsyncSession, feed: Feed, lists: Sequence[ListSection]) -> bool:
    changed = False
    existing = {lst.name: lst for lst in feed.lists}
    wanted = {lst.name for lst in lists}
    for name, lst in existing.items():
        if name not in wanted:
            await session.execute(delete(MappingList).where(MappingList.id == lst.id))
            changed = True
    for spec in lists:
        row = existing.get(spec.name)
        if row is None:
            row = MappingList(
                feed_id=feed.id,
                name=spec.name,
                taxonomy=spec.taxonomy,
                attribute=spec.attribute,
                accept_above_score=spec.accept_above_score,
            )
            session.add(row)
            await session.flush()
            changed = True
        else:
            for key in ("taxonomy", "attribute", "accept_above_score"):
                if getattr(row, key) != getattr(spec, key):
                    setattr(row, key, getattr(spec, key))
                    changed = True
        if spec.mappings:
            changed |= await _set_mappings(session, row, spec.mappings)
    await session.flush()
    return changed


_MAPPING_ROWS = text("SELECT source_value, replacement FROM mapping_list_rows WHERE list_id = :l")


async def _set_mappings(session: AsyncSession, lst: MappingList, mappings: dict[str, str]) -> bool:
    current = {
        r.source_value: r.replacement for r in await session.execute(_MAPPING_ROWS, {"l": lst.id})
    }
    todo = {v: r for v, r in mappings.items() if current.get(v) != r}
    return await lists.set_mappings(session, lst, todo) > 0


async def export(session: AsyncSession, feed_id: str) -> str:
    """The feed as a feed file (`apply` of it changes nothing)."""
    feed = await feeds.get_feed(session, feed_id)
    source = await session.get(Source, feed.source_id)
    lists = []
    for lst in feed.lists:
        rows = await session.execute(
            select(text("source_value"), text("replacement"))
            .select_from(text("mapping_list_rows"))
            .where(text("list_id = :l AND replacement IS NOT NULL"))
            .order_by(text("source_value")),
            {"l": lst.id},
        )
        entry: dict[str, Any] = {
            "name": lst.name,
            "taxonomy": lst.taxonomy,
            "attribute": lst.attribute,
        }
        if lst.accept_above_score is not None:
            entry["accept_above_score"] = lst.accept_above_score
        mappings = {r[0]: r[1] for r in rows}
        if mappings:
            entry["mappings"] = mappings
        lists.append(entry)
    settings = FeedSettings.model_validate(
        {k: getattr(feed, k) for k in FeedSettings.model_fields}
    ).model_dump(mode="json")
    document: dict[str, Any] = {
        "feed": {"name": feed.name, **settings},
        "source": {
            "id": feed.source_id,
            **({"name": source.name} if source else {}),
            **({"options": source.options} if source and source.options else {}),
        },
    }
    if feed.optimization:
        document["optimization"] = feed.optimization
    if feed.dataflow:
        document["dataflow"] = feed.dataflow
    if lists:
        document["lists"] = lists
    header = "# catalog-sync feed file (docs/feeds.md); `apply` it to create or update the feed\n"
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)

"""Partner Taxonomy Mapping lists: every distinct source value and its replacement term.

Unlike Productsup, a value seen for the first time is added to its list automatically
(set-based, after each upload) and reported as unmapped — no need to recreate a list. A
replacement term is checked against its taxonomy's form: `<id>|<path>` for categories,
`<id>|<name>` for brands, `<attribute>|<Value>:::::<value id>` for predefined values
(docs/feeds.md, "Taxonomy lists"). A list's rows are read with the number of products holding
each value (`counted_rows`). Flush only; the entrypoint commits.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Column, DateTime, MetaData, Table, Text, func, select, text
from sqlalchemy.dialects.postgresql import BIGINT
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.errors import BadRequest, NotFound

from catalog_sync.models import Feed, MappingList

_metadata = MetaData()
mapping_rows_table = Table(
    "mapping_list_rows",
    _metadata,
    Column("list_id", BIGINT, primary_key=True),
    Column("source_value", Text, primary_key=True),
    Column("replacement", Text),
    Column("added_at", DateTime(timezone=True), server_default=func.now()),
    Column("mapped_at", DateTime(timezone=True)),
)

_TERM_FORMS = {
    "tiktok_us_categories": (re.compile(r"^\d+\|\S.*$"), "<category id>|<category path>"),
    "tiktok_uk_categories": (re.compile(r"^\d+\|\S.*$"), "<category id>|<category path>"),
    "tiktok_brands": (re.compile(r"^\d+\|\S.*$"), "<brand id>|<brand name>"),
    "tiktok_values": (re.compile(r"^[^|]+\|.+:::::\d+$"), "<attribute>|<Value>:::::<value id>"),
}


def check_term(taxonomy: str, term: str) -> str | None:
    """None when `term` has the form its taxonomy's terms have, else what it should look like."""
    pattern, form = _TERM_FORMS[taxonomy]
    return None if pattern.match(term) else f"expected {form}"


@dataclass(frozen=True)
class ListSummary:
    name: str
    taxonomy: str
    attribute: str
    accept_above_score: float | None
    values: int
    mapped: int

    @property
    def unmapped(self) -> int:
        return self.values - self.mapped


def find_list(feed: Feed, name: str) -> MappingList:
    for lst in feed.lists:
        if lst.name == name:
            return lst
    raise NotFound(f"feed {feed.name} has no list {name!r}")


_COLLECT = text(
    "INSERT INTO mapping_list_rows (list_id, source_value)"
    " SELECT DISTINCT CAST(:list AS bigint), data->>:attr FROM source_products"
    " WHERE source_id = :source AND coalesce(data->>:attr, '') <> ''"
    " ON CONFLICT (list_id, source_value) DO NOTHING"
)


async def collect_values(session: AsyncSession, feed: Feed) -> int:
    """Add every new distinct value of each list's attribute to the list (unmapped); count."""
    added = 0
    for lst in feed.lists:
        result = await session.execute(
            _COLLECT, {"list": lst.id, "attr": lst.attribute, "source": feed.source_id}
        )
        added += int(getattr(result, "rowcount", 0) or 0)
    return added


async def summaries(session: AsyncSession, feed: Feed) -> list[ListSummary]:
    counts = {
        r.list_id: (r.values, r.mapped)
        for r in await session.execute(
            text(
                "SELECT list_id, count(*) AS values, count(replacement) AS mapped"
                " FROM mapping_list_rows WHERE list_id = ANY(:ids) GROUP BY list_id"
            ),
            {"ids": [lst.id for lst in feed.lists]},
        )
    }
    return [
        ListSummary(
            lst.name,
            lst.taxonomy,
            lst.attribute,
            lst.accept_above_score,
            *counts.get(lst.id, (0, 0)),
        )
        for lst in feed.lists
    ]


async def rows(
    session: AsyncSession, lst: MappingList, *, unmapped_only: bool = False
) -> list[tuple[str, str | None]]:
    stmt = (
        select(mapping_rows_table.c.source_value, mapping_rows_table.c.replacement)
        .where(mapping_rows_table.c.list_id == lst.id)
        .order_by(mapping_rows_table.c.source_value)
    )
    if unmapped_only:
        stmt = stmt.where(mapping_rows_table.c.replacement.is_(None))
    return [(r[0], r[1]) for r in await session.execute(stmt)]


@dataclass(frozen=True)
class ListRow:
    source_value: str
    replacement: str | None
    products: int  # parents (TikTok products) of the feed whose attribute holds the value


ListSort = Literal["value", "products"]

# One set-based pass: the distinct (value, parent) pairs of the feed's source rows, counted per
# value, joined to the list's rows. Parents, not variant rows: one parent is one TikTok
# product, and a mapping (a category, a brand) applies to the parent; counting rows would
# weigh a value by how many sizes or colours its products come in. A parent whose variants
# hold different values counts under each. The scan reads the source's rows once (its
# primary-key prefix); bench/list_counts_bench.py times it at 100,000 products.
_COUNTED_ROWS = (
    "SELECT r.source_value, r.replacement, coalesce(c.products, 0) AS products"
    " FROM mapping_list_rows r LEFT JOIN ("
    "  SELECT v, count(*) AS products FROM ("
    "   SELECT DISTINCT data->>:attr AS v, parent_id FROM source_products"
    "   WHERE source_id = :source AND coalesce(data->>:attr, '') <> ''"
    "  ) d GROUP BY v"
    " ) c ON c.v = r.source_value"
    " WHERE r.list_id = :list"
    "{unmapped} AND coalesce(c.products, 0) >= :min_products"
    " ORDER BY {order}"
)
_ORDERS: dict[str, str] = {
    "value": "r.source_value",
    "products": "coalesce(c.products, 0) DESC, r.source_value",
}


async def counted_rows(
    session: AsyncSession,
    feed: Feed,
    lst: MappingList,
    *,
    unmapped_only: bool = False,
    min_products: int = 0,
    sort: ListSort = "value",
) -> list[ListRow]:
    """A list's rows with the number of the feed's products holding each value, filtered
    (unmapped only, at least `min_products`) and sorted (by value, or most products first)."""
    sql = _COUNTED_ROWS.format(
        unmapped=" AND r.replacement IS NULL" if unmapped_only else "", order=_ORDERS[sort]
    )
    result = await session.execute(
        text(sql),
        {
            "attr": lst.attribute,
            "source": feed.source_id,
            "list": lst.id,
            "min_products": min_products,
        },
    )
    return [ListRow(r.source_value, r.replacement, int(r.products)) for r in result]


async def lookups(session: AsyncSession, feed: Feed) -> dict[str, dict[str, str]]:
    """list name → {source value → replacement}, mapped rows only (for the dataflow)."""
    out: dict[str, dict[str, str]] = {lst.name: {} for lst in feed.lists}
    names = {lst.id: lst.name for lst in feed.lists}
    if not names:
        return out
    result = await session.execute(
        select(
            mapping_rows_table.c.list_id,
            mapping_rows_table.c.source_value,
            mapping_rows_table.c.replacement,
        ).where(
            mapping_rows_table.c.list_id.in_(list(names)),
            mapping_rows_table.c.replacement.is_not(None),
        )
    )
    for list_id, value, replacement in result:
        out[names[list_id]][value] = replacement
    return out


@dataclass(frozen=True)
class MappingProblem:
    line: int
    source_value: str
    problem: str


async def set_mappings(
    session: AsyncSession, lst: MappingList, mappings: Mapping[str, str | None]
) -> int:
    """Set (or clear, with None/"") replacements; every term is checked first, all or nothing."""
    problems = [
        f"{value!r}: {why}"
        for value, term in mappings.items()
        if term and (why := check_term(lst.taxonomy, term))
    ]
    if problems:
        raise BadRequest(
            f"{len(problems)} replacement(s) refused, nothing changed: " + "; ".join(problems[:20]),
            code="bad_replacement",
        )
    if not mappings:
        return 0
    stmt = pg_insert(mapping_rows_table).values(
        [
            {"list_id": lst.id, "source_value": v, "replacement": t or None}
            for v, t in mappings.items()
        ]
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["list_id", "source_value"],
            set_={
                "replacement": stmt.excluded.replacement,
                "mapped_at": func.now(),
            },
        )
    )
    return len(mappings)


def to_csv(entries: Sequence[tuple[str, str | None]]) -> str:
    """The bulk-mapping download: `source_value,replacement` (empty = unmapped)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["source_value", "replacement"])
    for value, replacement in entries:
        writer.writerow([value, replacement or ""])
    return out.getvalue()


def from_csv(raw: str) -> dict[str, str | None]:
    """Parse a bulk-mapping upload (the download's columns); refuse it whole when malformed."""
    reader = csv.reader(io.StringIO(raw))
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header[:2]] != ["source_value", "replacement"]:
        raise BadRequest(
            "the first line must be the header source_value,replacement", code="bad_mapping_csv"
        )
    out: dict[str, str | None] = {}
    for line, fields in enumerate(reader, start=2):
        if not fields:
            continue
        if len(fields) != 2:
            raise BadRequest(
                f"line {line}: expected 2 fields (source_value,replacement), got {len(fields)}",
                code="bad_mapping_csv",
            )
        out[fields[0]] = fields[1].strip() or None
    return out

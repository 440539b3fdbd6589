"""A feed's view of its source: import rows → data optimization → dataflow → export rows.

The stored rows of the feed's source are streamed from PostgreSQL clustered by the feed's
parent key (`parent_id`, or the column the feed's optimization derives it from) and, within a
parent, in the order they were received (the first row is the main product). Per parent:
the optimization's row filters and group step (`catalog_sync.optimize`), then the compiled
dataflow (`catalog_sync.dataflow`) with the feed's mapping lists as Taxonomy Mapping's
lookup. The result, one `ExportProduct` per TikTok product, feeds the preview, the readiness
analyzer and (part 2) the payload builder.

A feed without export mappings exports its intermediate rows as they are: a source whose
columns already carry export names (a Shopify export, say) needs no dataflow to be checked.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_sync import lists
from catalog_sync.dataflow import AttributeTrace, CompiledDataflow, Dataflow, TraceStep
from catalog_sync.models import Feed
from catalog_sync.naming import PARENT_ID, PRODUCT_ID
from catalog_sync.optimize import Optimization, Optimizer
from catalog_sync.rules import RuleContext

Row = dict[str, str]
STREAM_BATCH = 2000


@dataclass
class ExportProduct:
    """One TikTok product: its export rows (main product first, variants as transformed)."""

    parent_id: str
    rows: list[Row]
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (product_id, reason)
    # The parent's import rows as stored (`source_fingerprint`); "" when not read.
    fingerprint: str = ""


class FeedView:
    """A feed's optimization and dataflow, compiled once for one pass over its products."""

    def __init__(self, feed: Feed, lookups: Mapping[str, Mapping[str, str]]) -> None:
        self.feed = feed
        self.optimization = Optimization.model_validate(feed.optimization or {})
        self.optimizer = Optimizer(self.optimization)
        self.dataflow = Dataflow.model_validate(feed.dataflow or {})
        self.ctx = RuleContext.from_lists(lookups)
        self.ctx_lists = {name: dict(sorted(m.items())) for name, m in sorted(lookups.items())}
        self.compiled: CompiledDataflow = self.dataflow.compile(self.ctx)
        self.passthrough = not self.dataflow.export

    def export_row(self, row: Mapping[str, str]) -> Row:
        if self.passthrough:
            return dict(self.compiled.intermediate(row))
        return self.compiled.transform(row)

    def optimized(
        self, parent_key: str, rows: list[Row]
    ) -> tuple[str, list[Row], list[tuple[str, str]]]:
        """One parent's import rows after the optimization: (parent id, kept rows, dropped)."""
        kept: list[Row] = []
        dropped: list[tuple[str, str]] = []
        for row in rows:
            excluded = self.optimizer.prepare_row(row)
            if excluded is None:
                kept.append(row)
            else:
                dropped.append((row.get(PRODUCT_ID, ""), f"excluded by filter {excluded!r}"))
        if not kept:
            return parent_key, [], dropped
        group = self.optimizer.finish_group(kept[0].get(PARENT_ID) or parent_key, kept)
        dropped += [(r.get(PRODUCT_ID, ""), reason) for r, reason in group.dropped]
        return group.parent_id, group.rows, dropped

    def product(
        self, parent_key: str, rows: list[Row], fingerprint: str = ""
    ) -> ExportProduct | None:
        """Optimize and transform one parent's import rows; None when there were none."""
        if not rows:
            return None
        parent_id, kept, dropped = self.optimized(parent_key, rows)
        return ExportProduct(parent_id, [self.export_row(r) for r in kept], dropped, fingerprint)

    def trace(self, row: Mapping[str, str]) -> list[AttributeTrace]:
        if self.passthrough:
            inter = self.compiled.intermediate(row)
            return [
                (name, [TraceStep("import", row.get(name, ""), None), TraceStep("export", v, None)])
                for name, v in inter.items()
            ]
        return self.compiled.trace(row)


def parent_key_sql(optimization: Optimization) -> tuple[str, dict[str, Any]]:
    """The SQL expression of a row's parent key under `optimization`, and its parameters."""
    source = optimization.parent_id_from
    if source is None:
        return "parent_id", {}
    derived = "nullif(btrim(data->>:parent_column), '')"
    if source.overwrite:
        return f"coalesce({derived}, parent_id)", {"parent_column": source.column}
    # Only rows without their own parent_id take it from the column.
    return (
        f"CASE WHEN coalesce(data->>'parent_id', '') <> '' THEN parent_id"
        f" ELSE coalesce({derived}, product_id) END",
        {"parent_column": source.column},
    )


async def open_view(session: AsyncSession, feed: Feed) -> FeedView:
    return FeedView(feed, await lists.lookups(session, feed))


# A parent's import rows, as stored: the rows' own hashes (intake) in stream order. The same
# value in SQL (`in_sync`) and in Python (`import_groups`).
FINGERPRINT_SQL = "md5(string_agg(encode(hash, 'hex'), ',' ORDER BY seq, product_id))"
# The temporary table of a run's in-sync parents (`in_sync`), one per reading session.
SYNCED_TABLE = "run_in_sync"


def fingerprint(hashes: list[bytes]) -> str:
    return hashlib.md5(",".join(h.hex() for h in hashes).encode()).hexdigest()


def config_fingerprint(view: FeedView, *extra: Any) -> str:
    """Everything besides its import rows that decides a product's payload: the feed's
    optimization, dataflow and mapping lists, and `extra` (market, warehouse, versions)."""
    doc = [view.feed.optimization or {}, view.feed.dataflow or {}, view.ctx_lists, list(extra)]
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]


async def in_sync(session: AsyncSession, view: FeedView, config: str) -> set[str]:
    """Parent keys whose product TikTok has (`live`) as sent from exactly these import rows
    under this configuration (`tiktok_products.source_fingerprint`): nothing to evaluate.

    Kept in a temporary table of `session` too, which `import_groups(skip_in_sync=True)` uses
    to leave their rows out of the stream (call both in one transaction of `session`)."""
    key_sql, params = parent_key_sql(view.optimization)
    await session.execute(text(f"DROP TABLE IF EXISTS {SYNCED_TABLE}"))
    await session.execute(
        text(
            f"CREATE TEMPORARY TABLE {SYNCED_TABLE} ON COMMIT DROP AS"
            f" SELECT g.k FROM (SELECT {key_sql} AS k, {FINGERPRINT_SQL} AS fp"
            "  FROM source_products WHERE source_id = :source GROUP BY 1) g"
            " JOIN tiktok_products t ON t.feed_id = :feed AND t.parent_id = g.k"
            " AND t.status = 'live' AND t.source_fingerprint = :config || ':' || g.fp"
        ),
        {"source": view.feed.source_id, "feed": view.feed.id, "config": config, **params},
    )
    await session.execute(text(f"ANALYZE {SYNCED_TABLE}"))
    result = await session.execute(text(f"SELECT k FROM {SYNCED_TABLE}"))
    return {r.k for r in result}


async def import_groups(
    session: AsyncSession,
    view: FeedView,
    *,
    parent_key: str | None = None,
    skip_in_sync: bool = False,
) -> AsyncIterator[tuple[str, list[Row], str]]:
    """(parent key, import rows, fingerprint) of the feed's source, in parent-key order;
    `skip_in_sync`: without the parents `in_sync` found (its table must exist)."""
    key_sql, params = parent_key_sql(view.optimization)
    where = "source_id = :source"
    if parent_key is not None:
        where += f" AND {key_sql} = :key"
        params = {**params, "key": parent_key}
    if skip_in_sync:
        where += f" AND NOT EXISTS (SELECT 1 FROM {SYNCED_TABLE} y WHERE y.k = {key_sql})"
    stmt = text(
        f"SELECT {key_sql} AS parent_key, data, hash FROM source_products WHERE {where}"
        " ORDER BY parent_key, seq, product_id"
    )
    result = await session.stream(
        stmt.execution_options(yield_per=STREAM_BATCH),
        {"source": view.feed.source_id, **params},
    )
    current = ""
    group: list[Row] = []
    hashes: list[bytes] = []
    async for row in result:
        if group and row.parent_key != current:
            yield current, group, fingerprint(hashes)
            group, hashes = [], []
        current = row.parent_key
        group.append(dict(row.data))
        hashes.append(bytes(row.hash))
    if group:
        yield current, group, fingerprint(hashes)


async def products(
    session: AsyncSession,
    view: FeedView,
    *,
    parent_key: str | None = None,
    skip_in_sync: bool = False,
) -> AsyncIterator[ExportProduct]:
    """Every product of the feed (or of one parent key), in parent-key order."""
    async for key, rows, fp in import_groups(
        session, view, parent_key=parent_key, skip_in_sync=skip_in_sync
    ):
        product = view.product(key, rows, fp)
        if product is not None:
            yield product


async def parent_key_of(session: AsyncSession, view: FeedView, product_id: str) -> str | None:
    key_sql, params = parent_key_sql(view.optimization)
    return await session.scalar(
        text(
            f"SELECT {key_sql} FROM source_products WHERE source_id = :source"
            " AND product_id = :product"
        ),
        {"source": view.feed.source_id, "product": product_id, **params},
    )

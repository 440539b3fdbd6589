"""Export runs: the delta sent to TikTok Shop, one run at a time per feed (docs/feeds.md, "Runs").

A run is a row in `runs`, created by `POST /v1/feeds/{id}/runs`, by the schedule, or by the
event-driven mode for the parents that changed. The executor (a worker of every catalog-sync
process running workers) claims queued runs with `FOR UPDATE SKIP LOCKED`, and also runs whose
heartbeat stopped (a process killed mid-run): a run is resumable because every step is
recorded per product and the delta makes a repeated step a no-op — and a create whose outcome
was not known is reconciled (search by seller SKU) before anything else, so a product is never
listed twice.

Per product: the readiness analyzer (a product failing it is not sent; it gets feedback), the
payload builder, the planner (`catalog_sync.delta`), then the TikTok calls, with at most
`concurrency` products in flight (the client's limiter keeps each shop under its rate limit).
Each product's result is committed in its own transaction (the worker's loop body owns the
commit); TikTok is never called inside a transaction.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tts_common.db import session_scope
from tts_common.errors import Conflict, NotFound

from catalog_sync import feeds, payload, pipeline, state, taxonomy_cache
from catalog_sync.dataflow import group_variants
from catalog_sync.delta import Action, Plan, plan
from catalog_sync.models import Feed
from catalog_sync.readiness import ReadinessAnalyzer

log = logging.getLogger(__name__)

Trigger = Literal["manual", "schedule", "event"]
ACTIVE = ("queued", "running")
BATCH = 50
DELETE_BATCH = 20  # Delete Products 202309 takes at most 20 ids


# --- the run rows -------------------------------------------------------------------------

_START = text(
    "INSERT INTO runs (id, feed_id, trigger, dry_run, only_failed, parents, status)"
    " VALUES (:id, :feed, :trigger, :dry, :only_failed, :parents, 'queued')"
    " ON CONFLICT (feed_id) WHERE status IN ('queued', 'running') DO NOTHING RETURNING id"
).bindparams(bindparam("parents", type_=JSONB))
_ACTIVE = text(
    "SELECT id FROM runs WHERE feed_id = :feed AND status IN ('queued', 'running') LIMIT 1"
)
_GET = text("SELECT * FROM runs WHERE id = :id AND feed_id = :feed")
_LIST = text("SELECT * FROM runs WHERE feed_id = :feed ORDER BY created_at DESC LIMIT :n")
_CANCEL = text(
    "UPDATE runs SET cancel_requested = true WHERE id = :id AND feed_id = :feed"
    " AND status IN ('queued', 'running') RETURNING id"
)
_CLAIM = text(
    "UPDATE runs SET status = 'running', started_at = coalesce(started_at, now()),"
    " heartbeat_at = now() WHERE id = ("
    " SELECT id FROM runs WHERE status = 'queued'"
    "  OR (status = 'running' AND heartbeat_at < now() - make_interval(secs => :stale))"
    " ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING id, feed_id"
)
_PROGRESS = text(
    "UPDATE runs SET done = :done, total = greatest(total, :total), counts = :counts,"
    " heartbeat_at = now() WHERE id = :id RETURNING cancel_requested"
).bindparams(bindparam("counts", type_=JSONB))
_FINISH = text(
    "UPDATE runs SET status = :status, reason = :reason, done = :done, counts = :counts,"
    " finished_at = now(), heartbeat_at = now() WHERE id = :id"
).bindparams(bindparam("counts", type_=JSONB))
_ITEM = text(
    "INSERT INTO run_items (run_id, parent_id, action, outcome, detail)"
    " VALUES (:run, :parent, :action, :outcome, :detail)"
    " ON CONFLICT (run_id, parent_id, action) DO UPDATE SET outcome = EXCLUDED.outcome,"
    " detail = EXCLUDED.detail"
).bindparams(bindparam("detail", type_=JSONB))


def run_out(row: Any) -> dict[str, Any]:
    duration = None
    if row.started_at is not None:
        end = row.finished_at or row.heartbeat_at or row.started_at
        duration = round((end - row.started_at).total_seconds(), 3)
    return {
        "id": str(row.id),
        "feed_id": str(row.feed_id),
        "trigger": row.trigger,
        "dry_run": row.dry_run,
        "only": "failed" if row.only_failed else "all",
        "status": row.status,
        "reason": row.reason,
        "progress": {"done": row.done, "total": row.total},
        "counts": row.counts,
        "cancel_requested": row.cancel_requested,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "duration_s": duration,
    }


async def start(
    session: AsyncSession,
    feed: Feed,
    *,
    dry_run: bool,
    only_failed: bool = False,
    trigger: Trigger = "manual",
    parents: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Queue a run (flush only); 409 while another run of the feed is queued or running."""
    run_id = str(uuid.uuid4())
    created = await session.scalar(
        _START,
        {
            "id": run_id,
            "feed": feed.id,
            "trigger": trigger,
            "dry": dry_run,
            "only_failed": only_failed,
            "parents": list(parents) if parents is not None else None,
        },
    )
    if created is None:
        active = await session.scalar(_ACTIVE, {"feed": feed.id})
        raise Conflict(
            f"feed {feed.name} has a run queued or running ({active}); one run at a time",
            code="run_in_progress",
        )
    return await get(session, feed.id, run_id)


async def get(session: AsyncSession, feed_id: str, run_id: str) -> dict[str, Any]:
    try:
        uuid.UUID(run_id)
    except ValueError:
        raise NotFound(f"run {run_id} does not exist") from None
    row = (await session.execute(_GET, {"id": run_id, "feed": feed_id})).first()
    if row is None:
        raise NotFound(f"run {run_id} of feed {feed_id} does not exist")
    return run_out(row)


async def list_runs(session: AsyncSession, feed_id: str, limit: int = 50) -> list[dict[str, Any]]:
    return [run_out(r) for r in await session.execute(_LIST, {"feed": feed_id, "n": limit})]


async def cancel(session: AsyncSession, feed_id: str, run_id: str) -> dict[str, Any]:
    run = await get(session, feed_id, run_id)
    if await session.scalar(_CANCEL, {"id": run_id, "feed": feed_id}) is None:
        raise Conflict(f"run {run_id} is {run['status']}: nothing to cancel", code="run_finished")
    return await get(session, feed_id, run_id)


async def items(session: AsyncSession, run_id: str) -> list[dict[str, Any]]:
    result = await session.execute(
        text(
            "SELECT parent_id, action, outcome, detail FROM run_items WHERE run_id = :run"
            " ORDER BY parent_id, action"
        ),
        {"run": run_id},
    )
    return [
        {"parent_id": r.parent_id, "action": r.action, "outcome": r.outcome, "detail": r.detail}
        for r in result
    ]


# --- execution ----------------------------------------------------------------------------


class Pause(Exception):
    """The feed cannot go on (its connection expired or was revoked): pause, don't fail each item."""


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    done: int = 0
    total: int = 0

    def add(self, action: str, outcome: str) -> None:
        self.counts[f"{action}:{outcome}"] += 1

    def as_dict(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for key, n in sorted(self.counts.items()):
            action, outcome = key.split(":", 1)
            out.setdefault(action, {})[outcome] = n
        return out


class Performer:
    """Performs plans at TikTok (`catalog_sync.actions`); the run's seam for tests."""

    async def perform(
        self, run: RunState, parent_id: str, built: Any, record: state.Record | None, todo: Plan
    ) -> state.Outcome:
        raise NotImplementedError

    async def delete(self, run: RunState, products: dict[str, str]) -> dict[str, state.Outcome]:
        """Delete up to 20 products (parent id -> TikTok product id) in one call."""
        raise NotImplementedError


@dataclass
class RunState:
    run_id: str
    feed: Feed
    dry_run: bool
    sessions: async_sessionmaker[AsyncSession]
    tally: Tally = field(default_factory=Tally)
    creates_paused: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # per-run caches (image resolver)


async def claim(sessions: async_sessionmaker[AsyncSession], stale_seconds: float) -> str | None:
    async with session_scope(sessions) as session:
        row = (await session.execute(_CLAIM, {"stale": stale_seconds})).first()
    return str(row.id) if row is not None else None


async def _total(session: AsyncSession, source_id: str) -> int:
    return int(
        await session.scalar(
            text("SELECT count(DISTINCT parent_id) FROM source_products WHERE source_id = :s"),
            {"s": source_id},
        )
        or 0
    )


async def execute(
    sessions: async_sessionmaker[AsyncSession],
    run_id: str,
    performer: Performer,
    *,
    concurrency: int = 8,
    build: Any = None,
) -> str:
    """Run `run_id` to its end; returns the final status."""
    async with session_scope(sessions) as session:
        row = (
            await session.execute(text("SELECT * FROM runs WHERE id = :id"), {"id": run_id})
        ).one()
        feed = await feeds.get_feed(session, str(row.feed_id))
        parents_filter = set(row.parents) if row.parents is not None else None
        only_failed = row.only_failed
        run = RunState(run_id, feed, row.dry_run, sessions)
        if not run.dry_run and not feed.active:
            return await _finish(run, "succeeded", "the feed is inactive: no TikTok calls")
        if not run.dry_run and feed.paused_reason:
            return await _finish(run, "paused", feed.paused_reason)
        if only_failed:
            failed = await session.execute(
                text(
                    "SELECT parent_id FROM feedback WHERE feed_id = :f"
                    " AND outcome IN ('failed', 'not_ready')"
                ),
                {"f": feed.id},
            )
            parents_filter = {r.parent_id for r in failed}
        run.tally.total = (
            len(parents_filter)
            if parents_filter is not None
            else await _total(session, feed.source_id)
        )
        analyzer = await taxonomy_cache.readiness_analyzer(session, feed)
    seen: set[str] = set()
    slots = asyncio.Semaphore(max(1, concurrency))
    try:
        async with sessions() as reader:
            view = await pipeline.open_view(reader, feed)
            batch: list[pipeline.ExportProduct] = []
            async for product in pipeline.products(reader, view):
                if parents_filter is not None and product.parent_id not in parents_filter:
                    seen.add(product.parent_id)
                    continue
                batch.append(product)
                if len(batch) >= BATCH:
                    if await _batch(run, batch, analyzer, performer, slots, build, seen):
                        return await _finish(run, "cancelled", "cancelled on request")
                    batch = []
            if batch and await _batch(run, batch, analyzer, performer, slots, build, seen):
                return await _finish(run, "cancelled", "cancelled on request")
        # Gone from the source but at TikTok: deleted (a filtered run only looks at its own).
        await _deletions(run, seen, performer, parents_filter)
    except Pause as exc:
        await _pause_feed(run, str(exc))
        return await _finish(run, "paused", str(exc))
    return await _finish(run, "succeeded", None)


async def _live(run: RunState) -> dict[str, str]:
    async with session_scope(run.sessions) as session:
        return await state.live_parents(session, run.feed.id)


async def _batch(
    run: RunState,
    batch: list[pipeline.ExportProduct],
    analyzer: ReadinessAnalyzer,
    performer: Performer,
    slots: asyncio.Semaphore,
    build: Any,
    seen: set[str],
) -> bool:
    """Plan and perform a batch of products; True when the run was asked to stop."""
    async with session_scope(run.sessions) as session:
        records = await state.load(session, run.feed.id, [p.parent_id for p in batch])
    tasks = []
    for product in batch:
        seen.add(product.parent_id)
        tasks.append(
            asyncio.ensure_future(
                _one(
                    run, product, records.get(product.parent_id), analyzer, performer, slots, build
                )
            )
        )
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, Pause):
            raise result
        if isinstance(result, BaseException):
            raise result
    run.tally.done += len(batch)
    async with session_scope(run.sessions) as session:
        cancel = await session.scalar(
            _PROGRESS,
            {
                "id": run.run_id,
                "done": run.tally.done,
                "total": run.tally.total,
                "counts": run.tally.as_dict(),
            },
        )
    return bool(cancel)


async def _one(
    run: RunState,
    product: pipeline.ExportProduct,
    record: state.Record | None,
    analyzer: ReadinessAnalyzer,
    performer: Performer,
    slots: asyncio.Semaphore,
    build: Any,
) -> None:
    parent_id = product.parent_id
    if not product.rows:  # every row was dropped by the optimization: nothing to sell
        todo = plan(None, record.stored if record else None)
        if todo.actions == (Action.SKIP,):
            run.tally.add("skip", "ok")
            return
    result = analyzer.add(product.rows) if product.rows else None
    if result is not None and result.issues:
        outcome = state.Outcome(
            "not_ready",
            "not_ready",
            errors=tuple(
                {"attribute": i.attribute, "test": str(i.test), "message": i.message}
                for i in result.issues
            ),
        )
        run.tally.add("not_ready", "not_ready")
        await _record(run, parent_id, outcome)
        return
    built = None
    if product.rows:
        merged = [row for _, rows in group_variants(product.rows) for row in rows]
        built = await build(merged, run) if build is not None else None
        errors = getattr(built, "errors", ())
        if errors:
            outcome = state.Outcome(
                "not_ready",
                "not_ready",
                errors=tuple({"attribute": e.attribute, "message": e.message} for e in errors),
            )
            run.tally.add("not_ready", "not_ready")
            await _record(run, parent_id, outcome)
            return
    todo = plan(built, record.stored if record else None, adopt_existing=run.feed.adopt_existing)
    if run.dry_run:
        for action in todo.actions:
            run.tally.add(action, "planned")
        await _plan_item(run, parent_id, todo, built, record)
        return
    if not todo.writes:
        run.tally.add(todo.actions[0], "ok")
        return
    async with slots:
        outcome = await performer.perform(run, parent_id, built, record, todo)
    run.tally.add(outcome.action, outcome.outcome)
    await _record(run, parent_id, outcome)


async def _record(run: RunState, parent_id: str, outcome: state.Outcome) -> None:
    async with session_scope(run.sessions) as session:
        await state.record(
            session,
            run.feed.id,
            parent_id,
            run.run_id,
            outcome,
            feedback_enabled=run.feed.feedback_enabled,
        )
        await session.execute(
            _ITEM,
            {
                "run": run.run_id,
                "parent": parent_id,
                "action": outcome.action,
                "outcome": outcome.outcome,
                "detail": {"code": outcome.code, "message": outcome.message}
                if outcome.code or outcome.message
                else None,
            },
        )


async def _plan_item(
    run: RunState, parent_id: str, todo: Plan, built: Any, record: state.Record | None
) -> None:
    changes = (
        [
            {"path": c.path, "old": c.old, "new": c.new}
            for c in payload.diff((record.payload if record else None) or {}, built.document)
        ]
        if built is not None
        else []
    )
    async with session_scope(run.sessions) as session:
        for action in todo.actions:
            await session.execute(
                _ITEM,
                {
                    "run": run.run_id,
                    "parent": parent_id,
                    "action": str(action),
                    "outcome": "planned",
                    "detail": {
                        "why": todo.why,
                        "price_skus": list(todo.price_skus),
                        "inventory_skus": list(todo.inventory_skus),
                        "changes": changes,
                    },
                },
            )


async def _deletions(
    run: RunState, seen: set[str], performer: Performer, only: set[str] | None
) -> None:
    """Products TikTok has that the source no longer does: deleted, under the guard."""
    live = await _live(run)
    gone = sorted((set(live) - seen) & only if only is not None else set(live) - seen)
    if not gone:
        return
    share = len(gone) / len(live)
    if only is None and share > run.feed.max_delete_share:
        run.tally.add("delete", "refused")
        log.warning(
            "deletions refused by the mass-deletion guard",
            extra={"feed_id": run.feed.id, "would_delete": len(gone), "of": len(live)},
        )
        return
    if run.dry_run:
        for parent_id in gone:
            run.tally.add("delete", "planned")
            await _plan_item(
                run, parent_id, Plan((Action.DELETE,), why="gone from the source"), None, None
            )
        return
    for start in range(0, len(gone), DELETE_BATCH):
        chunk = {p: live[p] for p in gone[start : start + DELETE_BATCH]}
        outcomes = await performer.delete(run, chunk)
        for parent_id, outcome in outcomes.items():
            run.tally.add(outcome.action, outcome.outcome)
            await _record(run, parent_id, outcome)


async def _pause_feed(run: RunState, reason: str) -> None:
    async with session_scope(run.sessions) as session:
        await session.execute(
            text("UPDATE feeds SET paused_reason = :r WHERE id = :f"),
            {"r": reason, "f": run.feed.id},
        )


async def _finish(run: RunState, status: str, reason: str | None) -> str:
    async with session_scope(run.sessions) as session:
        await session.execute(
            _FINISH,
            {
                "id": run.run_id,
                "status": status,
                "reason": reason,
                "done": run.tally.done,
                "counts": run.tally.as_dict(),
            },
        )
    log.info(
        "run finished",
        extra={
            "run_id": run.run_id,
            "feed_id": run.feed.id,
            "status": status,
            "reason": reason,
            "counts": run.tally.as_dict(),
        },
    )
    return status

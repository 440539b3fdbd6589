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
The products in flight write their steps through the run's group commit
(`catalog_sync.batching`): what they submit while a batch is being written becomes the next
batch, one transaction of set-based statements, and each product goes on when its own step
is committed. A product's state before a create is committed before TikTok is called; its
state after a call is written with its result (`RunState.defer`), since a product whose
result is lost in a crash is reconciled like one whose answer was (docs/feeds.md,
"Throughput"). TikTok is never called inside a transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
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

from catalog_sync import calllog, feeds, payload, pipeline, state, sync_events, taxonomy_cache
from catalog_sync.batching import Batcher
from catalog_sync.dataflow import group_variants
from catalog_sync.delta import Action, Plan, plan
from catalog_sync.models import Feed
from catalog_sync.readiness import ReadinessAnalyzer

log = logging.getLogger(__name__)

# manual: POST …/runs; schedule: the feed's cron; event: the event-driven mode (the parents that
# changed); resume: the connection was authorized again after a pause.
Trigger = Literal["manual", "schedule", "event", "resume"]
ACTIVE = ("queued", "running")
BATCH = 50
NO_CONNECTION = "the feed has no connection: connect it to an auth-broker connection first"
DELETE_BATCH = 20  # Delete Products 202309 takes at most 20 ids
# Products in sync are skipped unread; at least this often every product is evaluated again
# (part of the configuration fingerprint): a picture changed behind the same URL, a changed
# default warehouse or taxonomy is then seen (docs/feeds.md, "Runs and the delta").
FULL_EVALUATION_SECONDS = 7 * 86400


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
    " heartbeat_at = now() WHERE id = :id RETURNING cancel_requested,"
    " (SELECT paused_reason FROM feeds WHERE feeds.id = runs.feed_id) AS paused_reason"
).bindparams(bindparam("counts", type_=JSONB))
_FINISH = text(
    "UPDATE runs SET status = :status, reason = :reason, done = :done,"
    " total = greatest(total, :total), counts = :counts, finished_at = now(),"
    " heartbeat_at = now() WHERE id = :id"
).bindparams(bindparam("counts", type_=JSONB))
_SYNCED = text(
    "UPDATE tiktok_products SET source_fingerprint = :fp"
    " WHERE feed_id = :feed AND parent_id = :parent AND status = 'live'"
)
_CALLS = text("INSERT INTO api_calls (run_id, entry) VALUES (:run, :entry)").bindparams(
    bindparam("entry", type_=JSONB)
)
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
    """Queue a run (flush only); 409 while another run of the feed is queued or running, or
    when a real run's feed has no connection (an active one would call TikTok)."""
    if not dry_run and feed.active and feed.connection_id is None:
        raise Conflict(NO_CONNECTION, code="no_connection")
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
    ) -> list[state.Outcome]:
        """The plan's calls, one outcome per action performed (the last one is the feedback;
        a failed one ends the list)."""
        raise NotImplementedError

    async def delete(self, run: RunState, products: dict[str, str]) -> dict[str, state.Outcome]:
        """Delete up to 20 products (parent id -> TikTok product id) in one call."""
        raise NotImplementedError

    async def begin(self, run: RunState) -> None:
        """Called before a real run's first product."""

    def pause_reason(self, run: RunState, exc: BaseException) -> str | None:
        """Why `exc` (raised while a product was prepared) means the feed must pause, if it
        does; None: it is about that product only."""
        return None


@dataclass
class Result:
    """One product's step for the run's group commit: its state changes (in order), then its
    outcomes (feedback, history, event) and run items."""

    parent_id: str
    ops: list[state.Op]
    outcomes: Sequence[state.Outcome] = ()
    product_ids: Sequence[str] = ()
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunState:
    run_id: str
    feed: Feed
    dry_run: bool
    sessions: async_sessionmaker[AsyncSession]
    tally: Tally = field(default_factory=Tally)
    creates_paused: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # per-run caches (image resolver)
    # Set when the run must stop early: (final status, reason). Products not started yet are
    # left alone; the ones in flight finish.
    stop: tuple[str, str] | None = None
    paused_here: bool = False  # this run found the connection unusable (else: told so)
    calls: calllog.RunLog | None = None
    # The feed's configuration fingerprint (`pipeline.config_fingerprint`) and the in-sync
    # products' fingerprints to store ((parent id, fingerprint), written with the progress).
    config: str = ""
    synced: list[tuple[str, str]] = field(default_factory=list)
    # State changes written with the product's next step (`defer`), and the group commit.
    deferred: dict[str, list[state.Op]] = field(default_factory=dict)
    writer: Batcher[Result, None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.writer = Batcher(self._flush)

    def defer(self, parent_id: str, op: state.Op) -> None:
        """A state change after a TikTok call: committed with the product's next write (its
        next state or its result), not on its own."""
        self.deferred.setdefault(parent_id, []).append(op)

    async def write(
        self,
        parent_id: str,
        ops: Sequence[state.Op] = (),
        *,
        outcomes: Sequence[state.Outcome] = (),
        product_ids: Sequence[str] = (),
        items: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Commit the product's deferred changes, `ops`, and its outcomes and run items, with
        the other products' steps of the moment (returns once committed)."""
        pending = [*self.deferred.pop(parent_id, ()), *ops]
        if not pending and not outcomes and not items:
            return
        await self.writer.submit(Result(parent_id, pending, outcomes, product_ids, list(items)))

    async def _flush(self, results: list[Result]) -> list[None]:
        async with session_scope(self.sessions) as session:
            await state.apply(session, [r.ops for r in results])
            recorded = [r for r in results if r.outcomes]
            if recorded and not self.dry_run:
                await sync_events.queue_many(
                    session,
                    self.feed.id,
                    self.run_id,
                    [(r.parent_id, r.outcomes, r.product_ids) for r in recorded],
                )
                await state.record_many(
                    session,
                    self.feed.id,
                    self.run_id,
                    [(r.parent_id, r.outcomes) for r in recorded],
                    feedback_enabled=self.feed.feedback_enabled,
                )
            items = [item for r in results for item in r.items]
            if items:
                await session.execute(_ITEM, items)
        return [None] * len(results)

    def halt(self, status: str, reason: str) -> None:
        if self.stop is None:
            self.stop = (status, reason)

    def pause(self, reason: str) -> None:
        self.paused_here = self.paused_here or self.stop is None
        self.halt("paused", reason)


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


Item = tuple[pipeline.ExportProduct, state.Record | None]


async def execute(
    sessions: async_sessionmaker[AsyncSession],
    run_id: str,
    performer: Performer,
    *,
    concurrency: int = 8,
    build: Any = None,
    progress_seconds: float = 0.5,
) -> str:
    """Run `run_id` to its end; returns the final status.

    One reader streams the feed's products; `concurrency` workers take them one at a time
    through readiness, the payload (its images resolved) and the plan's TikTok calls, so at
    most `concurrency` products are in flight whatever their speed. Progress, a cancel and a
    pause of the feed (its connection lost) are seen within `progress_seconds`.
    """
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
        if not run.dry_run and feed.connection_id is None:
            return await _finish(run, "failed", NO_CONNECTION)
        if only_failed:
            failed = await session.execute(
                text(
                    "SELECT parent_id FROM feedback WHERE feed_id = :f"
                    " AND outcome IN ('failed', 'not_ready', 'deferred')"
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
    if feed.log_api_calls:
        run.calls = calllog.RunLog(run_id, headers=feed.log_api_headers)
    # Every task started below inherits the run's call log (a context variable).
    token = calllog.CURRENT.set(run.calls)
    try:
        return await _execute(run, performer, analyzer, build, parents_filter, concurrency,
                              progress_seconds)  # fmt: skip
    finally:
        calllog.CURRENT.reset(token)


async def _execute(
    run: RunState,
    performer: Performer,
    analyzer: ReadinessAnalyzer,
    build: Any,
    parents_filter: set[str] | None,
    concurrency: int,
    progress_seconds: float,
) -> str:
    seen: set[str] = set()
    queue: asyncio.Queue[Item | None] = asyncio.Queue(maxsize=2 * max(1, concurrency))
    workers = [
        asyncio.ensure_future(_worker(run, queue, analyzer, performer, build))
        for _ in range(max(1, concurrency))
    ]
    if not run.dry_run:
        await performer.begin(run)
    progress = asyncio.ensure_future(_progress_loop(run, progress_seconds))
    try:
        await _read(run, queue, parents_filter, seen)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
        if run.stop is None:
            # Gone from the source but at TikTok: deleted (a filtered run only looks at its own).
            try:
                await _deletions(run, seen, performer, parents_filter)
            except Pause as exc:
                run.pause(str(exc))
    finally:
        for task in (*workers, progress):
            task.cancel()
        await asyncio.gather(*workers, progress, return_exceptions=True)
    if run.stop is not None:
        status, reason = run.stop
        if status == "paused" and run.paused_here:
            await _pause_feed(run, reason)
        return await _finish(run, status, reason)
    return await _finish(run, "succeeded", None)


async def _read(
    run: RunState, queue: asyncio.Queue[Item | None], only: set[str] | None, seen: set[str]
) -> None:
    """Stream the feed's products to the workers, with their stored state (loaded per batch)."""
    async with run.sessions() as reader:
        view = await pipeline.open_view(reader, run.feed)
        run.config = pipeline.config_fingerprint(
            view,
            run.feed.market,
            run.feed.warehouse_id or "",
            payload.PAYLOAD_VERSION,
            int(time.time() // FULL_EVALUATION_SECONDS),
        )
        # Products TikTok has exactly as these import rows and this configuration made them:
        # skipped without reading them (counted `skip: ok`, kept from the deletions).
        for parent_id in await pipeline.in_sync(reader, view, run.config):
            seen.add(parent_id)
            if only is None or parent_id in only:
                run.tally.add(str(Action.SKIP), "ok")
                run.tally.done += 1
        batch: list[pipeline.ExportProduct] = []
        async for product in pipeline.products(reader, view, skip_in_sync=True):
            if run.stop is not None:
                return
            if not product.rows:
                continue  # every row dropped by the optimization: gone, as for the deletions
            seen.add(product.parent_id)
            if only is not None and product.parent_id not in only:
                continue
            batch.append(product)
            if len(batch) >= BATCH:
                await _hand_over(run, queue, batch)
                batch = []
        if batch:
            await _hand_over(run, queue, batch)


async def _hand_over(
    run: RunState, queue: asyncio.Queue[Item | None], batch: list[pipeline.ExportProduct]
) -> None:
    async with session_scope(run.sessions) as session:
        records = await state.load(session, run.feed.id, [p.parent_id for p in batch])
    for product in batch:
        if run.stop is not None:
            return
        await queue.put((product, records.get(product.parent_id)))


async def _worker(
    run: RunState,
    queue: asyncio.Queue[Item | None],
    analyzer: ReadinessAnalyzer,
    performer: Performer,
    build: Any,
) -> None:
    while True:
        item = await queue.get()
        if item is None:
            return
        if run.stop is not None:
            continue  # drain: the reader is stopping too
        product, record = item
        try:
            await _one(run, product, record, analyzer, performer, build)
        except Pause as exc:
            run.pause(str(exc))
            try:
                await run.write(product.parent_id)  # what it changed before the pause
            except Exception:  # its state stays as before the call: the next run reconciles
                log.exception("recording a paused product failed", extra={"run_id": run.run_id})
            continue
        except Exception as exc:  # a bug or the database: this product only, the run goes on
            log.exception(
                "a product failed unexpectedly",
                extra={"run_id": run.run_id, "parent_id": product.parent_id},
            )
            outcome = state.Outcome("error", "failed", message=f"{type(exc).__name__}: {exc}"[:500])
            run.tally.add(outcome.action, outcome.outcome)
            try:
                await _record(run, product.parent_id, [outcome])
            except Exception:
                log.exception("recording a failed product failed", extra={"run_id": run.run_id})
        run.tally.done += 1


async def _one(
    run: RunState,
    product: pipeline.ExportProduct,
    record: state.Record | None,
    analyzer: ReadinessAnalyzer,
    performer: Performer,
    build: Any,
) -> None:
    parent_id = product.parent_id
    ids = [row.get("product_id", "") for row in product.rows]
    result = analyzer.add(product.rows)
    if result.issues:
        outcome = state.Outcome(
            "not_ready",
            "not_ready",
            errors=tuple(
                {"attribute": i.attribute, "test": str(i.test), "message": i.message}
                for i in result.issues
            ),
        )
        run.tally.add("not_ready", "not_ready")
        await _record(run, parent_id, [outcome], ids)
        return
    merged = [row for _, rows in group_variants(product.rows) for row in rows]
    built = None
    if build is not None:
        try:
            built = await build(merged, run)
        except Exception as exc:
            reason = performer.pause_reason(run, exc)
            if reason is not None:
                raise Pause(reason) from None
            # TikTok failing while the product was prepared (its images uploaded, the default
            # warehouse asked): this product, this run.
            outcome = state.Outcome(
                "prepare", "failed", code=getattr(exc, "code", None), message=str(exc)[:1000]
            )
            run.tally.add(outcome.action, outcome.outcome)
            await _record(run, parent_id, [outcome], ids)
            return
    errors = getattr(built, "errors", ())
    if errors:
        # An image that could not be resolved: the resolver knows why (docs/feeds.md, "Images").
        problems: dict[str, str] = getattr(run.extras.get("images"), "problems", {})
        outcome = state.Outcome(
            "not_ready",
            "not_ready",
            errors=tuple(_payload_error(e, problems) for e in errors),
        )
        run.tally.add("not_ready", "not_ready")
        await _record(run, parent_id, [outcome], ids)
        return
    todo = plan(built, record.stored if record else None, adopt_existing=run.feed.adopt_existing)
    if run.dry_run:
        for action in todo.actions:
            run.tally.add(action, "planned")
        if todo.writes:
            await _plan_item(run, parent_id, todo, built, record)
        return
    if not todo.writes:
        run.tally.add(todo.actions[0], "ok")
        _in_sync(run, product)
        return
    if run.stop is not None:  # paused or cancelled while this product was prepared
        return
    outcomes = await performer.perform(run, parent_id, built, record, todo)
    for outcome in outcomes:
        run.tally.add(outcome.action, outcome.outcome)
    await _record(run, parent_id, outcomes, ids)
    if outcomes and all(o.outcome == "ok" for o in outcomes):
        _in_sync(run, product)


def _in_sync(run: RunState, product: pipeline.ExportProduct) -> None:
    """TikTok has this product as its import rows make it: the next run may skip it unread
    while neither they nor the feed's configuration change (`pipeline.in_sync`)."""
    if product.fingerprint and run.config:
        run.synced.append((product.parent_id, f"{run.config}:{product.fingerprint}"))


def _payload_error(error: Any, problems: dict[str, str]) -> dict[str, str]:
    out = {"attribute": error.attribute, "message": error.message}
    if error.product_id:
        out["product_id"] = error.product_id
    # "no uploaded TikTok image for <url>": the URL is the message's last word.
    why = problems.get(error.message.rsplit(" ", 1)[-1]) if problems else None
    if why is not None:
        out["why"] = why
    return out


async def _record(
    run: RunState,
    parent_id: str,
    outcomes: Sequence[state.Outcome],
    product_ids: Sequence[str] = (),
) -> None:
    """One product's outcomes: its run items, its history, the feedback (the last outcome)
    and its `product.*` event (`catalog_sync.sync_events`), all in one transaction with its
    deferred state — unless this is a dry run, which changes nothing but its own report."""
    items = [
        {
            "run": run.run_id,
            "parent": parent_id,
            "action": outcome.action,
            "outcome": outcome.outcome,
            "detail": _detail(outcome),
        }
        for outcome in outcomes
    ]
    await run.write(parent_id, outcomes=outcomes, product_ids=product_ids, items=items)


def _detail(outcome: state.Outcome) -> dict[str, Any] | None:
    detail: dict[str, Any] = {}
    if outcome.code is not None:
        detail["code"] = outcome.code
    if outcome.message:
        detail["message"] = outcome.message
    if outcome.request_id:
        detail["request_id"] = outcome.request_id
    if outcome.errors:
        detail["errors"] = list(outcome.errors)
    return detail or None


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
    items = [
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
        }
        for action in todo.actions
    ]
    await run.write(parent_id, items=items)


async def _live(run: RunState) -> dict[str, str]:
    async with session_scope(run.sessions) as session:
        return await state.live_parents(session, run.feed.id)


async def _deletions(
    run: RunState, seen: set[str], performer: Performer, only: set[str] | None
) -> None:
    """Products TikTok has that the source no longer does: deleted, under the guard.

    A product gone whose last create had no known outcome is reconciled first (a listing
    that create made is found by seller SKU, then deleted like the others)."""
    if not run.dry_run:
        async with session_scope(run.sessions) as session:
            uncertain = await state.uncertain_parents(session, run.feed.id)
        for parent_id in sorted(set(uncertain) - seen):
            if run.stop is not None or (only is not None and parent_id not in only):
                continue
            todo = Plan((Action.RECONCILE,), why="gone from the source; outcome unknown")
            outcomes = await performer.perform(run, parent_id, None, uncertain[parent_id], todo)
            for outcome in outcomes:
                run.tally.add(outcome.action, outcome.outcome)
            await _record(run, parent_id, outcomes)
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
        for _ in gone:
            run.tally.add("delete", "planned")
        await asyncio.gather(*(
            _plan_item(run, p, Plan((Action.DELETE,), why="gone from the source"), None, None)
            for p in gone
        ))  # fmt: skip
        return
    for start in range(0, len(gone), DELETE_BATCH):
        if run.stop is not None:
            return
        chunk = {p: live[p] for p in gone[start : start + DELETE_BATCH]}
        deleted = await performer.delete(run, chunk)
        for outcome in deleted.values():
            run.tally.add(outcome.action, outcome.outcome)
        await asyncio.gather(*(_record(run, p, [o]) for p, o in deleted.items()))


async def _progress_loop(run: RunState, every: float) -> None:
    """Write progress (and the call log) while the run goes; see a cancel or a pause."""
    while True:
        await asyncio.sleep(every)
        try:
            await _progress(run)
        except Exception:
            log.warning("run progress could not be written", extra={"run_id": run.run_id})


async def _progress(run: RunState) -> None:
    async with session_scope(run.sessions) as session:
        row = (
            await session.execute(
                _PROGRESS,
                {
                    "id": run.run_id,
                    "done": run.tally.done,
                    "total": run.tally.total,
                    "counts": run.tally.as_dict(),
                },
            )
        ).first()
        await _write_calls(session, run)
    if row is None:
        return
    if row.cancel_requested:
        run.halt("cancelled", "cancelled on request")
    elif row.paused_reason and not run.dry_run:  # the connection was lost meanwhile
        run.halt("paused", row.paused_reason)


async def _write_calls(session: AsyncSession, run: RunState) -> None:
    if run.synced and not run.dry_run:
        synced, run.synced = run.synced, []
        await session.execute(
            _SYNCED, [{"feed": run.feed.id, "parent": p, "fp": fp} for p, fp in synced]
        )
    if run.calls is None:
        return
    entries = run.calls.drain()
    if entries:
        await session.execute(_CALLS, [{"run": run.run_id, "entry": e} for e in entries])


async def _pause_feed(run: RunState, reason: str) -> None:
    async with session_scope(run.sessions) as session:
        await session.execute(
            text("UPDATE feeds SET paused_reason = :r WHERE id = :f"),
            {"r": reason, "f": run.feed.id},
        )


async def _finish(run: RunState, status: str, reason: str | None) -> str:
    counts = run.tally.as_dict()
    async with session_scope(run.sessions) as session:
        await session.execute(
            _FINISH,
            {
                "id": run.run_id,
                "status": status,
                "reason": reason,
                "done": run.tally.done,
                "total": run.tally.total,
                "counts": counts,
            },
        )
        await _write_calls(session, run)
    log.info(
        "run finished",
        extra={
            "run_id": run.run_id,
            "feed_id": run.feed.id,
            "status": status,
            "reason": reason,
            "counts": counts,
            # The group commit: products' steps written, in how many transactions.
            "steps_written": run.writer.items,
            "write_batches": run.writer.batches,
        },
    )
    return status

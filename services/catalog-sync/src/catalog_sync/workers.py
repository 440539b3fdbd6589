"""catalog-sync's background work: the run executor, the event-driven mode, the schedule.

Each loop body owns its transactions (docs/architecture.md, "The transaction rule"). Several
processes may run these workers: runs are claimed with `FOR UPDATE SKIP LOCKED`, the event
and schedule passes create runs through the one-active-run-per-feed index, so two processes
never start the same run twice.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tiktok_shop.errors import TikTokError
from tts_common.app import Runtime
from tts_common.db import session_scope
from tts_common.errors import Conflict
from tts_common.events import ConnectionAuthorized, ConnectionExpired, ConnectionRevoked

from catalog_sync import audit, feeds, runs
from catalog_sync import metrics as catalog_metrics
from catalog_sync.cron import matches
from catalog_sync.payload import BuiltProduct, build_product
from catalog_sync.payload_images import image_requests

log = logging.getLogger(__name__)

EVENT_BATCH = 1000  # parents per event-driven run


def builder(images_for: Any, warehouse_for: Any = None) -> Any:
    """The run's `build(rows, run)`: resolve the product's images, then build its payload.

    `images_for(run)` makes the run's image resolver (one per run, so images are resolved
    once per run however many products share them). `await warehouse_for(run)` names the
    warehouse `sku.quantity` goes to when the feed sets none (the shop's default one, asked
    once per run).
    """

    async def build(rows: list[dict[str, str]], run: runs.RunState) -> BuiltProduct:
        resolver = run.extras.get("images")
        if resolver is None:
            resolver = run.extras["images"] = images_for(run)
        feed = run.feed
        warehouse = feed.warehouse_id or ""
        if not warehouse and warehouse_for is not None:
            if "warehouse" not in run.extras:
                async with run.extras.setdefault("warehouse_lock", asyncio.Lock()):
                    if "warehouse" not in run.extras:
                        run.extras["warehouse"] = await warehouse_for(run)
            warehouse = run.extras["warehouse"]
        await resolver.prepare(image_requests(rows))
        return build_product(rows, market=feed.market, warehouse_id=warehouse, images=resolver)

    return build


async def run_executor(rt: Runtime, performer: runs.Performer, build: Any) -> None:
    """Claim queued (or abandoned) runs and perform them, one at a time per process."""
    settings: Any = rt.settings
    while True:
        try:
            run_id = await runs.claim(rt.sessions, settings.run_stale_seconds)
        except Exception:
            log.exception("claiming a run failed")
            await asyncio.sleep(settings.run_poll_seconds * 10)
            continue
        if run_id is None:
            await asyncio.sleep(settings.run_poll_seconds)
            continue
        beat = asyncio.ensure_future(_heartbeat(rt, run_id))
        try:
            await runs.execute(
                rt.sessions, run_id, performer, concurrency=settings.run_concurrency, build=build
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("run failed", extra={"run_id": run_id})
            try:
                async with session_scope(rt.sessions) as session:
                    await session.execute(
                        text(
                            "UPDATE runs SET status = 'failed', reason = :r, finished_at = now()"
                            " WHERE id = :id"
                        ),
                        {"id": run_id, "r": f"{type(exc).__name__}: {exc}"[:500]},
                    )
            except Exception:
                # The database is what failed (an outage): the run stays `running` without a
                # heartbeat and is taken over after run_stale_seconds; this loop must live on,
                # or the process never claims a run again (docs/reliability.md).
                log.warning("a failed run could not be marked failed", extra={"run_id": run_id})
        finally:
            beat.cancel()
        metrics = rt.extras.get(catalog_metrics.EXTRA)
        if metrics is not None:
            try:
                await metrics.run_ended(rt.sessions, run_id)
            except Exception:
                log.warning("run metrics not recorded", extra={"run_id": run_id})


async def _heartbeat(rt: Runtime, run_id: str) -> None:
    """Keep the run's heartbeat fresh while it runs (a silent heartbeat means: resume it)."""
    settings: Any = rt.settings
    while True:
        await asyncio.sleep(max(1.0, settings.run_stale_seconds / 4))
        try:
            async with session_scope(rt.sessions) as session:
                await session.execute(
                    text(
                        "UPDATE runs SET heartbeat_at = now() WHERE id = :id AND status = 'running'"
                    ),
                    {"id": run_id},
                )
        except Exception:
            log.warning("run heartbeat failed", extra={"run_id": run_id})


_DIRTY = text(
    "SELECT d.parent_id, d.marked_at FROM dirty_parents d"
    " WHERE d.source_id = :source AND d.marked_at > :since AND d.marked_at < :before"
    " ORDER BY d.marked_at LIMIT :n"
)
_LAST_SETTLED = text(
    "SELECT max(marked_at) FROM dirty_parents WHERE source_id = :source"
    " AND marked_at > :since AND marked_at < :before"
)
# `dirty_parents.marked_at` is the moment of the marking write (`clock_timestamp()`), and a
# transaction commits later: a row can appear with a marked_at older than rows already seen.
# Only rows older than the start of every transaction that has written to this database and
# is still open are taken (a transaction that has not written yet will mark later than now);
# the others wait for the next pass, so the watermark (`feeds.events_synced_at`) never passes
# a change that is not visible yet. The 10 ms cover the clock's resolution.
_SETTLED = text(
    "SELECT least(now() - interval '10 milliseconds', (SELECT min(xact_start) FROM pg_stat_activity"
    " WHERE datname = current_database() AND backend_xid IS NOT NULL"
    " AND pid <> pg_backend_pid()))"
)


# What decides a product's readiness and payload besides its own rows: the feed's settings,
# dataflow and lists (`feeds.version`), its lists' mappings, its market's taxonomy cache (the
# category schemas readiness checks against, the brands). Sums of the write times rather than
# their maximum: a write that commits late with an older time still changes the stamp.
_CONFIG_STAMP = text(
    "SELECT md5(concat_ws('|', f.version,"
    " (SELECT count(r.mapped_at) || ':' || coalesce(sum(extract(epoch FROM r.mapped_at)), 0)"
    "  FROM mapping_lists l JOIN mapping_list_rows r ON r.list_id = l.id"
    "  WHERE l.feed_id = f.id),"
    " (SELECT count(*) || ':' || coalesce(sum(extract(epoch FROM t.fetched_at)), 0)"
    "  FROM taxonomy_cache t WHERE t.market = f.market)))"
    " FROM feeds f WHERE f.id = :feed"
)
CONFIG_CHECK_SECONDS = 2.0  # how often the event pass compares the configuration stamps


async def config_stamp(session: AsyncSession, feed_id: str) -> str:
    """The feed's configuration stamp now (`_CONFIG_STAMP`)."""
    return str(await session.scalar(_CONFIG_STAMP, {"feed": feed_id}))


async def queue_event_runs(session: AsyncSession, *, check_config: bool = True) -> int:
    """One pass of the event-driven mode: a run for each feed whose parents changed, or a
    full run for one whose configuration changed since its last full evaluation (a mapping, a
    rule, a category's attributes cached: products that were not ready may be now, and live
    ones may need an edit). `check_config` False skips the comparison (it is made every
    `CONFIG_CHECK_SECONDS`, not every pass)."""
    queued = 0
    result = await session.execute(
        text(
            "SELECT id FROM feeds WHERE event_driven AND active AND paused_reason IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.feed_id = feeds.id"
            "  AND r.status IN ('queued', 'running'))"
        )
    )
    pending = result.all()
    if not pending:
        return 0
    before = await session.scalar(_SETTLED)
    for (feed_id,) in pending:
        feed = await feeds.get_feed(session, str(feed_id))
        stamp = await config_stamp(session, feed.id) if check_config else feed.events_config
        if stamp != feed.events_config:
            # A full run evaluates everything under the new configuration; the changes
            # marked until now are covered by it.
            synced = await session.scalar(_LAST_SETTLED, {
                "source": feed.source_id, "since": feed.events_synced_at, "before": before,
            })  # fmt: skip
            try:
                async with session.begin_nested():
                    await runs.start(session, feed, dry_run=False, trigger="event")
            except Conflict:
                continue
            feed.events_config = stamp
            if synced is not None:
                feed.events_synced_at = synced
            queued += 1
            continue
        rows = (
            await session.execute(
                _DIRTY,
                {
                    "source": feed.source_id,
                    "since": feed.events_synced_at,
                    "before": before,
                    "n": EVENT_BATCH + 1,
                },
            )
        ).all()
        if not rows:
            continue
        parents: list[str] | None = sorted({r.parent_id for r in rows})
        synced = max(r.marked_at for r in rows)
        if len(rows) > EVENT_BATCH:
            # More changed than a parents list should carry (a large upload marks many at one
            # instant; a cut inside it would skip the rest): one full run covers them all.
            parents = None
            synced = await session.scalar(_LAST_SETTLED, {
                "source": feed.source_id, "since": feed.events_synced_at, "before": before,
            })  # fmt: skip
        try:
            async with session.begin_nested():
                await runs.start(session, feed, dry_run=False, trigger="event", parents=parents)
        except Conflict:
            continue  # another process queued one meanwhile
        feed.events_synced_at = synced
        queued += 1
    return queued


async def event_backlog(session: AsyncSession, feed: Any) -> dict[str, Any]:
    """What the event-driven mode of `feed` has still to do: the parents marked since its last
    event run, and whether its configuration changed since its last full evaluation (both
    queued as a run by a coming pass, unless a run of the feed is active)."""
    pending = await session.scalar(
        text("SELECT count(*) FROM dirty_parents WHERE source_id = :source AND marked_at > :since"),
        {"source": feed.source_id, "since": feed.events_synced_at},
    )
    return {
        "event_driven": feed.event_driven,
        "pending_parents": int(pending or 0),
        "configuration_changed": await config_stamp(session, feed.id) != feed.events_config,
        "synced_through": feed.events_synced_at,
    }


async def event_runs(rt: Runtime) -> None:
    settings: Any = rt.settings
    every = max(1, round(CONFIG_CHECK_SECONDS / settings.event_batch_seconds))
    passes = 0
    while True:
        try:
            async with session_scope(rt.sessions) as session:
                await queue_event_runs(session, check_config=passes % every == 0)
        except Exception:
            log.exception("event-driven pass failed")
        passes += 1
        await asyncio.sleep(settings.event_batch_seconds)


async def queue_scheduled_runs(session: AsyncSession, now: datetime) -> int:
    """Start the full run of every active feed whose schedule matches this minute (once)."""
    minute = now.replace(second=0, microsecond=0)
    queued = 0
    result = await session.execute(
        text(
            "SELECT id FROM feeds WHERE active AND schedule IS NOT NULL"
            " AND (last_scheduled_at IS NULL OR last_scheduled_at < :minute)"
        ),
        {"minute": minute},
    )
    for (feed_id,) in result.all():
        feed = await feeds.get_feed(session, str(feed_id))
        if feed.schedule is None or not matches(feed.schedule, minute):
            continue
        feed.last_scheduled_at = minute
        try:
            async with session.begin_nested():
                await runs.start(session, feed, dry_run=False, trigger="schedule")
        except Conflict:
            log.info("scheduled run skipped: a run is in progress", extra={"feed_id": feed.id})
            continue
        queued += 1
    return queued


async def scheduled_runs(rt: Runtime) -> None:
    while True:
        try:
            async with session_scope(rt.sessions) as session:
                await queue_scheduled_runs(session, datetime.now(UTC))
        except Exception:
            log.exception("schedule pass failed")
        await asyncio.sleep(20)


# --- the audit poll: the safety net for lost product webhooks -------------------------------


async def poll_audits(
    sessions: Any, products_for: Any, after_seconds: float, limit: int
) -> tuple[int, int]:
    """One pass: read the products still under review with "Get Product 202309" and apply
    what TikTok says. (polled, changed); `products_for(connection_id)` is the shop's products
    API. Each product's claim is committed before TikTok is asked (`audit.claim_due`)."""
    async with session_scope(sessions) as session:
        due = await audit.claim_due(session, after_seconds, limit)
    changed = 0
    for row in due:
        try:
            product = await products_for(str(row.connection_id)).get_product(row.tiktok_product_id)
        except TikTokError as exc:  # asked again an interval later
            log.info(
                "audit poll: TikTok did not answer for a product",
                extra={"feed_id": str(row.feed_id), "parent_id": row.parent_id, "code": exc.code},
            )
            continue
        async with session_scope(sessions) as session:
            changed += await audit.apply(session, **audit.from_product(product))
    return len(due), changed


async def audit_poll(rt: Runtime, products_for: Any) -> None:
    settings: Any = rt.settings
    every = min(settings.audit_poll_seconds, 30.0)
    while True:
        try:
            polled, _ = await poll_audits(
                rt.sessions, products_for, settings.audit_poll_seconds, settings.audit_poll_batch
            )
        except Exception:
            log.exception("audit poll pass failed")
            polled = 0
        if polled < settings.audit_poll_batch:  # a full batch: more are due, go on at once
            await asyncio.sleep(every)


# --- connection-changed: pause and resume the feeds of a connection -----------------------


def _is_uuid(value: str) -> bool:
    """auth-broker connection ids are UUIDs; another id names no feed's connection."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def on_connection_lost(
    session: AsyncSession, data: ConnectionExpired | ConnectionRevoked
) -> None:
    if not _is_uuid(data.connection_id):
        return
    reason = f"the connection {data.connection_id} is no longer authorized: {data.reason or ''}"
    await session.execute(
        text("UPDATE feeds SET paused_reason = :r WHERE connection_id = :c"),
        {"r": reason.strip().rstrip(":"), "c": data.connection_id},
    )


async def on_connection_authorized(session: AsyncSession, data: ConnectionAuthorized) -> None:
    """Resume the connection's paused feeds: clear the pause and run what the pause stopped."""
    if not _is_uuid(data.connection_id):
        return
    result = await session.execute(
        text(
            "UPDATE feeds SET paused_reason = NULL WHERE connection_id = :c"
            " AND paused_reason IS NOT NULL RETURNING id"
        ),
        {"c": data.connection_id},
    )
    for (feed_id,) in result.all():
        feed = await feeds.get_feed(session, str(feed_id))
        if not feed.active:
            continue
        try:
            async with session.begin_nested():
                await runs.start(session, feed, dry_run=False, trigger="resume")
        except Conflict:
            continue  # a run is queued already: it finds the feed resumed

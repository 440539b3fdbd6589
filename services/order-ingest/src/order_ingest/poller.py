"""The order poller: incremental passes by `update_time`, cursor paging, resumable.

A pass ("run", table `order_import_runs`) walks "Get Order List 202309" sorted by
`update_time` ascending from `update_time_ge` with no upper bound, so an order changed during
the pass reappears later in it with its newer version. Each page is stored with the run's
progress (the next page token, the highest update_time seen) in ONE transaction: a process
killed mid-pass leaves the committed page behind, its heartbeat goes stale, and another
process (or the restarted one) takes the run over from that page; orders of a page stored
twice are unchanged the second time, so nothing is stored or announced twice.

- incremental (scheduled every `poll_interval_seconds`, or `POST /v1/order-imports/{id}/runs`):
  from the import's watermark minus `TTS_POLL_OVERLAP_SECONDS`, never before the import's
  earliest update time; the first pass of an import is a backfill.
- backfill (`{"mode": "backfill"}`): from the earliest update time (or the beginning).
Finishing a pass raises the import's watermark to the highest update_time it saw.

The filters select which orders are imported; an order already imported is always kept
current (its cancellation after import must reach the OMS). The earliest update time is
sent to TikTok (`update_time_ge`); the earliest creation time too in a backfill
(`create_time_ge`), while an incremental pass applies it to new orders only, so an order
imported earlier still gets its later changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tiktok_shop import TikTokError
from tiktok_shop.models.orders import SearchOrdersRequest
from tts_common.app import Runtime
from tts_common.db import session_scope
from tts_common.errors import Conflict

from order_ingest import store, tiktok
from order_ingest.config import Settings

log = logging.getLogger(__name__)

DAY = 86400
OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

_RUN_COLUMNS = (
    "id, import_id, mode, trigger, status, update_time_ge, create_time_ge, page_token,"
    " max_update_time, pages, orders_seen, orders_changed, attempts, error, created_at,"
    " started_at, finished_at"
)


def run_out(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data["id"] = str(data["id"])
    data["import_id"] = str(data["import_id"])
    data.pop("page_token", None)  # TikTok's cursor: internal
    return data


async def trigger(session: AsyncSession, import_id: str, mode: str) -> dict[str, Any]:
    """Queue a manual pass; 409 when the import already has one queued or running."""
    open_run = await session.execute(
        text(
            f"SELECT {_RUN_COLUMNS} FROM order_import_runs WHERE import_id = CAST(:i AS uuid) "
            "AND status IN ('queued', 'running') AND trigger = 'manual' AND mode = :m"
        ),
        {"i": import_id, "m": mode},
    )
    if open_run.first() is not None:
        raise Conflict(
            f"a manual {mode} pass of this import is already queued or running",
            code="run_in_progress",
        )
    row = await session.execute(
        text(
            "INSERT INTO order_import_runs (id, import_id, mode, trigger, status) "
            "VALUES (:id, CAST(:i AS uuid), :m, 'manual', 'queued') "
            f"RETURNING {_RUN_COLUMNS}"
        ),
        {"id": str(uuid.uuid4()), "i": import_id, "m": mode},
    )
    await session.flush()
    return run_out(row.one())


async def list_runs(session: AsyncSession, import_id: str, limit: int = 50) -> list[dict[str, Any]]:
    rows = await session.execute(
        text(
            f"SELECT {_RUN_COLUMNS} FROM order_import_runs WHERE import_id = CAST(:i AS uuid) "
            "ORDER BY created_at DESC LIMIT :l"
        ),
        {"i": import_id, "l": limit},
    )
    return [run_out(r) for r in rows]


async def get_run(session: AsyncSession, import_id: str, run_id: str) -> dict[str, Any] | None:
    try:
        uuid.UUID(run_id)
    except ValueError:
        return None
    row = await session.execute(
        text(
            f"SELECT {_RUN_COLUMNS} FROM order_import_runs WHERE import_id = CAST(:i AS uuid) "
            "AND id = CAST(:r AS uuid)"
        ),
        {"i": import_id, "r": run_id},
    )
    found = row.one_or_none()
    return run_out(found) if found is not None else None


_SCHEDULE = text(
    """
    WITH due AS (
        UPDATE order_imports i
           SET next_poll_at = now() + make_interval(secs => i.poll_interval_seconds)
         WHERE i.active AND i.next_poll_at <= now()
           AND NOT EXISTS (SELECT 1 FROM order_import_runs r
                            WHERE r.import_id = i.id AND r.status IN ('queued', 'running'))
        RETURNING i.id, i.watermark
    )
    INSERT INTO order_import_runs (id, import_id, mode, trigger, status)
    SELECT gen_random_uuid(), due.id,
           CASE WHEN due.watermark IS NULL THEN 'backfill' ELSE 'incremental' END,
           'schedule', 'queued'
      FROM due
    """
)

# The oldest queued run, or a running one whose process went silent; never a second run of
# an import that has one running (several passes of one shop would race for its pages).
# `active` governs the schedule: a manual pass of an inactive import still runs.
_CLAIM = text(
    """
    UPDATE order_import_runs r
       SET status = 'running', owner = :owner, heartbeat_at = now(),
           started_at = coalesce(r.started_at, now()), attempts = r.attempts + 1
     WHERE r.id = (
        SELECT c.id FROM order_import_runs c JOIN order_imports i ON i.id = c.import_id
         WHERE (i.active OR c.trigger = 'manual')
           AND (c.status = 'queued'
                OR (c.status = 'running'
                    AND c.heartbeat_at < now() - make_interval(secs => :stale)))
           AND NOT EXISTS (SELECT 1 FROM order_import_runs o
                            WHERE o.import_id = c.import_id AND o.id <> c.id
                              AND o.status = 'running'
                              AND o.heartbeat_at >= now() - make_interval(secs => :stale))
         ORDER BY c.created_at
         LIMIT 1
         FOR UPDATE OF c SKIP LOCKED)
    RETURNING r.id
    """
)


@dataclass
class Pass:
    """A claimed run and the import it belongs to."""

    run_id: str
    import_id: str
    connection_id: str
    shop_id: str | None
    mode: str
    statuses: list[str]
    created_within_days: int | None
    updated_within_days: int | None
    watermark: int | None
    update_time_ge: int | None
    create_time_ge: int | None
    page_token: str | None
    max_update_time: int | None


async def schedule_due(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with session_scope(sessions) as session:
        await session.execute(_SCHEDULE)


async def claim(sessions: async_sessionmaker[AsyncSession], stale_seconds: float) -> Pass | None:
    async with session_scope(sessions) as session:
        run_id = (await session.execute(_CLAIM, {"owner": OWNER, "stale": stale_seconds})).scalar()
        if run_id is None:
            return None
        row = (
            await session.execute(
                text(
                    "SELECT r.id AS run_id, r.import_id, i.connection_id, i.shop_id, r.mode,"
                    " i.statuses, i.created_within_days, i.updated_within_days, i.watermark,"
                    " r.update_time_ge, r.create_time_ge, r.page_token, r.max_update_time"
                    " FROM order_import_runs r JOIN order_imports i ON i.id = r.import_id"
                    " WHERE r.id = :id"
                ),
                {"id": run_id},
            )
        ).one()
        data = dict(row._mapping)
        data["run_id"] = str(data["run_id"])
        data["import_id"] = str(data["import_id"])
        data["statuses"] = list(data["statuses"] or [])
        return Pass(**data)


def window(p: Pass, now: float, overlap: int) -> tuple[int | None, int | None]:
    """(update_time_ge, create_time_ge) of a pass that starts now."""
    floor_update = (
        int(now) - p.updated_within_days * DAY if p.updated_within_days is not None else None
    )
    create_ge = (
        int(now) - p.created_within_days * DAY if p.created_within_days is not None else None
    )
    start: int | None = None
    if p.mode == "incremental" and p.watermark is not None:
        start = max(0, p.watermark - overlap)
    if floor_update is not None:
        start = floor_update if start is None else max(start, floor_update)
    return start, create_ge


async def execute(rt: Runtime, p: Pass) -> str:
    """Walk the pass's pages; returns the run's final status ('done' or 'failed')."""
    settings: Settings = rt.settings  # type: ignore[assignment]
    client = tiktok.of(rt)
    try:
        if p.shop_id is None:
            shops = await client.shop_ids(p.connection_id)
            p.shop_id = shops[0] if shops else ""
            async with session_scope(rt.sessions) as session:
                await session.execute(
                    text("UPDATE order_imports SET shop_id = :s WHERE id = CAST(:i AS uuid)"),
                    {"s": p.shop_id, "i": p.import_id},
                )
        if p.page_token is None and p.update_time_ge is None and p.create_time_ge is None:
            p.update_time_ge, p.create_time_ge = window(
                p, time.time(), settings.poll_overlap_seconds
            )
            async with session_scope(rt.sessions) as session:
                await session.execute(
                    text(
                        "UPDATE order_import_runs SET update_time_ge = :u, create_time_ge = :c "
                        "WHERE id = CAST(:id AS uuid)"
                    ),
                    {"u": p.update_time_ge, "c": p.create_time_ge, "id": p.run_id},
                )
        # A backfill asks TikTok for the creation window; an incremental pass asks for every
        # change and applies the window to new orders only, so an order imported earlier is
        # kept current after its creation left the window.
        create_ge = p.create_time_ge if p.mode == "backfill" else None
        filters = SearchOrdersRequest(update_time_ge=p.update_time_ge, create_time_ge=create_ge)
        orders_api = client.shop(p.connection_id).orders

        async def fetch(token: str | None) -> Any:
            return await orders_api.search_orders(
                filters,
                page_size=settings.poll_page_size,
                page_token=token,
                sort_field="update_time",
                sort_order="ASC",
            )

        page = await fetch(p.page_token)
        while True:
            docs = [o.model_dump(mode="json", exclude_none=True) for o in page.orders]
            token = page.next_page_token or None
            # The next page is asked for while this one is stored (TikTok's latency and the
            # database's overlap); its token is committed only with this page.
            ahead = asyncio.create_task(fetch(token)) if token is not None else None
            try:
                mine = await _store_page(rt, p, docs, token, create_floor=p.create_time_ge)
            except BaseException:
                await _cancel(ahead)
                raise
            if not mine:
                await _cancel(ahead)
                return "lost"  # another process took the run over
            if ahead is None:
                break
            p.page_token = token
            page = await ahead
        await _finish(rt, p, "done", None)
        return "done"
    except TikTokError as exc:
        log.warning(
            "order import pass failed",
            extra={"import_id": p.import_id, "run_id": p.run_id, "error_class": type(exc).__name__},
        )
        await _finish(rt, p, "failed", f"TikTok: {exc}")
        return "failed"


async def _cancel(task: asyncio.Task[Any] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(BaseException):
        await task


async def _store_page(
    rt: Runtime,
    p: Pass,
    docs: list[dict[str, Any]],
    token: str | None,
    *,
    create_floor: int | None,
) -> bool:
    """One page and the run's progress in one transaction; False if the run is not ours.

    A new order is imported when it passes the status filter and was created at or after
    `create_floor`; an order imported before is always kept current."""
    async with session_scope(rt.sessions) as session:
        mine = await session.execute(
            text(
                "SELECT 1 FROM order_import_runs WHERE id = CAST(:id AS uuid) AND owner = :o "
                "AND status = 'running' FOR UPDATE"
            ),
            {"id": p.run_id, "o": OWNER},
        )
        if mine.first() is None:
            return False
        wanted = docs
        if p.statuses or create_floor is not None:
            known = await store.existing_ids(session, [str(d["id"]) for d in docs])
            allowed = set(p.statuses)

            def selected(d: dict[str, Any]) -> bool:
                if str(d["id"]) in known:
                    return True
                if allowed and d.get("status") not in allowed:
                    return False
                return create_floor is None or int(d.get("create_time") or 0) >= create_floor

            wanted = [d for d in docs if selected(d)]
        stored = await store.store(
            session,
            wanted,
            connection_id=p.connection_id,
            shop_id=p.shop_id or "",
            import_id=p.import_id,
            now=time.time(),
        )
        top = max((int(d.get("update_time") or 0) for d in docs), default=None)
        if top is not None:
            p.max_update_time = top if p.max_update_time is None else max(p.max_update_time, top)
        await session.execute(
            text(
                "UPDATE order_import_runs SET page_token = :t, pages = pages + 1,"
                " orders_seen = orders_seen + :seen, orders_changed = orders_changed + :changed,"
                " max_update_time = :top, heartbeat_at = now() WHERE id = CAST(:id AS uuid)"
            ),
            {
                "t": token,
                "seen": len(docs),
                "changed": stored.changed,
                "top": p.max_update_time,
                "id": p.run_id,
            },
        )
    return True


async def _finish(rt: Runtime, p: Pass, status: str, error: str | None) -> None:
    async with session_scope(rt.sessions) as session:
        await session.execute(
            text(
                "UPDATE order_import_runs SET status = :s, error = :e, finished_at = now() "
                "WHERE id = CAST(:id AS uuid) AND owner = :o"
            ),
            {"s": status, "e": error, "id": p.run_id, "o": OWNER},
        )
        if status == "done" and p.max_update_time is not None:
            await session.execute(
                text(
                    "UPDATE order_imports SET watermark = greatest(coalesce(watermark, 0), :w) "
                    "WHERE id = CAST(:i AS uuid)"
                ),
                {"w": p.max_update_time, "i": p.import_id},
            )


async def heartbeat(sessions: async_sessionmaker[AsyncSession], run_id: str) -> None:
    async with session_scope(sessions) as session:
        await session.execute(
            text(
                "UPDATE order_import_runs SET heartbeat_at = now() "
                "WHERE id = CAST(:id AS uuid) AND owner = :o AND status = 'running'"
            ),
            {"id": run_id, "o": OWNER},
        )


async def run_poller(rt: Runtime) -> None:
    """Worker: schedule due passes, run up to `poll_concurrency` of them side by side."""
    settings: Settings = rt.settings  # type: ignore[assignment]
    running: set[asyncio.Task[None]] = set()

    async def one(p: Pass) -> None:
        beat = asyncio.create_task(_beat(rt, p.run_id, settings.run_stale_seconds / 3))
        try:
            await execute(rt, p)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the pass fails; the worker carries on
            log.exception("order import pass crashed", extra={"run_id": p.run_id})
            await _finish(rt, p, "failed", f"{type(exc).__name__}")
        finally:
            beat.cancel()

    while True:
        try:
            await schedule_due(rt.sessions)
            while len(running) < settings.poll_concurrency:
                p = await claim(rt.sessions, settings.run_stale_seconds)
                if p is None:
                    break
                task = asyncio.create_task(one(p), name=f"order-pass-{p.run_id}")
                running.add(task)
                task.add_done_callback(running.discard)
        except asyncio.CancelledError:
            for task in running:
                task.cancel()
            raise
        except Exception:
            log.exception("order poller pass failed; retrying")
        await asyncio.sleep(settings.worker_idle_seconds)


async def _beat(rt: Runtime, run_id: str, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await heartbeat(rt.sessions, run_id)
        except Exception:
            log.warning("run heartbeat failed", extra={"run_id": run_id})

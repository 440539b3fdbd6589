"""HTTP API of export runs and their results: runs, planned actions, feedback, the call log.

`POST /v1/feeds/{id}/runs` queues a run (the executor, a worker, performs it); one run at a
time per feed (409 otherwise). Reads need `catalog:read`, starting or cancelling a run
`catalog:write` (docs/feeds.md, "Runs").
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text
from tts_common.api_auth import require_scope
from tts_common.deps import SessionDep
from tts_common.errors import Conflict
from tts_common.openapi import error_responses

from catalog_sync import feeds, runs, workers

READ = [Depends(require_scope("catalog:read"))]
WRITE = [Depends(require_scope("catalog:write"))]
router = APIRouter(tags=["runs"])


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = False
    only: Literal["all", "failed"] = "all"


class ProgressOut(BaseModel):
    done: int
    total: int


class RunOut(BaseModel):
    id: str
    feed_id: str
    trigger: str
    dry_run: bool
    only: Literal["all", "failed"]
    status: str
    reason: str | None
    progress: ProgressOut
    counts: dict[str, dict[str, int]]
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None


class EventsOut(BaseModel):
    event_driven: bool
    pending_parents: int
    configuration_changed: bool
    synced_through: datetime


class RunItemOut(BaseModel):
    parent_id: str
    action: str
    outcome: str
    detail: dict[str, Any] | None


@router.post(
    "/v1/feeds/{feed_id}/runs",
    status_code=202,
    dependencies=WRITE,
    summary="Queue an export run (dry_run: plan only, no TikTok write)",
    response_model=RunOut,
    responses=error_responses(
        403,
        404,
        409,
        described={409: "a run of the feed is queued or running, or the feed has no connection"},
    ),
)
async def start_run(feed_id: str, session: SessionDep, body: RunIn | None = None) -> Any:
    spec = body or RunIn()
    feed = await feeds.get_feed(session, feed_id)
    return await runs.start(session, feed, dry_run=spec.dry_run, only_failed=spec.only == "failed")


@router.get(
    "/v1/feeds/{feed_id}/runs",
    dependencies=READ,
    summary="The feed's runs, newest first",
    response_model=list[RunOut],
    responses=error_responses(403, 404),
)
async def list_runs(
    feed_id: str, session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> Any:
    feed = await feeds.get_feed(session, feed_id)
    return await runs.list_runs(session, feed.id, limit)


@router.get(
    "/v1/feeds/{feed_id}/events",
    dependencies=READ,
    summary="The event-driven mode's backlog: parents changed since its last run, and whether"
    " the configuration changed since its last full run",
    response_model=EventsOut,
    responses=error_responses(403, 404),
)
async def event_backlog(feed_id: str, session: SessionDep) -> Any:
    feed = await feeds.get_feed(session, feed_id)
    return await workers.event_backlog(session, feed)


@router.get(
    "/v1/feeds/{feed_id}/runs/{run_id}",
    dependencies=READ,
    summary="One run: status, counts per action and outcome, progress, duration",
    response_model=RunOut,
    responses=error_responses(403, 404),
)
async def get_run(feed_id: str, run_id: str, session: SessionDep) -> Any:
    feed = await feeds.get_feed(session, feed_id)
    return await runs.get(session, feed.id, run_id)


@router.post(
    "/v1/feeds/{feed_id}/runs/{run_id}:cancel",
    dependencies=WRITE,
    summary="Cancel a queued or running run (it stops after the products in flight)",
    response_model=RunOut,
    responses=error_responses(403, 404, 409, described={409: "the run has finished"}),
)
async def cancel_run(feed_id: str, run_id: str, session: SessionDep) -> Any:
    feed = await feeds.get_feed(session, feed_id)
    return await runs.cancel(session, feed.id, run_id)


@router.post(
    "/v1/feeds/{feed_id}:resume",
    status_code=202,
    dependencies=WRITE,
    summary="Resume a paused feed: clear the pause and queue a run (trigger resume)",
    response_model=RunOut,
    responses=error_responses(
        403,
        404,
        409,
        described={409: "the feed is not paused, has a run queued or running, or no connection"},
    ),
)
async def resume_feed(feed_id: str, session: SessionDep) -> Any:
    feed = await feeds.get_feed(session, feed_id)
    if feed.paused_reason is None:
        raise Conflict(f"feed {feed.name} is not paused", code="not_paused")
    feed.paused_reason = None
    await session.flush()  # a 409 below rolls the request back: the pause stays
    return await runs.start(session, feed, dry_run=False, trigger="resume")


@router.get(
    "/v1/feeds/{feed_id}/runs/{run_id}/items",
    dependencies=READ,
    summary="The run's actions per product (a dry run's plan with field-level diffs)",
    response_model=list[RunItemOut],
    responses=error_responses(403, 404),
)
async def run_items(feed_id: str, run_id: str, session: SessionDep) -> Any:
    feed = await feeds.get_feed(session, feed_id)
    await runs.get(session, feed.id, run_id)
    return await runs.items(session, run_id)


_FEEDBACK = text(
    "SELECT f.parent_id, t.tiktok_product_id, f.action, f.outcome, f.code, f.message,"
    " f.request_id, f.errors, coalesce(t.audit_status, f.audit_status) AS audit_status,"
    " t.tiktok_status, t.audit_reasons, f.run_id, f.at FROM feedback f"
    " LEFT JOIN tiktok_products t"
    " ON t.feed_id = f.feed_id AND t.parent_id = f.parent_id"
    " WHERE f.feed_id = :feed ORDER BY f.parent_id"
)
FEEDBACK_FIELDS = (
    "parent_id",
    "tiktok_product_id",
    "action",
    "outcome",
    "code",
    "message",
    "request_id",
    "errors",
    "audit_status",
    "tiktok_status",
    "audit_reasons",
    "run_id",
    "at",
)
JSON_FIELDS = ("errors", "audit_reasons")


def _feedback_row(r: Any) -> dict[str, Any]:
    return {
        "parent_id": r.parent_id,
        "tiktok_product_id": r.tiktok_product_id,
        "action": r.action,
        "outcome": r.outcome,
        "code": r.code,
        "message": r.message,
        "request_id": r.request_id,
        "errors": r.errors,
        "audit_status": r.audit_status,
        "tiktok_status": r.tiktok_status,
        "audit_reasons": r.audit_reasons,
        "run_id": str(r.run_id) if r.run_id else None,
        "at": r.at.isoformat(),
    }


@router.get(
    "/v1/feeds/{feed_id}/feedback",
    dependencies=READ,
    summary="The feedback file: per product the last action, outcome and TikTok's answer",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/jsonl": {"schema": {"type": "string"}},
            }
        },
        **error_responses(403, 404),
    },
)
async def feedback(
    feed_id: str,
    session: SessionDep,
    fmt: Annotated[Literal["csv", "jsonl"], Query(alias="format")] = "jsonl",
) -> StreamingResponse:
    feed = await feeds.get_feed(session, feed_id)
    rows = [_feedback_row(r) for r in await session.execute(_FEEDBACK, {"feed": feed.id})]

    async def body() -> AsyncIterator[bytes]:
        if fmt == "jsonl":
            for row in rows:
                yield orjson.dumps(row) + b"\n"
            return
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FEEDBACK_FIELDS)
        for row in rows:
            writer.writerow(
                [
                    orjson.dumps(row[k]).decode()
                    if k in JSON_FIELDS and row[k] is not None
                    else ("" if row[k] is None else row[k])
                    for k in FEEDBACK_FIELDS
                ]
            )
        yield out.getvalue().encode()

    media = "text/csv" if fmt == "csv" else "application/jsonl"
    return StreamingResponse(
        body(),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="feedback-{feed.name}.{fmt}"'},
    )


@router.get(
    "/v1/feeds/{feed_id}/runs/{run_id}/calls",
    dependencies=READ,
    summary="The run's TikTok API-call log (JSONL; feeds with log_api_calls)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/jsonl": {"schema": {"type": "string"}}}},
        **error_responses(403, 404),
    },
)
async def calls(feed_id: str, run_id: str, session: SessionDep) -> StreamingResponse:
    feed = await feeds.get_feed(session, feed_id)
    await runs.get(session, feed.id, run_id)
    result = await session.execute(
        text("SELECT entry FROM api_calls WHERE run_id = :run ORDER BY id"), {"run": run_id}
    )
    entries = [r.entry for r in result]

    async def body() -> AsyncIterator[bytes]:
        for entry in entries:
            yield orjson.dumps(entry) + b"\n"

    return StreamingResponse(body(), media_type="application/jsonl")

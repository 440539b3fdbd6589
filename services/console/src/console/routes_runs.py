"""Runs: start one (dry or real), watch its progress, read its actions and the feedback.

The run page polls a small progress fragment (htmx, once a second) while the run is queued
or running; when it ends, the fragment asks for one full reload so the actions and the
feedback table appear. Downloads (the feedback file, the API-call log) stream through from
catalog-sync.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from console.backends import BackendRefused
from console.web import FormDep, Ident, SessionDep, backends, render, text

router = APIRouter()
ACTIVE = ("queued", "running")
ITEMS_SHOWN = 500


def parse_jsonl(body: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


async def feedback_rows(request: Request, feed_id: str) -> list[dict[str, Any]]:
    response = await backends(request).catalog.send(
        "GET", f"/v1/feeds/{feed_id}/feedback", params={"format": "jsonl"}
    )
    if response.status_code >= 400:
        return []
    return parse_jsonl(response.text)


@router.get("/feeds/{feed_id}/runs", include_in_schema=False)
async def runs_page(request: Request, feed_id: Ident, session: SessionDep) -> Response:
    return await _runs_page(request, feed_id)


async def _runs_page(request: Request, feed_id: str, error: str | None = None) -> Response:
    catalog = backends(request).catalog
    feed = await catalog.get(f"/v1/feeds/{feed_id}")
    runs = await catalog.get(f"/v1/feeds/{feed_id}/runs", params={"limit": 50})
    return render(
        request,
        "runs.html",
        {"feed": feed, "runs": runs, "error": error},
        status_code=409 if error else 200,
    )


@router.post("/feeds/{feed_id}/runs", include_in_schema=False)
async def start_run(request: Request, feed_id: Ident, form: FormDep) -> Response:
    body = {
        "dry_run": text(form, "mode") == "dry",
        "only": "failed" if text(form, "only") == "failed" else "all",
    }
    try:
        run = await backends(request).catalog.post(f"/v1/feeds/{feed_id}/runs", json=body)
    except BackendRefused as exc:
        return await _runs_page(request, feed_id, exc.detail)
    return RedirectResponse(f"/feeds/{feed_id}/runs/{run['id']}", status_code=303)


@router.get("/feeds/{feed_id}/runs/{run_id}", include_in_schema=False)
async def run_page(
    request: Request, feed_id: Ident, run_id: Ident, session: SessionDep
) -> Response:
    catalog = backends(request).catalog
    feed = await catalog.get(f"/v1/feeds/{feed_id}")
    run = await catalog.get(f"/v1/feeds/{feed_id}/runs/{run_id}")
    finished = run["status"] not in ACTIVE
    items = await catalog.get(f"/v1/feeds/{feed_id}/runs/{run_id}/items") if finished else []
    feedback = await feedback_rows(request, feed_id) if finished else []
    feedback = [f for f in feedback if f.get("run_id") == run_id] or feedback
    return render(
        request,
        "run.html",
        {
            "feed": feed,
            "run": run,
            "finished": finished,
            "items": items[:ITEMS_SHOWN],
            "items_total": len(items),
            "feedback": feedback,
        },
    )


@router.get("/feeds/{feed_id}/runs/{run_id}/progress", include_in_schema=False)
async def run_progress(
    request: Request, feed_id: Ident, run_id: Ident, session: SessionDep
) -> Response:
    run = await backends(request).catalog.get(f"/v1/feeds/{feed_id}/runs/{run_id}")
    finished = run["status"] not in ACTIVE
    response = render(
        request, "run_progress.html", {"feed": {"id": feed_id}, "run": run, "finished": finished}
    )
    if finished:
        response.headers["HX-Refresh"] = "true"  # once: the page then renders the results
    return response


@router.post("/feeds/{feed_id}/runs/{run_id}/cancel", include_in_schema=False)
async def cancel_run(request: Request, feed_id: Ident, run_id: Ident, form: FormDep) -> Response:
    try:
        await backends(request).catalog.post(f"/v1/feeds/{feed_id}/runs/{run_id}:cancel")
    except BackendRefused:
        pass  # finished meanwhile: the page shows how it ended
    return RedirectResponse(f"/feeds/{feed_id}/runs/{run_id}", status_code=303)


@router.get("/feeds/{feed_id}/feedback", include_in_schema=False)
async def feedback_page(
    request: Request,
    feed_id: Ident,
    session: SessionDep,
    outcome: str | None = Query(None, max_length=30),
) -> Response:
    feed = await backends(request).catalog.get(f"/v1/feeds/{feed_id}")
    rows = await feedback_rows(request, feed_id)
    outcomes = sorted({r.get("outcome") or "" for r in rows})
    if outcome:
        rows = [r for r in rows if r.get("outcome") == outcome]
    return render(
        request,
        "feedback.html",
        {"feed": feed, "feedback": rows, "outcomes": outcomes, "outcome": outcome},
    )


async def _download(
    request: Request, path: str, params: dict[str, Any], filename: str, media: str
) -> Response:
    """A file catalog-sync renders (the feedback file, the call log), as an attachment."""
    catalog = backends(request).catalog
    response = await catalog.send("GET", path, params=params)
    if response.status_code >= 400:
        raise BackendRefused(catalog.name, response.status_code, _json(response))
    return Response(
        response.content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return {}


@router.get("/feeds/{feed_id}/feedback/download", include_in_schema=False)
async def download_feedback(
    request: Request,
    feed_id: Ident,
    session: SessionDep,
    fmt: str = Query("csv", alias="format", pattern="^(csv|jsonl)$"),
) -> Response:
    media = "text/csv" if fmt == "csv" else "application/jsonl"
    return await _download(
        request,
        f"/v1/feeds/{feed_id}/feedback",
        {"format": fmt},
        f"feedback-{feed_id}.{fmt}",
        media,
    )


@router.get("/feeds/{feed_id}/runs/{run_id}/calls/download", include_in_schema=False)
async def download_calls(
    request: Request, feed_id: Ident, run_id: Ident, session: SessionDep
) -> Response:
    return await _download(
        request,
        f"/v1/feeds/{feed_id}/runs/{run_id}/calls",
        {},
        f"calls-{run_id}.jsonl",
        "application/jsonl",
    )

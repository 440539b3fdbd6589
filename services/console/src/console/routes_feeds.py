"""Feeds: the list with status, create, settings toggles, product uploads and their report.

A feed is created from a feed file (catalog-sync's `POST /v1/feeds:apply`, docs/feeds.md "The
feed file") so that the form can also declare the category mapping list: the source column
whose values the merchant maps to TikTok categories, and the dataflow that puts the mapped
id and path into `category_id` / `category_path`. JSON is valid YAML: the console sends the
file as JSON.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from console.backends import BackendDown, BackendRefused
from console.web import CsrfHeaderDep, FormDep, Ident, SessionDep, backends, flag, render, text

router = APIRouter()
TOGGLES = ("active", "log_api_calls", "log_api_headers", "feedback_enabled")
SETTINGS_TOGGLES = (*TOGGLES, "event_driven")  # the feed page's; a new feed starts without
FORMATS = ("csv", "ndjson", "shopify")


def feed_file(form: dict[str, Any]) -> dict[str, Any]:
    """The feed file the create form describes (docs/feeds.md, "The feed file")."""
    feed: dict[str, Any] = {"name": form["name"], "market": form["market"]}
    if form.get("connection_id"):
        feed["connection_id"] = form["connection_id"]
    for toggle in TOGGLES:
        feed[toggle] = bool(form.get(toggle))
    doc: dict[str, Any] = {"feed": feed, "source": {"id": form.get("source_id") or form["name"]}}
    column = form.get("category_column")
    if column:
        taxonomy = "tiktok_us_categories" if form["market"] == "US" else "tiktok_uk_categories"
        mapping = {"type": "taxonomy_mapping", "list": "categories"}
        doc["dataflow"] = {
            "intermediate": [
                {
                    "target": "category_id",
                    "source": column,
                    "rules": [mapping, {"type": "split_string", "splitter": "|", "from": 0}],
                },
                {
                    "target": "category_path",
                    "source": column,
                    "rules": [mapping, {"type": "split_string", "splitter": "|", "from": 1}],
                },
            ]
        }
        lst: dict[str, Any] = {"name": "categories", "taxonomy": taxonomy, "attribute": column}
        if form.get("accept_above_score") not in (None, ""):
            lst["accept_above_score"] = form["accept_above_score"]
        doc["lists"] = [lst]
    return doc


async def _connections(request: Request) -> tuple[list[dict[str, Any]], list[BackendDown]]:
    try:
        return await backends(request).broker.get("/v1/connections"), []
    except BackendDown as exc:
        return [], [exc]


async def _last_run(request: Request, feed_id: str) -> dict[str, Any] | None:
    try:
        runs = await backends(request).catalog.get(f"/v1/feeds/{feed_id}/runs", params={"limit": 1})
    except (BackendDown, BackendRefused):
        return None
    return runs[0] if runs else None


@router.get("/feeds", include_in_schema=False)
async def feeds(request: Request, session: SessionDep) -> Response:
    items = await backends(request).catalog.get("/v1/feeds")
    runs = await asyncio.gather(*(_last_run(request, f["id"]) for f in items))
    connections, banners = await _connections(request)
    names = {c["id"]: c for c in connections}
    rows = [
        {**f, "last_run": r, "connection": names.get(f["connection_id"])}
        for f, r in zip(items, runs, strict=True)
    ]
    return render(request, "feeds.html", {"feeds": rows}, banners=banners)


async def _new_page(
    request: Request, errors: dict[str, str] | None = None, values: dict[str, Any] | None = None
) -> Response:
    connections, banners = await _connections(request)
    defaults = {"market": "UK", "feedback_enabled": True, "category_column": "Tags"}
    return render(
        request,
        "feed_new.html",
        {"connections": connections, "errors": errors or {}, "values": values or defaults},
        banners=banners,
        status_code=422 if errors else 200,
    )


@router.get("/feeds/new", include_in_schema=False)
async def new_feed(request: Request, session: SessionDep) -> Response:
    return await _new_page(request)


@router.post("/feeds", include_in_schema=False)
async def create_feed(request: Request, form: FormDep) -> Response:
    values: dict[str, Any] = {
        k: text(form, k)
        for k in (
            "name",
            "market",
            "connection_id",
            "source_id",
            "category_column",
            "accept_above_score",
        )
    }
    values.update({t: flag(form, t) for t in TOGGLES})
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "Name the feed: lower case letters, digits, . _ -"
    if values["market"] not in ("US", "UK"):
        errors["market"] = "Choose US or UK."
    if values["accept_above_score"]:
        try:
            score = float(values["accept_above_score"])
        except ValueError:
            score = -1.0
        if not 0 <= score <= 1:
            errors["accept_above_score"] = "A score between 0 and 1, e.g. 0.9 (or leave it empty)."
        values["accept_above_score"] = score if 0 <= score <= 1 else values["accept_above_score"]
    if errors:
        return await _new_page(request, errors, values)
    body = json.dumps(feed_file(values)).encode()
    try:
        applied = await backends(request).catalog.post(
            "/v1/feeds:apply", content=body, headers={"content-type": "application/yaml"}
        )
    except BackendRefused as exc:
        found = exc.field_errors()
        if "attribute" in found:
            found.setdefault("category_column", found.pop("attribute"))
        if not found:
            found = {"name": exc.detail}
        return await _new_page(request, found, values)
    return RedirectResponse(f"/feeds/{applied['feed']['id']}", status_code=303)


async def _events(catalog: Any, feed: dict[str, Any]) -> dict[str, Any] | None:
    """An event-driven feed's backlog (catalog-sync's `GET …/events`); None for the others."""
    if not feed.get("event_driven"):
        return None
    found: dict[str, Any] = await catalog.get(f"/v1/feeds/{feed['id']}/events")
    return found


async def _feed_page(
    request: Request, feed_id: str, errors: dict[str, str] | None = None, saved: bool = False
) -> Response:
    catalog = backends(request).catalog
    feed = await catalog.get(f"/v1/feeds/{feed_id}")
    lists, runs, events = await asyncio.gather(
        catalog.get(f"/v1/feeds/{feed_id}/lists"),
        catalog.get(f"/v1/feeds/{feed_id}/runs", params={"limit": 5}),
        _events(catalog, feed),
    )
    connections, banners = await _connections(request)
    return render(
        request,
        "feed.html",
        {
            "feed": feed,
            "lists": lists,
            "runs": runs,
            "events": events,
            "connections": connections,
            "connection": next((c for c in connections if c["id"] == feed["connection_id"]), None),
            "errors": errors or {},
            "saved": saved,
            "formats": FORMATS,
        },
        banners=banners,
        status_code=422 if errors else 200,
    )


@router.get("/feeds/{feed_id}", include_in_schema=False)
async def feed(
    request: Request, feed_id: Ident, session: SessionDep, saved: bool = False
) -> Response:
    return await _feed_page(request, feed_id, saved=saved)


@router.post("/feeds/{feed_id}/settings", include_in_schema=False)
async def feed_settings(request: Request, feed_id: Ident, form: FormDep) -> Response:
    patch: dict[str, Any] = {t: flag(form, t) for t in SETTINGS_TOGGLES}
    connection_id = text(form, "connection_id")
    if connection_id:
        patch["connection_id"] = connection_id
    schedule = text(form, "schedule")
    patch["schedule"] = schedule or None
    try:
        await backends(request).catalog.call("PATCH", f"/v1/feeds/{feed_id}", json=patch)
    except BackendRefused as exc:
        return await _feed_page(request, feed_id, exc.field_errors() or {"schedule": exc.detail})
    return RedirectResponse(f"/feeds/{feed_id}?saved=1", status_code=303)


@router.post("/upload/{feed_id}", include_in_schema=False)
async def upload(
    request: Request,
    feed_id: Ident,
    session: CsrfHeaderDep,
    fmt: str = Query("shopify", alias="format"),
    mode: str = Query("snapshot"),
) -> Response:
    """The browser sends the file as the raw body (console.js shows the progress); it streams
    on to catalog-sync's intake, and the answer is the intake report."""
    if fmt not in FORMATS or mode not in ("snapshot", "upsert"):
        return render(request, "intake.html", {"error": "Choose a format and a mode."})
    path = f"/v1/feeds/{feed_id}/products" + (":upsert" if mode == "upsert" else "")
    try:
        response = await backends(request).catalog.send(
            "PUT" if mode == "snapshot" else "POST",
            path,
            params={"format": fmt},
            content=request.stream(),
            headers={"content-type": "application/octet-stream"},
            limit_s=3600,
        )
    except BackendDown as exc:  # the answer goes into the page's report area, not a new page
        return render(request, "intake.html", {"error": f"{exc.service}: {exc.reason}"})
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 400:
        return render(
            request,
            "intake.html",
            {"error": str(body.get("detail") or f"catalog-sync answered {response.status_code}")},
        )
    return render(request, "intake.html", {"report": body, "feed_id": feed_id})

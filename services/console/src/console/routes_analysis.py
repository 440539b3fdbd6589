"""Readiness (catalog-sync's Analyzer) and Preview (one product through the dataflow).

Readiness: per export attribute the share of products that pass (a bar, green / orange /
red as the Analyzer rates it), the tests that fail, the value distribution and the supported
values; per category the ready share, each a link to the readiness of that category alone.
The Analyzer reads category schemas from catalog-sync's taxonomy cache only: "Fetch from
TikTok" refreshes the attributes of the feed's categories (docs/feeds.md, "Taxonomies over
HTTP").
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from console.backends import BackendRefused
from console.web import FormDep, Ident, SessionDep, backends, render

router = APIRouter()
ISSUES_SHOWN = 200


def donut(share: float, radius: float = 40) -> dict[str, Any]:
    """The dash lengths of an SVG circle stroke that draws `share` of a ring."""
    circumference = 2 * math.pi * radius
    filled = max(0.0, min(1.0, share)) * circumference
    return {"r": radius, "filled": round(filled, 2), "rest": round(circumference - filled, 2)}


@router.get("/feeds/{feed_id}/readiness", include_in_schema=False)
async def readiness(
    request: Request,
    feed_id: Ident,
    session: SessionDep,
    category_id: str | None = Query(None, pattern=r"^\d{1,30}$"),
    attribute: str | None = Query(None, max_length=300),
    refreshed: int | None = None,
) -> Response:
    catalog = backends(request).catalog
    feed = await catalog.get(f"/v1/feeds/{feed_id}")
    params = {"category_id": category_id}
    report = await catalog.get(f"/v1/feeds/{feed_id}/readiness", params=params)
    issues = await catalog.get(f"/v1/feeds/{feed_id}/issues", params=params)
    if attribute:
        issues = [i for i in issues if i.get("attribute") == attribute]
    attributes = sorted(report["attributes"], key=lambda a: (a["share"], a["name"]))
    return render(
        request,
        "readiness.html",
        {
            "feed": feed,
            "report": report,
            "attributes": attributes,
            "donut": donut(report["share"]),
            "issues": issues[:ISSUES_SHOWN],
            "issues_total": len(issues),
            "category_id": category_id,
            "attribute": attribute,
            "refreshed": refreshed,
        },
    )


@router.post("/feeds/{feed_id}/readiness/refresh", include_in_schema=False)
async def refresh(request: Request, feed_id: Ident, form: FormDep) -> Response:
    """Fetch the categories, brands and the attributes of every category the feed uses."""
    catalog = backends(request).catalog
    report = await catalog.get(f"/v1/feeds/{feed_id}/readiness")
    ids = [c["category_id"] for c in report["categories"] if c["category_id"].isdigit()]
    query = "&".join(f"category_id={i}" for i in ids)
    got = await catalog.call(
        "POST",
        f"/v1/feeds/{feed_id}/taxonomies:refresh" + (f"?{query}" if query else ""),
        limit_s=120.0,
    )
    count = int(got.get("attribute_lists", 0)) if isinstance(got, dict) else 0
    return RedirectResponse(f"/feeds/{feed_id}/readiness?refreshed={count}", status_code=303)


@router.get("/feeds/{feed_id}/preview", include_in_schema=False)
async def preview(
    request: Request,
    feed_id: Ident,
    session: SessionDep,
    product_id: str = Query("", max_length=300),
) -> Response:
    catalog = backends(request).catalog
    feed = await catalog.get(f"/v1/feeds/{feed_id}")
    result, error = None, None
    if product_id:
        try:
            result = await catalog.get(
                f"/v1/feeds/{feed_id}/preview", params={"product_id": product_id}
            )
        except BackendRefused as exc:
            error = exc.detail
    return render(
        request,
        "preview.html",
        {
            "feed": feed,
            "product_id": product_id,
            "result": result,
            "errors": {"product_id": error} if error else {},
        },
        status_code=404 if error else 200,
    )

"""HTTP API of what a feed would export: preview, readiness (the Analyzer), issues.

All read-only (scope `catalog:read`). They run the feed's pipeline (`catalog_sync.pipeline`)
over the stored products; the category schemas come from the taxonomy cache when it holds
them (docs/feeds.md, "Readiness"), else products are checked against the common attributes
and their category is reported as unknown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.api_auth import require_scope
from tts_common.deps import SessionDep
from tts_common.errors import NotFound
from tts_common.openapi import error_responses

from catalog_sync import feeds, pipeline, taxonomy_cache
from catalog_sync.naming import CATEGORY_ID, PRODUCT_ID
from catalog_sync.readiness import (
    ReadinessAnalyzer,
    ReadinessReport,
    issue_dict,
    render_issues_csv,
)
from catalog_sync.readiness_report import ISSUE_FIELDS

READ = [Depends(require_scope("catalog:read"))]
router = APIRouter(tags=["analysis"])


class TraceStepOut(BaseModel):
    stage: str
    value: str
    rule: str | None


class AttributePreview(BaseModel):
    attribute: str
    steps: list[TraceStepOut]


class PreviewOut(BaseModel):
    product_id: str
    parent_id: str
    exported: bool
    dropped_because: str | None
    attributes: list[AttributePreview]
    export: dict[str, str]
    unmapped: dict[str, list[str]]


@router.get(
    "/v1/feeds/{feed_id}/preview",
    dependencies=READ,
    summary="One product through the dataflow: every attribute's value at each stage",
    description="Shows each export attribute's value at import, intermediate and export, and "
    "which rule box changed it; values a Taxonomy Mapping list could not map are listed.",
    responses=error_responses(403, 404),
)
async def preview(
    feed_id: str, product_id: Annotated[str, Query(min_length=1)], session: SessionDep
) -> PreviewOut:
    feed = await feeds.get_feed(session, feed_id)
    view = await pipeline.open_view(session, feed)
    key = await pipeline.parent_key_of(session, view, product_id)
    if key is None:
        raise NotFound(f"product {product_id} is not in feed {feed.name}")
    rows: list[pipeline.Row] = []
    async for _, group, _fp in pipeline.import_groups(session, view, parent_key=key):
        rows = group
    parent_id, kept, dropped = view.optimized(key, rows)
    target = next((r for r in kept if r.get(PRODUCT_ID) == product_id), None)
    why = next((reason for pid, reason in dropped if pid == product_id), None)
    if target is None:
        target = next((r for r in rows if r.get(PRODUCT_ID) == product_id), {})
    traces = view.trace(target)
    return PreviewOut(
        product_id=product_id,
        parent_id=parent_id,
        exported=why is None,
        dropped_because=why,
        attributes=[
            AttributePreview(
                attribute=name,
                steps=[TraceStepOut(stage=s.stage, value=s.value, rule=s.rule) for s in steps],
            )
            for name, steps in traces
        ],
        export=view.export_row(target),
        unmapped={name: sorted(values) for name, values in view.ctx.unmapped.items()},
    )


async def _analyze(
    session: AsyncSession, feed_id: str, category_id: str | None
) -> tuple[ReadinessAnalyzer, list[Any]]:
    feed = await feeds.get_feed(session, feed_id)
    view = await pipeline.open_view(session, feed)
    # What the taxonomy cache holds (docs/feeds.md, "Taxonomies over HTTP").
    analyzer = await taxonomy_cache.readiness_analyzer(session, feed)
    results = []
    async for product in pipeline.products(session, view):
        if not product.rows:
            continue
        if category_id is not None and product.rows[0].get(CATEGORY_ID) != category_id:
            continue
        results.append(analyzer.add(product.rows))
    return analyzer, results


@router.get(
    "/v1/feeds/{feed_id}/readiness",
    dependencies=READ,
    summary="Readiness per export attribute: share passing its tests, status, values",
    responses=error_responses(403, 404),
)
async def readiness(
    feed_id: str, session: SessionDep, category_id: str | None = None
) -> ReadinessReport:
    analyzer, _ = await _analyze(session, feed_id, category_id)
    return analyzer.report()


@router.get(
    "/v1/feeds/{feed_id}/issues",
    dependencies=READ,
    summary="Every product's issues (JSON, or CSV with format=csv)",
    response_model=list[dict[str, str]],
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **error_responses(403, 404),
    },
)
async def issues(
    feed_id: str,
    session: SessionDep,
    category_id: str | None = None,
    fmt: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Any:
    _, results = await _analyze(session, feed_id, category_id)
    found = [issue for result in results for issue in result.issues]
    if fmt == "csv":

        async def lines() -> AsyncIterator[str]:
            for line in render_issues_csv(found):
                yield line

        return StreamingResponse(
            lines(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="issues-{feed_id}.csv"'},
        )
    return JSONResponse([issue_dict(i) for i in found])


__all__ = ["ISSUE_FIELDS", "router"]

"""HTTP API of catalog-sync: feeds, feed files, product intake (docs/feeds.md).

Every route is authenticated (`TTS_API_KEYS`, tts_common.api_auth); reads need the scope
`catalog:read`, changes `catalog:write`. Routes pass the request's session (`SessionDep`)
to the service layer, which only flushes; the dependency commits.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from tts_common.api_auth import require_scope
from tts_common.deps import SessionDep
from tts_common.errors import AppError, BadRequest, NotFound
from tts_common.openapi import error_responses

from catalog_sync import autoaccept, feedfile, feeds, intake, lists, products
from catalog_sync.intake import MassDeletion
from catalog_sync.schemas import FeedIn, FeedOut, FeedPatch, ProductOut, UploadOut, has_nul
from catalog_sync.sources import SourceOptions

log = logging.getLogger(__name__)

READ = [Depends(require_scope("catalog:read"))]
WRITE = [Depends(require_scope("catalog:write"))]
Format = Literal["csv", "ndjson", "shopify"]

router = APIRouter(tags=["feeds"])


def _errors(*statuses: int, described: dict[int, str] | None = None) -> dict[int | str, Any]:
    """A route's documented errors; every route may answer 403 (an API key without the scope)."""
    return error_responses(403, *statuses, described=described)


_UPLOAD_DOC = (
    "The body is the file itself (not multipart): `format=csv` (header row, any columns), "
    "`ndjson` (one JSON object per line) or `shopify` (a Shopify product CSV export); gzip is "
    "detected. Every row needs a `product_id` (Shopify: the variant SKU or an id derived from "
    "Handle + options). Bad rows are refused with their line and reason; good rows are kept."
)


# The product upload routes may receive large bodies (TTS_MAX_UPLOAD_BYTES, app.py); those
# that read a whole document into memory are allowed this much, and cap it themselves.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


async def read_capped(request: Request, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise AppError(
                f"this request's body may not exceed {limit} bytes",
                code="body_too_large",
                status_code=413,
            )
    return bytes(body)


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


def _format(request: Request, fmt: Format | None) -> str:
    if fmt is not None:
        return fmt
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("application/x-ndjson", "application/ndjson", "application/jsonl"):
        return "ndjson"
    if ctype in ("text/csv", "application/csv"):
        return "csv"
    raise BadRequest(
        "say what the body is: ?format=csv|ndjson|shopify, or Content-Type text/csv or "
        "application/x-ndjson",
        code="format_required",
    )


@router.post(
    "/v1/feeds",
    status_code=201,
    dependencies=WRITE,
    summary="Create a feed (and its product source when new)",
    responses=_errors(409),
)
async def create_feed(body: FeedIn, session: SessionDep) -> FeedOut:
    return FeedOut.of(await feeds.create_feed(session, body))


@router.get("/v1/feeds", dependencies=READ, summary="List feeds", responses=_errors())
async def list_feeds(session: SessionDep) -> list[FeedOut]:
    return [FeedOut.of(f) for f in await feeds.list_feeds(session)]


@router.get("/v1/feeds/{feed_id}", dependencies=READ, summary="One feed", responses=_errors(404))
async def get_feed(feed_id: str, session: SessionDep) -> FeedOut:
    return FeedOut.of(await feeds.get_feed(session, feed_id))


@router.patch(
    "/v1/feeds/{feed_id}",
    dependencies=WRITE,
    summary="Change a feed's settings",
    responses=_errors(404),
)
async def update_feed(feed_id: str, body: FeedPatch, session: SessionDep) -> FeedOut:
    return FeedOut.of(await feeds.update_feed(session, feed_id, body))


@router.delete(
    "/v1/feeds/{feed_id}",
    dependencies=WRITE,
    summary="Delete a feed (its source and products stay for other feeds)",
    responses=_errors(404),
)
async def delete_feed(feed_id: str, session: SessionDep) -> FeedOut:
    return FeedOut.of(await feeds.delete_feed(session, feed_id))


async def _upload(
    request: Request,
    session: SessionDep,
    feed_id: str,
    fmt: Format | None,
    kind: intake.Kind,
    force: bool,
) -> JSONResponse:
    feed = await feeds.get_feed(session, feed_id)
    source = await feeds.ensure_source(session, feed.source_id)
    options = SourceOptions.model_validate(source.options) if source.options else None
    try:
        report = await intake.ingest(
            session,
            source_id=feed.source_id,
            chunks=_chunks(request),
            fmt=_format(request, fmt),
            kind=kind,
            force=force,
            max_delete_share=feed.max_delete_share,
            feed_id=feed.id,
            options=options,
        )
    except MassDeletion as exc:
        return JSONResponse(
            {"error": exc.code, "detail": exc.detail, "upload": exc.report.as_dict()},
            status_code=409,
        )
    # New values of the mapped attributes join their lists (unmapped) for every feed reading
    # this source: no need to recreate a list when the catalogue grows.
    for reader in await feeds.feeds_of_source(session, feed.source_id):
        await lists.collect_values(session, reader)
        await autoaccept.apply_declared(session, reader)
    return JSONResponse(report.as_dict())


@router.put(
    "/v1/feeds/{feed_id}/products",
    dependencies=WRITE,
    summary="Upload a full snapshot of the feed's products (absent rows are deleted)",
    description=_UPLOAD_DOC
    + " More than the feed's `max_delete_share` deleted is refused with 409 unless force=true.",
    response_model=UploadOut,
    responses=_errors(400, 404, 409, 422, described={409: "the mass-deletion guard refused"}),
)
async def put_products(
    feed_id: str,
    request: Request,
    session: SessionDep,
    fmt: Annotated[Format | None, Query(alias="format")] = None,
    force: bool = False,
) -> JSONResponse:
    return await _upload(request, session, feed_id, fmt, "snapshot", force)


@router.post(
    "/v1/feeds/{feed_id}/products:upsert",
    dependencies=WRITE,
    summary="Add or replace some products (no deletions)",
    description=_UPLOAD_DOC,
    response_model=UploadOut,
    responses=_errors(
        400, 404, 409, 422, described={409: "a product event wrote a row meanwhile; retry"}
    ),
)
async def upsert_products(
    feed_id: str,
    request: Request,
    session: SessionDep,
    fmt: Annotated[Format | None, Query(alias="format")] = None,
) -> JSONResponse:
    return await _upload(request, session, feed_id, fmt, "upsert", False)


@router.get(
    "/v1/feeds/{feed_id}/products/{product_id}",
    dependencies=READ,
    summary="One stored product row (the import stage)",
    responses=_errors(404),
)
async def get_product(feed_id: str, product_id: str, session: SessionDep) -> ProductOut:
    feed = await feeds.get_feed(session, feed_id)
    return ProductOut(**await products.get_one(session, feed.source_id, product_id))


@router.delete(
    "/v1/feeds/{feed_id}/products/{product_id}",
    dependencies=WRITE,
    status_code=204,
    summary="Delete one product row",
    responses=_errors(404),
)
async def delete_product(feed_id: str, product_id: str, session: SessionDep) -> Response:
    feed = await feeds.get_feed(session, feed_id)
    if not await products.delete_one(session, feed.source_id, product_id):
        raise NotFound(f"product {product_id} is not in feed {feed.name}")
    return Response(status_code=204)


# --- feed files ---------------------------------------------------------------------------


class AppliedOut(BaseModel):
    feed: FeedOut
    created: bool
    changed: bool


class FileProblemOut(BaseModel):
    path: str
    line: int | None
    problem: str


class InvalidFileOut(BaseModel):
    error: str
    detail: str
    problems: list[FileProblemOut]


@router.post(
    "/v1/feeds:apply",
    dependencies=WRITE,
    summary="Create or update a feed from a feed file (YAML), idempotently",
    description="The body is the YAML feed file (docs/feeds.md). An invalid file is refused "
    "whole with every problem: its path in the file, its line and what to fix.",
    response_model=AppliedOut,
    responses={
        **_errors(413),
        422: {"model": InvalidFileOut, "description": "the file was refused whole"},
    },
)
async def apply_feed_file(request: Request, session: SessionDep) -> JSONResponse:
    raw = await read_capped(request)
    try:
        applied = await feedfile.apply(session, raw)
    except feedfile.InvalidFeedFile as exc:
        return JSONResponse(
            {
                "error": exc.code,
                "detail": exc.detail,
                "problems": [p.as_dict() for p in exc.problems],
            },
            status_code=422,
        )
    body = AppliedOut(
        feed=FeedOut.of(applied.feed), created=applied.created, changed=applied.changed
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=201 if applied.created else 200)


@router.get(
    "/v1/feeds/{feed_id}/file",
    dependencies=READ,
    summary="The feed as a feed file (YAML); applying it changes nothing",
    response_class=Response,
    responses={
        200: {"content": {"application/yaml": {"schema": {"type": "string"}}}},
        **_errors(404),
    },
)
async def export_feed_file(feed_id: str, session: SessionDep) -> Response:
    return Response(await feedfile.export(session, feed_id), media_type="application/yaml")


# --- mapping lists ------------------------------------------------------------------------


class ListOut(BaseModel):
    name: str
    taxonomy: str
    attribute: str
    accept_above_score: float | None
    values: int
    mapped: int
    unmapped: int


class ListRowOut(BaseModel):
    source_value: str
    replacement: str | None
    products: int = Field(
        description="parents (TikTok products) of the feed whose attribute holds the value"
    )


@router.get(
    "/v1/feeds/{feed_id}/lists",
    dependencies=READ,
    summary="The feed's mapping lists",
    responses=_errors(404),
)
async def get_lists(feed_id: str, session: SessionDep) -> list[ListOut]:
    feed = await feeds.get_feed(session, feed_id)
    return [
        ListOut(
            name=s.name,
            taxonomy=s.taxonomy,
            attribute=s.attribute,
            accept_above_score=s.accept_above_score,
            values=s.values,
            mapped=s.mapped,
            unmapped=s.unmapped,
        )
        for s in await lists.summaries(session, feed)
    ]


@router.get(
    "/v1/feeds/{feed_id}/lists/{name}",
    dependencies=READ,
    summary="A list's rows with their product counts (JSON, or CSV for bulk mapping)",
    description="`products`: the feed's parents whose attribute holds the value. "
    "`sort=products` puts the values most products hold first; `min_products` keeps the "
    "values at least that many hold. The CSV (format=csv) keeps the columns an upload takes.",
    response_model=list[ListRowOut],
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **_errors(404),
    },
)
async def get_list(
    feed_id: str,
    name: str,
    session: SessionDep,
    unmapped: bool = False,
    fmt: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
    sort: Literal["value", "products"] = "value",
    min_products: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    feed = await feeds.get_feed(session, feed_id)
    entries = await lists.counted_rows(
        session,
        feed,
        lists.find_list(feed, name),
        unmapped_only=unmapped,
        min_products=min_products,
        sort=sort,
    )
    if fmt == "csv":
        return Response(
            lists.to_csv([(e.source_value, e.replacement) for e in entries]), media_type="text/csv"
        )
    return JSONResponse(
        [
            {"source_value": e.source_value, "replacement": e.replacement, "products": e.products}
            for e in entries
        ]
    )


@router.put(
    "/v1/feeds/{feed_id}/lists/{name}/mappings",
    dependencies=WRITE,
    summary="Set replacements: a CSV like the download, or JSON {source value: term}",
    responses=_errors(400, 404, 413),
)
async def put_mappings(
    feed_id: str, name: str, request: Request, session: SessionDep
) -> dict[str, int]:
    feed = await feeds.get_feed(session, feed_id)
    lst = lists.find_list(feed, name)
    raw = await read_capped(request)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("text/csv", "application/csv"):
        mappings = lists.from_csv(raw.decode("utf-8-sig", "replace"))
    else:
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BadRequest("the body is neither JSON nor text/csv", code="bad_mappings") from None
        if not isinstance(parsed, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in parsed.items()
        ):
            raise BadRequest(
                'expected a JSON object {"source value": "replacement term" | null}',
                code="bad_mappings",
            )
        mappings = parsed
    if has_nul(mappings):
        raise BadRequest(
            "values may not contain NUL characters or lone surrogates", code="bad_mappings"
        )
    return {"updated": await lists.set_mappings(session, lst, mappings)}

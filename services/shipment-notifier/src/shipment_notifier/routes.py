"""HTTP API of shipment-notifier: shipment exports (and their file), shipment intake (one,
or a bulk NDJSON/CSV upload), shipments, unmapped carriers, the feedback file
(docs/shipments.md).

Every route is authenticated (`TTS_API_KEYS`, tts_common.api_auth); reads need the scope
`shipments:read`, changes `shipments:write`. Routes pass the request's session
(`SessionDep`) to the service layer, which only flushes; the dependency commits.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from tts_common.api_auth import require_scope
from tts_common.deps import SessionDep
from tts_common.errors import BadRequest
from tts_common.openapi import error_responses

from shipment_notifier import exports, intake, shipments
from shipment_notifier.exports import ExportIn, ExportOut, ExportPatch
from shipment_notifier.shipments import ShipmentOut, ShipmentPage, UnmappedCarrier

READ = [Depends(require_scope("shipments:read"))]
WRITE = [Depends(require_scope("shipments:write"))]

router = APIRouter()


def _errors(*statuses: int) -> dict[int | str, Any]:
    return error_responses(403, *statuses)


# --- exports -----------------------------------------------------------------------------


@router.post(
    "/v1/shipment-exports",
    status_code=201,
    dependencies=WRITE,
    tags=["exports"],
    responses=_errors(409),
    summary="Create a shipment export (connection, active, feedback, carriers, field mapping)",
)
async def create_export(body: ExportIn, session: SessionDep) -> ExportOut:
    return await exports.create(session, body)


@router.get("/v1/shipment-exports", dependencies=READ, tags=["exports"], responses=_errors())
async def list_exports(session: SessionDep) -> list[ExportOut]:
    return await exports.list_all(session)


@router.put(
    "/v1/shipment-exports:apply",
    dependencies=WRITE,
    tags=["exports"],
    responses=_errors(400, 409, 422),
    summary="Apply an export file (YAML): create the export it names, or update it",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
async def apply_export(request: Request, session: SessionDep, response: Response) -> ExportOut:
    out, changed = await exports.apply_file(session, await request.body())
    response.headers["X-Export-Changed"] = "true" if changed else "false"
    return out


@router.get(
    "/v1/shipment-exports/{export_id}", dependencies=READ, tags=["exports"], responses=_errors(404)
)
async def get_export(export_id: str, session: SessionDep) -> ExportOut:
    return exports.to_out(await exports.get(session, export_id))


@router.get(
    "/v1/shipment-exports/{export_id}/file",
    dependencies=READ,
    tags=["exports"],
    # No response_class: the errors are JSON (ErrorBody), only the 200 is YAML.
    responses={
        200: {
            "description": "The export file",
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        },
        **_errors(404),
    },
    summary="The export as a file that `:apply` takes back unchanged",
)
async def export_file(export_id: str, session: SessionDep) -> Response:
    out = exports.to_out(await exports.get(session, export_id))
    return Response(exports.dump_file(out), media_type="application/yaml")


@router.patch(
    "/v1/shipment-exports/{export_id}",
    dependencies=WRITE,
    tags=["exports"],
    responses=_errors(404, 409),
)
async def patch_export(export_id: str, body: ExportPatch, session: SessionDep) -> ExportOut:
    return await exports.update(session, export_id, body)


@router.delete(
    "/v1/shipment-exports/{export_id}",
    status_code=204,
    dependencies=WRITE,
    tags=["exports"],
    responses=_errors(404),
)
async def delete_export(export_id: str, session: SessionDep) -> Response:
    await exports.delete(session, export_id)
    return Response(status_code=204)


@router.get(
    "/v1/shipment-exports/{export_id}/carriers/unmapped",
    dependencies=READ,
    tags=["exports"],
    responses=_errors(404),
    summary="Carrier names that resolved to no TikTok shipping provider (map them as aliases)",
)
async def unmapped_carriers(export_id: str, session: SessionDep) -> list[UnmappedCarrier]:
    export = await exports.get(session, export_id)
    return await shipments.unmapped(session, export.id)


@router.get(
    "/v1/shipment-exports/{export_id}/feedback",
    dependencies=READ,
    tags=["exports"],
    summary="The feedback file: per shipment each outcome (deferred, notified, rejected) and why",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/jsonl": {"schema": {"type": "string"}},
            }
        },
        **_errors(404),
    },
)
async def feedback(
    export_id: str,
    session: SessionDep,
    fmt: Annotated[Literal["csv", "jsonl"], Query(alias="format")] = "jsonl",
) -> StreamingResponse:
    export = await exports.get(session, export_id)
    rows = await shipments.feedback(session, export.id)

    async def body() -> AsyncIterator[bytes]:
        if fmt == "jsonl":
            for row in rows:
                yield orjson.dumps(row) + b"\n"
            return
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(shipments.FEEDBACK_FIELDS)
        for row in rows:
            writer.writerow(["" if row[k] is None else row[k] for k in shipments.FEEDBACK_FIELDS])
        yield out.getvalue().encode()

    media = "text/csv" if fmt == "csv" else "application/jsonl"
    return StreamingResponse(
        body(),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="feedback-{export.name}.{fmt}"'},
    )


# --- intake ------------------------------------------------------------------------------


class AcceptedOut(BaseModel):
    id: str
    duplicate: bool  # the same (order, tracking number) was received before: nothing new


class LineErrorOut(BaseModel):
    line: int
    field: str
    problem: str


class UploadOut(BaseModel):
    accepted: int
    duplicates: int
    ids: list[str]  # per accepted line, in order
    errors: list[LineErrorOut]


SHIPMENT_EXAMPLE = {
    "order_id": "576461413038785752",
    "tracking_number": "1Z999AA10123456784",
    "carrier": "Royal Mail 24",
    "shipped_at": "2026-12-01T10:00:00Z",
}


async def _mapping(session: SessionDep, export_id: str | None) -> tuple[dict[str, str], str | None]:
    if export_id is None:
        return {}, None
    export = await exports.get(session, export_id)
    return export.field_mapping, export.id


@router.post(
    "/v1/shipments",
    status_code=202,
    dependencies=WRITE,
    tags=["shipments"],
    responses=_errors(404),
    summary="Receive one shipment (the notifier's fields, or the OMS's payload with export_id)",
)
async def post_shipment(
    session: SessionDep,
    payload: Annotated[dict[str, Any], Body(examples=[SHIPMENT_EXAMPLE])],
    export_id: Annotated[
        str | None, Query(description="map the payload with this export's field mapping")
    ] = None,
) -> AcceptedOut:
    mapping, export = await _mapping(session, export_id)
    parsed = intake.Parsed()
    intake.validate(payload, mapping, 1, parsed)
    if parsed.errors:
        raise RequestValidationError(
            [
                {"loc": ("body", e.field), "msg": e.message, "type": "value_error"}
                for e in parsed.errors
            ]
        )
    accepted = await intake.accept(session, parsed.items[0][1], source="http", export_id=export)
    return AcceptedOut(id=accepted.id, duplicate=accepted.duplicate)


@router.post(
    "/v1/shipments:upload",
    status_code=202,
    dependencies=WRITE,
    tags=["shipments"],
    responses=_errors(400, 404),
    summary="Receive many shipments: NDJSON or CSV, one per line; errors per line",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def upload_shipments(
    request: Request,
    session: SessionDep,
    fmt: Annotated[Literal["ndjson", "csv"] | None, Query(alias="format")] = None,
    export_id: Annotated[str | None, Query()] = None,
) -> UploadOut:
    kind = fmt or ("csv" if "csv" in request.headers.get("content-type", "") else "ndjson")
    mapping, export = await _mapping(session, export_id)
    raw = await request.body()
    try:
        parsed = intake.parse_upload(raw, kind, mapping)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BadRequest(
            f"the upload is not readable {kind}: {exc}", code="invalid_upload"
        ) from None
    ids: list[str] = []
    duplicates = 0
    for _, item in parsed.items:
        accepted = await intake.accept(session, item, source="upload", export_id=export)
        ids.append(accepted.id)
        duplicates += accepted.duplicate
    return UploadOut(
        accepted=len(ids) - duplicates,
        duplicates=duplicates,
        ids=ids,
        errors=[LineErrorOut(line=e.line, field=e.field, problem=e.message) for e in parsed.errors],
    )


@router.get("/v1/shipments", dependencies=READ, tags=["shipments"], responses=_errors(400))
async def list_shipments(
    session: SessionDep,
    status: Annotated[
        Literal["queued", "deferred", "sending", "notified", "rejected", "superseded"] | None,
        Query(),
    ] = None,
    order_id: str | None = None,
    export_id: str | None = None,
    code: str | None = None,
    tracking_number: str | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    page_token: str | None = None,
) -> ShipmentPage:
    return await shipments.list_page(
        session,
        status=status,
        order_id=order_id,
        export_id=export_id,
        code=code,
        tracking_number=tracking_number,
        created_from=created_from,
        created_to=created_to,
        limit=limit,
        page_token=page_token,
    )


@router.get(
    "/v1/shipments/{shipment_id}", dependencies=READ, tags=["shipments"], responses=_errors(404)
)
async def get_shipment(shipment_id: str, session: SessionDep) -> ShipmentOut:
    return await shipments.get(session, shipment_id)

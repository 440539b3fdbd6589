"""HTTP API of order-ingest (docs/orders.md): order imports, their runs, orders, webhooks.

Authenticated routes (`TTS_API_KEYS`): reading orders and imports needs `orders:read`,
changing imports or starting runs `orders:write`. The TikTok webhook is public: its
signature authenticates it. Routes pass the request's session (`SessionDep`) to the service
layer, which only flushes; the dependency commits before the answer is sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, ConfigDict
from tiktok_shop.webhooks import WebhookEvent
from tts_common.api_auth import require_scope
from tts_common.deps import SessionDep
from tts_common.errors import BadRequest, NotFound
from tts_common.openapi import error_responses

from order_ingest import imports, orders_api, poller, webhooks
from order_ingest.imports import ImportIn, ImportOut, ImportPatch
from order_ingest.models import STATUSES

READ = [Depends(require_scope("orders:read"))]
WRITE = [Depends(require_scope("orders:write"))]

router = APIRouter(tags=["orders"])
public = APIRouter(tags=["webhooks"])


def _errors(*statuses: int) -> dict[int | str, Any]:
    return error_responses(403, *statuses)


@router.post(
    "/v1/order-imports",
    status_code=201,
    dependencies=WRITE,
    responses=_errors(409),
    summary="Create an order import",
)
async def create_import(body: ImportIn, session: SessionDep) -> ImportOut:
    return await imports.create(session, body)


@router.get("/v1/order-imports", dependencies=READ, responses=_errors())
async def list_imports(session: SessionDep) -> list[ImportOut]:
    return await imports.list_imports(session)


@router.get("/v1/order-imports/{import_id}", dependencies=READ, responses=_errors(404))
async def get_import(import_id: str, session: SessionDep) -> ImportOut:
    return await imports.get(session, import_id)


@router.patch("/v1/order-imports/{import_id}", dependencies=WRITE, responses=_errors(404, 409))
async def patch_import(import_id: str, body: ImportPatch, session: SessionDep) -> ImportOut:
    return await imports.update(session, import_id, body)


@router.delete(
    "/v1/order-imports/{import_id}", status_code=204, dependencies=WRITE, responses=_errors(404)
)
async def delete_import(import_id: str, session: SessionDep) -> Response:
    await imports.delete(session, import_id)
    return Response(status_code=204)


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["incremental", "backfill"] = "incremental"


@router.post(
    "/v1/order-imports/{import_id}/runs",
    status_code=202,
    dependencies=WRITE,
    responses=_errors(404, 409),
    summary="Start a pass now (incremental, or a backfill of the whole window)",
)
async def start_run(
    import_id: str, session: SessionDep, body: RunIn | None = None
) -> dict[str, Any]:
    found = await imports.get(session, import_id)
    return await poller.trigger(session, found.id, (body or RunIn()).mode)


@router.get("/v1/order-imports/{import_id}/runs", dependencies=READ, responses=_errors(404))
async def list_runs(import_id: str, session: SessionDep) -> list[dict[str, Any]]:
    found = await imports.get(session, import_id)
    return await poller.list_runs(session, found.id)


@router.get(
    "/v1/order-imports/{import_id}/runs/{run_id}", dependencies=READ, responses=_errors(404)
)
async def get_run(import_id: str, run_id: str, session: SessionDep) -> dict[str, Any]:
    found = await imports.get(session, import_id)
    run = await poller.get_run(session, found.id, run_id)
    if run is None:
        raise NotFound(f"no run {run_id} of import {import_id}", code="run_not_found")
    return run


def _statuses(raw: list[str] | None) -> list[str]:
    out: list[str] = []
    for part in raw or []:
        for name in part.split(","):
            name = name.strip().upper()
            if not name:
                continue
            if name not in STATUSES:
                raise BadRequest(
                    f"unknown order status {name!r}; known: {', '.join(STATUSES)}",
                    code="bad_status",
                )
            out.append(name)
    return out


@router.get(
    "/v1/orders",
    dependencies=READ,
    responses=_errors(400),
    summary="Orders in update-sequence order (a stable cursor: nothing missed or repeated)",
)
async def list_orders(
    session: SessionDep,
    updated_after: Annotated[
        datetime | None, Query(description="only orders whose TikTok update_time is later")
    ] = None,
    status: Annotated[list[str] | None, Query(description="statuses, repeated or a,b")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    ua = int(updated_after.timestamp()) if updated_after is not None else None
    return await orders_api.page(
        session, cursor=cursor, limit=limit, statuses=_statuses(status), updated_after=ua
    )


@router.get("/v1/orders/{order_id}", dependencies=READ, responses=_errors(404))
async def get_order(order_id: str, session: SessionDep) -> dict[str, Any]:
    return await orders_api.get(session, order_id)


@public.post(
    "/v1/webhooks/tiktok",
    summary="TikTok webhooks (signature verified, stored once, processed asynchronously)",
    responses=error_responses(
        described={
            400: "Signed, but not a TikTok notification (`bad_webhook`)",
            401: "The signature does not verify (`bad_signature`)",
        }
    ),
    # Read raw (the signature covers the exact bytes), so FastAPI cannot infer the body.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": WebhookEvent.model_json_schema()}},
        }
    },
)
async def tiktok_webhook(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, str]:
    # No request session: the webhook intake commits (a group commit, order_ingest.webhooks)
    # before this answers.
    runtime = request.app.state.runtime
    raw = await request.body()
    result = await webhooks.receive(runtime, raw, authorization)
    if result == "accepted":
        webhooks.wake(runtime)
    return {"result": result}

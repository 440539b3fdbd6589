"""HTTP routes: admin API (API key), OAuth callback and TikTok webhook (public), internal lease."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import HTMLResponse
from tiktok_shop.webhooks import WebhookEvent
from tts_common.deps import SessionDep
from tts_common.errors import NotFound
from tts_common.openapi import error_responses

from auth_broker.deps import AdminDep, BrokerDep, ServiceDep
from auth_broker.errors import AuthorizationFailed, BadState, RevokedDuringAuthorization
from auth_broker.pages import connected, page
from auth_broker.schemas import (
    AuthorizeLink,
    ConnectionCreated,
    ConnectionOut,
    CreateConnection,
    LeaseRequest,
    TokenLease,
)

log = logging.getLogger(__name__)

admin = APIRouter(
    prefix="/v1/connections",
    tags=["connections"],
    dependencies=[AdminDep],
    responses=error_responses(described={401: "An admin API key is required"}),
)
public = APIRouter(tags=["tiktok"])
internal = APIRouter(
    prefix="/internal/v1",
    tags=["internal"],
    responses=error_responses(described={401: "Service credentials are required"}),
)

NO_CONNECTION = error_responses(described={404: "No such connection"})


def _html(description: str) -> dict[str, object]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


# The seller's browser lands on the callback: every outcome is a page, not JSON.
CALLBACK_PAGES: dict[int | str, dict[str, object]] = {
    200: _html("Connected: the page names the connection and its shops"),
    400: _html("The authorization link is missing, unknown, expired or already used"),
    404: _html("The connection was deleted"),
    409: _html("The connection was revoked while TikTok Shop authorized it"),
    502: _html("TikTok Shop did not authorize the connection (the reason is on the page)"),
}


@admin.post("", status_code=201, summary="Create a connection and its authorize URL")
async def create_connection(
    body: CreateConnection, broker: BrokerDep, session: SessionDep
) -> ConnectionCreated:
    return await broker.connections.create(session, body.name, body.market.value)


@admin.get("", summary="List connections (never tokens)")
async def list_connections(broker: BrokerDep, session: SessionDep) -> list[ConnectionOut]:
    return await broker.connections.list_all(session)


@admin.get("/{connection_id}", summary="One connection (never tokens)", responses=NO_CONNECTION)
async def get_connection(
    connection_id: uuid.UUID, broker: BrokerDep, session: SessionDep
) -> ConnectionOut:
    return await broker.connections.get(session, str(connection_id))


@admin.post(
    "/{connection_id}/reauthorize",
    summary="A new authorize URL for the connection",
    responses=NO_CONNECTION,
)
async def reauthorize(
    connection_id: uuid.UUID, broker: BrokerDep, session: SessionDep
) -> AuthorizeLink:
    return await broker.connections.reauthorize(session, str(connection_id))


@admin.delete(
    "/{connection_id}",
    summary="Revoke: erase tokens, emit connection.revoked",
    responses=NO_CONNECTION,
)
async def delete_connection(
    connection_id: uuid.UUID, broker: BrokerDep, session: SessionDep
) -> ConnectionOut:
    return await broker.connections.delete(session, str(connection_id))


@public.get(
    "/v1/oauth/callback",
    response_class=HTMLResponse,
    summary="TikTok's OAuth redirect",
    responses=CALLBACK_PAGES,
)
async def oauth_callback(
    broker: BrokerDep,
    code: Annotated[str | None, Query()] = None,
    state: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    try:
        result = await broker.connections.complete_authorization(code, state)
    except BadState as exc:
        return page("Authorization link not valid", exc.detail, 400)
    except AuthorizationFailed as exc:
        return page("TikTok Shop did not authorize the connection", exc.detail, 502)
    except NotFound as exc:
        return page("Connection not found", exc.detail, 404)
    except RevokedDuringAuthorization as exc:
        return page("Connection revoked", exc.detail, 409)
    conn = result.connection
    return connected(conn.name, [f"{s.name} ({s.region})" for s in conn.shops])


@public.post(
    "/v1/webhooks/tiktok",
    summary="TikTok webhooks (signature verified)",
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
    broker: BrokerDep,
    session: SessionDep,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, str]:
    raw = await request.body()
    return {"result": await broker.webhooks.handle(session, raw, authorization)}


@internal.post(
    "/connections/{connection_id}/token",
    summary="Lease a valid access token (services only)",
    responses=error_responses(
        described={
            404: "No such connection",
            409: "The connection holds no usable token (pending, expired or revoked)",
            503: "TikTok Shop did not answer the token refresh, or the request timed out; retry",
        }
    ),
)
async def lease_token(
    connection_id: uuid.UUID,
    broker: BrokerDep,
    caller: ServiceDep,
    response: Response,
    body: LeaseRequest | None = None,
) -> TokenLease:
    response.headers["Cache-Control"] = "no-store"
    stale = body.stale_token_sha256 if body else None
    lease = await broker.leaser.lease(str(connection_id), stale)
    log.debug("token leased", extra={"connection_id": lease.connection_id, "caller": caller})
    return lease

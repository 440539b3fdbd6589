"""HTTP routes: admin API (API key), OAuth callback and TikTok webhook (public), internal lease."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import HTMLResponse
from tts_common.deps import SessionDep
from tts_common.errors import NotFound

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

admin = APIRouter(prefix="/v1/connections", tags=["connections"], dependencies=[AdminDep])
public = APIRouter(tags=["tiktok"])
internal = APIRouter(prefix="/internal/v1", tags=["internal"])


@admin.post("", status_code=201, summary="Create a connection and its authorize URL")
async def create_connection(
    body: CreateConnection, broker: BrokerDep, session: SessionDep
) -> ConnectionCreated:
    return await broker.connections.create(session, body.name, body.market.value)


@admin.get("", summary="List connections (never tokens)")
async def list_connections(broker: BrokerDep, session: SessionDep) -> list[ConnectionOut]:
    return await broker.connections.list_all(session)


@admin.get("/{connection_id}", summary="One connection (never tokens)")
async def get_connection(
    connection_id: uuid.UUID, broker: BrokerDep, session: SessionDep
) -> ConnectionOut:
    return await broker.connections.get(session, str(connection_id))


@admin.post("/{connection_id}/reauthorize", summary="A new authorize URL for the connection")
async def reauthorize(
    connection_id: uuid.UUID, broker: BrokerDep, session: SessionDep
) -> AuthorizeLink:
    return await broker.connections.reauthorize(session, str(connection_id))


@admin.delete("/{connection_id}", summary="Revoke: erase tokens, emit connection.revoked")
async def delete_connection(
    connection_id: uuid.UUID, broker: BrokerDep, session: SessionDep
) -> ConnectionOut:
    return await broker.connections.delete(session, str(connection_id))


@public.get("/v1/oauth/callback", response_class=HTMLResponse, summary="TikTok's OAuth redirect")
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


@public.post("/v1/webhooks/tiktok", summary="TikTok webhooks (signature verified)")
async def tiktok_webhook(
    request: Request,
    broker: BrokerDep,
    session: SessionDep,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, str]:
    raw = await request.body()
    return {"result": await broker.webhooks.handle(session, raw, authorization)}


@internal.post(
    "/connections/{connection_id}/token", summary="Lease a valid access token (services only)"
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

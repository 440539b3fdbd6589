"""Connections: the auth-broker's shops, their status and expiry, and the connect flow.

"Connect" creates a broker connection and shows the link to TikTok Shop's authorize page
(the seller approves there; TikTok redirects to the broker's OAuth callback). The broker
answers no token to the console, and the console renders none.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console.backends import BackendRefused
from console.web import FormDep, Ident, SessionDep, backends, render, text

router = APIRouter()
WARN_BEFORE = timedelta(days=14)


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def warnings_for(conn: dict[str, Any], now: datetime) -> list[str]:
    """Why an operator should act on this connection soon (an ending authorization)."""
    out = []
    status = conn.get("status")
    if status == "expiring":
        out.append("TikTok says the authorization ends soon: ask the seller to authorize again.")
    if status in ("revoked", "expired"):
        out.append(
            f"The connection is {status}: its feeds are paused until it is authorized again."
        )
    ends = _parse(conn.get("authorization_expires_at"))
    if ends is not None and status == "authorized" and ends - now < WARN_BEFORE:
        out.append(f"The authorization ends {ends:%Y-%m-%d %H:%M} UTC.")
    refresh = _parse(conn.get("refresh_token_expires_at"))
    if refresh is not None and status == "authorized" and refresh - now < WARN_BEFORE:
        out.append(f"The refresh token ends {refresh:%Y-%m-%d %H:%M} UTC: authorize again before.")
    return out


async def _page(request: Request, errors: dict[str, str] | None = None, **values: Any) -> Response:
    connections = await backends(request).broker.get("/v1/connections")
    now = datetime.now(UTC)
    rows = [{**c, "warnings": warnings_for(c, now)} for c in connections]
    return render(
        request,
        "connections.html",
        {"connections": rows, "errors": errors or {}, "values": values},
        status_code=422 if errors else 200,
    )


@router.get("/connections", include_in_schema=False)
async def connections(request: Request, session: SessionDep) -> Response:
    return await _page(request)


@router.post("/connections", include_in_schema=False)
async def connect(request: Request, form: FormDep) -> Response:
    name, market = text(form, "name"), text(form, "market")
    errors = {}
    if not name:
        errors["name"] = "Name the connection (e.g. the shop's name)."
    if market not in ("US", "UK"):
        errors["market"] = "Choose US or UK."
    if errors:
        return await _page(request, errors, name=name, market=market)
    try:
        created = await backends(request).broker.post(
            "/v1/connections", json={"name": name, "market": market}
        )
    except BackendRefused as exc:
        if exc.status == 422 or exc.field_errors():
            return await _page(
                request, exc.field_errors() or {"name": exc.detail}, name=name, market=market
            )
        return await _page(request, {"name": exc.detail}, name=name, market=market)
    return render(request, "connect.html", {"connection": created})


@router.post("/connections/{connection_id}/reauthorize", include_in_schema=False)
async def reauthorize(request: Request, connection_id: Ident, form: FormDep) -> Response:
    link = await backends(request).broker.post(f"/v1/connections/{connection_id}/reauthorize")
    conn = await backends(request).broker.get(f"/v1/connections/{connection_id}")
    return render(request, "connect.html", {"connection": {**conn, **link}})

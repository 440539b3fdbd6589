"""Request dependencies: the wired services and the two kinds of caller credentials.

All `async def`, though none awaits: FastAPI runs a plain `def` dependency in its thread pool,
and two thread hand-offs per request were a third of a token lease's CPU (bench/README.md).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from tts_common.errors import Unauthorized

from auth_broker.config import Settings
from auth_broker.leasing import TokenLeaser
from auth_broker.service import ConnectionService
from auth_broker.webhooks import WebhookHandler


@dataclass
class Broker:
    """The service layer, built once per app in the lifespan (see app.py)."""

    settings: Settings
    connections: ConnectionService
    leaser: TokenLeaser
    webhooks: WebhookHandler


async def get_broker(request: Request) -> Broker:
    broker: Broker = request.app.state.runtime.extras["broker"]
    return broker


BrokerDep = Annotated[Broker, Depends(get_broker)]


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _matches(presented: str, allowed: list[str]) -> str | None:
    """The allowed value equal to `presented` (constant-time per candidate), else None."""
    found = None
    for candidate in allowed:
        if hmac.compare_digest(presented.encode(), candidate.encode()):
            found = candidate
    return found


async def require_admin(
    broker: BrokerDep,
    authorization: Annotated[str | None, Header()] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> None:
    presented = x_api_key or _bearer(authorization)
    if not presented or _matches(presented, broker.settings.admin_keys()) is None:
        raise Unauthorized(
            "an admin API key is required (Authorization: Bearer <key> or X-API-Key)"
        )


async def require_service(
    broker: BrokerDep, authorization: Annotated[str | None, Header()] = None
) -> str:
    """The calling service's name, from its credential (`Authorization: Bearer <secret>`)."""
    presented = _bearer(authorization)
    credentials = broker.settings.service_credential_map()
    match = _matches(presented, list(credentials)) if presented else None
    if match is None:
        raise Unauthorized("service credentials are required (Authorization: Bearer <credential>)")
    return credentials[match]


AdminDep = Depends(require_admin)
ServiceDep = Annotated[str, Depends(require_service)]

"""Connection events, queued in the outbox inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.events import CONNECTION_CHANGED, make_event
from tts_common.logging import correlation_id
from tts_common.outbox import add_event

from auth_broker.models import Connection

SOURCE = "/auth-broker"


async def emit(
    session: AsyncSession,
    conn: Connection,
    event_type: str,
    reason: str | None = None,
    **extra: datetime | None,
) -> None:
    """Queue `event_type` for `conn` (key = connection id, so one connection's events stay ordered)."""
    data: dict[str, Any] = {
        "connection_id": conn.id,
        "market": conn.market,
        "shop_ids": [s.shop_id for s in conn.shops],
        "reason": reason,
        **{k: v for k, v in extra.items() if v is not None},
    }
    event = make_event(event_type, SOURCE, conn.id, data, correlation_id=correlation_id.get())
    await add_event(session, CONNECTION_CHANGED, conn.id, event)

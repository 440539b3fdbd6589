"""Connection events, queued in the outbox inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.events import CONNECTION_CHANGED, CloudEvent
from tts_common.outbox import add_event


async def queue(session: AsyncSession, event: CloudEvent | None) -> None:
    """Queue a transition's event (key = connection id, so one connection's events stay ordered).

    None (the transition changed nothing) queues nothing.
    """
    if event is not None:
        await add_event(session, CONNECTION_CHANGED, event.subject, event)

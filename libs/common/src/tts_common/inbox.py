"""Inbox: the event ids each consumer group has applied, so a redelivery is a no-op.

The consumer runner (``tts_common.consumer``) calls :func:`mark_seen` in the
transaction that applies the events: a pair already there means the event was
applied before (a replay after a crash, a rebalance, a relay re-send) and is
skipped; a fresh one commits together with its effects or not at all.

The table is created by every service's first migration together with the
outbox (``tts_common.migrate.upgrade_outbox_inbox``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

# event_id is TEXT, not UUID: CloudEvents ids are arbitrary strings and outside
# producers (PIM, OMS) choose their own.
INBOX_DDL = """CREATE TABLE IF NOT EXISTS inbox (
    consumer_group  TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    processed_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, event_id)
);
"""

INBOX_DROP_DDL = """DROP TABLE IF EXISTS inbox;
"""

# One array parameter instead of a multi-row VALUES list: the statement text
# stays constant (prepared once) and costs nothing to compile.
_INBOX_INSERT = text(
    "INSERT INTO inbox (consumer_group, event_id)"
    " SELECT :group, unnest(CAST(:ids AS text[]))"
    " ON CONFLICT DO NOTHING RETURNING event_id"
)


async def mark_seen(session: AsyncSession, group: str, event_ids: Sequence[str]) -> set[str]:
    """Record ``event_ids`` as applied by ``group``; return those seen for the first time.

    Runs in the caller's transaction: roll it back and the ids are fresh again.
    An id given twice in one call is returned once.
    """
    result = await session.execute(_INBOX_INSERT, {"group": group, "ids": list(event_ids)})
    return set(result.scalars())


async def prune_inbox(engine: AsyncEngine, older_than: timedelta) -> int:
    """Forget inbox entries older than ``older_than``; return how many.

    Safe once Kafka can no longer redeliver them: keep ``older_than`` above the
    topics' retention (7 days by default) plus the longest consumer outage.
    """
    async with engine.begin() as conn:
        result = await conn.execute(
            text("DELETE FROM inbox WHERE processed_at < now() - CAST(:age AS interval)"),
            {"age": older_than},
        )
    return int(result.rowcount or 0)

"""Personal-data retention: erase buyers' addresses, e-mails and messages from old orders.

With `TTS_PII_RETENTION_DAYS=N`, a worker erases, from every order created more than N days
ago (TikTok's `create_time`):

- the order's `personal` document (recipient address with the buyer's name and phone,
  e-mail, buyer message; `orders.personal`, kept apart from the rest of the order for this
  purpose): set to NULL and `personal_purged_at` stamped. The order itself, its status, line
  items and place in the pull API's update sequence stay;
- the same fields from the bodies of its push deliveries (`deliveries.body`), stamping
  `pii_purged_at`.

An order updated after its purge (TikTok still sends it) is erased again on the next pass.
Unset (the default), nothing is erased. Each batch is its own transaction (docs/architecture.md,
"The transaction rule"), so a purge of many orders never holds many row locks for long.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tts_common.app import Runtime
from tts_common.db import session_scope

from order_ingest import models

log = logging.getLogger(__name__)

# Fields of TikTok's order object ("Get Order Detail 202309") that identify or reach the
# buyer: those order-ingest keeps apart in `orders.personal` (`recipient_address` holds the
# name, phone number and address lines), and the Brazilian tax id and its name.
PERSONAL_FIELDS = tuple(dict.fromkeys((*models.PERSONAL_FIELDS, "cpf", "cpf_name")))
BATCH = 1000


class RetentionSettings(BaseModel):
    # Erase buyers' personal data from orders created more than this many days ago
    # (unset: keep it). Mixed into order-ingest's Settings.
    pii_retention_days: int | None = Field(default=None, ge=1)
    retention_interval_seconds: float = Field(default=3600.0, gt=0)


@dataclass
class Purged:
    orders: int = 0
    deliveries: int = 0


def purge_document(order: dict[str, Any]) -> dict[str, Any]:
    """TikTok's order object without the buyer's personal fields (a copy)."""
    return {k: v for k, v in order.items() if k not in PERSONAL_FIELDS}


_ORDERS = text(
    "UPDATE orders SET personal = NULL, personal_purged_at = now()"
    " WHERE id IN (SELECT id FROM orders WHERE personal IS NOT NULL AND create_time < :cutoff"
    " LIMIT :n FOR UPDATE SKIP LOCKED)"
)

# One `#-` per field: removing a path that is not there leaves the document as it is.
_STRIP = "body" + "".join(f" #- '{{data,order,{f}}}'" for f in PERSONAL_FIELDS)
_DELIVERIES = text(
    f"UPDATE deliveries SET body = {_STRIP}, pii_purged_at = now(), updated_at = now()"
    " WHERE id IN (SELECT id FROM deliveries WHERE pii_purged_at IS NULL"
    " AND coalesce(order_created_at, created_at) < :cutoff"
    " LIMIT :n FOR UPDATE SKIP LOCKED)"
)


async def purge_orders_batch(session: AsyncSession, cutoff: datetime, limit: int = BATCH) -> int:
    result = await session.execute(_ORDERS, {"cutoff": int(cutoff.timestamp()), "n": limit})
    return int(getattr(result, "rowcount", 0) or 0)


async def purge_deliveries_batch(
    session: AsyncSession, cutoff: datetime, limit: int = BATCH
) -> int:
    result = await session.execute(_DELIVERIES, {"cutoff": cutoff, "n": limit})
    return int(getattr(result, "rowcount", 0) or 0)


async def purge(
    sessions: async_sessionmaker[AsyncSession],
    days: int,
    *,
    now: datetime | None = None,
    batch: int = BATCH,
) -> Purged:
    """One full pass: every order (and delivery) older than ``days`` erased, batch by batch."""
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    done = Purged()
    for step, field in ((purge_orders_batch, "orders"), (purge_deliveries_batch, "deliveries")):
        while True:
            async with session_scope(sessions) as session:
                count = await step(session, cutoff, batch)
            setattr(done, field, getattr(done, field) + count)
            if count < batch:
                break
    return done


async def retention_worker(rt: Runtime) -> None:
    """The app's retention worker: a pass every `retention_interval_seconds` when enabled."""
    settings: Any = rt.settings
    days: int | None = settings.pii_retention_days
    if days is None:
        return
    while True:
        try:
            done = await purge(rt.sessions, days)
            if done.orders or done.deliveries:
                log.info(
                    "personal data purged",
                    extra={"orders": done.orders, "deliveries": done.deliveries, "days": days},
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("retention pass failed")
        await asyncio.sleep(settings.retention_interval_seconds)

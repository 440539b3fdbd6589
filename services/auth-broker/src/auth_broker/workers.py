"""Background work of each replica: token refresher, ending-authorization watch, housekeeping.

The transaction rule's worker form: each step takes a session and only flushes; the loop
body in `run_background` owns the commits (one transaction per connection flagged, so one
busy row never holds back the others). The refresher (`TokenLeaser.refresh_due`) owns its
transactions, as every refresh does (leasing.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.db import session_scope

from auth_broker import repository as repo
from auth_broker import transitions
from auth_broker.context import BrokerContext
from auth_broker.leasing import TokenLeaser
from auth_broker.models import Status
from auth_broker.notify import queue

log = logging.getLogger(__name__)

# Used and expired states are kept a day (support can still see a failed attempt), receipts
# longer than TikTok's last webhook retry (12 h after the first attempt).
STATE_RETENTION = timedelta(days=1)
RECEIPT_RETENTION = timedelta(days=3)


# TikTok starts its UPCOMING_AUTHORIZATION_EXPIRATION webhooks 30 days ahead; the broker
# flags the same window itself, so a lost webhook cannot hide an ending authorization.
EXPIRY_WARNING = timedelta(days=30)


async def flag_if_ending(session: AsyncSession, connection_id: str, now: datetime) -> bool:
    """Mark one active connection whose authorization ends within 30 days `expiring` (+ event).

    Skips a row another replica holds (it is flagging or refreshing it).
    """
    conn = await repo.lock_connection(session, connection_id, skip_locked=True)
    if conn is None or conn.status != Status.ACTIVE or conn.refresh_expires_at is None:
        return False
    ends = conn.refresh_expires_at
    if ends >= now + EXPIRY_WARNING:
        return False
    reason = f"the seller's authorization ends {ends.isoformat()}; the seller must re-authorize"
    await queue(session, transitions.flag_expiring(conn, reason, ends))
    await session.flush()
    return True


async def flag_ending_authorizations(ctx: BrokerContext) -> int:
    """One pass of the ending-authorization watch; one transaction per connection."""
    now = ctx.clock()
    async with session_scope(ctx.sessions) as session:
        ids = await repo.authorizations_ending(session, now + EXPIRY_WARNING)
    flagged = 0
    for connection_id in ids:
        async with session_scope(ctx.sessions) as session:
            flagged += await flag_if_ending(session, connection_id, now)
    return flagged


async def housekeeping(ctx: BrokerContext) -> tuple[int, int]:
    now = ctx.clock()
    async with session_scope(ctx.sessions) as session:
        return await repo.purge_old(session, now - STATE_RETENTION, now - RECEIPT_RETENTION)


async def run_background(ctx: BrokerContext, leaser: TokenLeaser) -> None:
    """Each pass: refresh due tokens, flag ending authorizations, purge old rows.

    Runs at the configured interval, jittered so replicas do not pass in lockstep.
    """
    interval = ctx.settings.refresher_interval_seconds
    while True:
        try:
            renewed = await leaser.refresh_due()
            flagged = await flag_ending_authorizations(ctx)
            states, receipts = await housekeeping(ctx)
            if renewed or flagged or states or receipts:
                log.info(
                    "background pass",
                    extra={
                        "renewed": renewed,
                        "flagged_expiring": flagged,
                        "purged_states": states,
                        "purged_receipts": receipts,
                    },
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background pass failed")
        await asyncio.sleep(interval * random.uniform(0.8, 1.2))

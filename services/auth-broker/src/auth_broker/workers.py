"""Background work of each replica: the token refresher and table housekeeping."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import timedelta

from tts_common.db import session_scope

from auth_broker import repository as repo
from auth_broker.context import BrokerContext
from auth_broker.leasing import TokenLeaser

log = logging.getLogger(__name__)

# Used and expired states are kept a day (support can still see a failed attempt), receipts
# longer than TikTok's last webhook retry (12 h after the first attempt).
STATE_RETENTION = timedelta(days=1)
RECEIPT_RETENTION = timedelta(days=3)


async def housekeeping(ctx: BrokerContext) -> tuple[int, int]:
    now = ctx.clock()
    async with session_scope(ctx.sessions) as session:
        return await repo.purge_old(session, now - STATE_RETENTION, now - RECEIPT_RETENTION)


async def run_background(ctx: BrokerContext, leaser: TokenLeaser) -> None:
    """Refresh due tokens and purge old rows at the configured interval (jittered across replicas)."""
    interval = ctx.settings.refresher_interval_seconds
    while True:
        try:
            renewed = await leaser.refresh_due()
            states, receipts = await housekeeping(ctx)
            if renewed or states or receipts:
                log.info(
                    "background pass",
                    extra={
                        "renewed": renewed,
                        "purged_states": states,
                        "purged_receipts": receipts,
                    },
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background pass failed")
        await asyncio.sleep(interval * random.uniform(0.8, 1.2))

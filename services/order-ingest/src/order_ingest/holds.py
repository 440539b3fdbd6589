"""The end of the one-hour hold: re-check held orders once their hour has passed.

An order inside the hold is stored with `ready_to_ship = false` and `cancellable_until`
(the end of its hour, on TikTok's clock: payment + 1 h). Once our clock passes that time,
this worker re-reads the order from TikTok ("Get Order Detail 202309") and stores it: the
store decides from TikTok's status (no longer ON_HOLD) and the hour whether the hold is
over, and queues `order.updated` when it is. An order TikTok still reports ON_HOLD is looked
at again `RECHECK_SECONDS` later. A webhook or poll that brings the status change first makes
the same decision earlier (order_ingest.store.hold_of).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict

from sqlalchemy import text
from tts_common.app import Runtime
from tts_common.db import session_scope

from order_ingest import store, tiktok
from order_ingest.config import Settings

log = logging.getLogger(__name__)

RECHECK_SECONDS = 30.0
BATCH = 500

_DUE = text(
    """
    SELECT id, connection_id, shop_id, CAST(import_id AS text) AS import_id FROM orders
     WHERE NOT ready_to_ship
       AND status IN ('ON_HOLD', 'AWAITING_SHIPMENT', 'PARTIALLY_SHIPPING')
       AND cancellable_until <= :now
     ORDER BY cancellable_until
     LIMIT :limit
    """
)


class HoldWatch:
    """Due held orders, minus those checked a moment ago (per process)."""

    def __init__(self) -> None:
        self.next_check: dict[str, float] = {}

    async def pass_once(self, rt: Runtime) -> int:
        now = time.time()
        async with session_scope(rt.sessions) as session:
            rows = (await session.execute(_DUE, {"now": int(now), "limit": BATCH})).all()
        mono = time.monotonic()
        due = [r for r in rows if self.next_check.get(r.id, 0.0) <= mono]
        groups: dict[tuple[str, str, str | None], list[str]] = defaultdict(list)
        for r in due:
            groups[(r.connection_id, r.shop_id, r.import_id)].append(r.id)
            self.next_check[r.id] = mono + RECHECK_SECONDS
        client = tiktok.of(rt)
        for (connection_id, shop_id, import_id), ids in groups.items():
            for start in range(0, len(ids), 50):
                try:
                    found = await client.shop(connection_id).orders.get_order_detail(
                        ids[start : start + 50]
                    )
                except Exception as exc:
                    log.warning(
                        "hold re-check failed; retrying later",
                        extra={"connection_id": connection_id, "error_class": type(exc).__name__},
                    )
                    continue
                docs = [o.model_dump(mode="json", exclude_none=True) for o in found.orders]
                async with session_scope(rt.sessions) as session:
                    await store.store(
                        session,
                        docs,
                        connection_id=connection_id,
                        shop_id=shop_id,
                        import_id=import_id,
                        now=time.time(),
                    )
        if len(self.next_check) > 100_000:  # forget entries long past
            self.next_check = {k: v for k, v in self.next_check.items() if v > mono}
        return len(due)


async def run_holds(rt: Runtime) -> None:
    """Worker: end the holds that are due."""
    settings: Settings = rt.settings  # type: ignore[assignment]
    watch = HoldWatch()
    while True:
        try:
            await watch.pass_once(rt)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("hold worker pass failed; retrying")
        await asyncio.sleep(max(settings.worker_idle_seconds, 1.0))

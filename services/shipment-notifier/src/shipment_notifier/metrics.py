"""shipment-notifier's own Prometheus gauges (docs/operations.md, "Metrics"); the shared ones
(TikTok calls, outbox, consumers) are `tts_common.metrics`.

| metric | type | labels | what |
|---|---|---|---|
| `shipment_notifier_shipments` | gauge | status | shipments by status: queued, deferred, sending, notified, rejected, superseded |
| `shipment_notifier_deferred` | gauge | | shipments waiting for their send time (the cancellation hold, a retry) |

Sampled from the database every `TTS_METRICS_SAMPLE_SECONDS` by a worker, so a scrape never
waits for PostgreSQL. Every status of docs/shipments.md is always present (0 when none). The
values are the database's, the same in every process: aggregate with `max` across replicas.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tts_common.db import session_scope

log = logging.getLogger(__name__)

EXTRA = "shipment-metrics"
# The `shipments.status` values (migration 0002 explains each).
STATUSES = ("queued", "deferred", "sending", "notified", "rejected", "superseded")
_SHIPMENTS = text("SELECT status, count(*) AS n FROM shipments GROUP BY status")


class ShipmentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.shipments = Gauge(
            "shipment_notifier_shipments", "Shipments by status", ["status"], registry=registry
        )
        self.deferred = Gauge(
            "shipment_notifier_deferred",
            "Shipments waiting for their send time (hold or retry)",
            registry=registry,
        )

    async def sample(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        async with session_scope(sessions) as session:
            counts = {r.status: r.n for r in await session.execute(_SHIPMENTS)}
        for status in (*STATUSES, *sorted(set(counts) - set(STATUSES))):
            self.shipments.labels(status).set(counts.get(status, 0))
        self.deferred.set(counts.get("deferred", 0))


async def sample_loop(rt: Any) -> None:
    """A worker: the gauges, every `TTS_METRICS_SAMPLE_SECONDS` (registered on first run)."""
    metrics: ShipmentMetrics = rt.extras.get(EXTRA) or ShipmentMetrics(rt.registry)
    rt.extras[EXTRA] = metrics
    while True:
        try:
            await metrics.sample(rt.sessions)
        except Exception as exc:  # the database is away: keep the last values
            log.debug("shipment metrics sample failed", extra={"error": str(exc)})
        await asyncio.sleep(rt.settings.metrics_sample_seconds)

"""order-ingest's own Prometheus gauges (docs/operations.md, "Metrics"); the shared ones
(TikTok calls, outbox, consumers) are `tts_common.metrics`.

| metric | type | labels | what |
|---|---|---|---|
| `order_ingest_orders` | gauge | status | orders imported, by TikTok order status ("Get Order List 202309") |
| `order_ingest_deliveries` | gauge | status | OMS deliveries: pending, delivered, dead (retries given up) |

Sampled from the database every `TTS_METRICS_SAMPLE_SECONDS` by a worker, so a scrape never
waits for PostgreSQL. Every known status is always present (0 when none), so an alert or a
dashboard panel has a series before the first order arrives. The values are the database's,
the same in every process: aggregate them with `max`, not `sum`, across replicas.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tts_common.db import session_scope

from order_ingest.models import STATUSES

log = logging.getLogger(__name__)

EXTRA = "order-metrics"
DELIVERY_STATUSES = ("pending", "delivered", "dead")
_ORDERS = text("SELECT status, count(*) AS n FROM orders GROUP BY status")
_DELIVERIES = text("SELECT status, count(*) AS n FROM deliveries GROUP BY status")


class OrderMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.orders = Gauge(
            "order_ingest_orders",
            "Orders imported, by TikTok order status",
            ["status"],
            registry=registry,
        )
        self.deliveries = Gauge(
            "order_ingest_deliveries",
            "OMS deliveries by status (pending, delivered, dead)",
            ["status"],
            registry=registry,
        )

    async def sample(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        async with session_scope(sessions) as session:
            orders = {r.status: r.n for r in await session.execute(_ORDERS)}
            deliveries = {r.status: r.n for r in await session.execute(_DELIVERIES)}
        for status in (*STATUSES, *sorted(set(orders) - set(STATUSES))):
            self.orders.labels(status).set(orders.get(status, 0))
        for status in DELIVERY_STATUSES:
            self.deliveries.labels(status).set(deliveries.get(status, 0))


async def sample_loop(rt: Any) -> None:
    """A worker: the gauges, every `TTS_METRICS_SAMPLE_SECONDS` (registered on first run)."""
    metrics: OrderMetrics = rt.extras.get(EXTRA) or OrderMetrics(rt.registry)
    rt.extras[EXTRA] = metrics
    while True:
        try:
            await metrics.sample(rt.sessions)
        except Exception as exc:  # the database is away: keep the last values
            log.debug("order metrics sample failed", extra={"error": str(exc)})
        await asyncio.sleep(rt.settings.metrics_sample_seconds)

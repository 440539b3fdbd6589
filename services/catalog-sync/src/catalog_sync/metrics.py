"""catalog-sync's own Prometheus metrics (docs/operations.md, "Metrics"); the shared ones
(TikTok calls, outbox, consumers) are `tts_common.metrics`.

| metric | type | labels |
|---|---|---|
| `catalog_sync_runs_total` | counter | trigger, status, dry_run |
| `catalog_sync_actions_total` | counter | action, outcome (a run's counts, added when it ends) |
| `catalog_sync_feeds_paused` | gauge | (feeds paused because their connection is unusable) |
| `catalog_sync_products_under_review` | gauge | (products whose TikTok audit has not ended) |
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tts_common.db import session_scope

log = logging.getLogger(__name__)

EXTRA = "catalog-metrics"
_RUN = text("SELECT trigger, status, dry_run, counts FROM runs WHERE id = :id")
_GAUGES = text(
    "SELECT (SELECT count(*) FROM feeds WHERE paused_reason IS NOT NULL) AS paused,"
    " (SELECT count(*) FROM tiktok_products WHERE status = 'live'"
    "  AND audit_status = 'AUDITING') AS under_review"
)


class CatalogMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "catalog_sync_runs",
            "Export runs ended, by trigger, final status and dry run",
            ["trigger", "status", "dry_run"],
            registry=registry,
        )
        self.actions = Counter(
            "catalog_sync_actions",
            "Products' actions in ended runs, by action and outcome",
            ["action", "outcome"],
            registry=registry,
        )
        self.paused = Gauge(
            "catalog_sync_feeds_paused", "Feeds paused (connection unusable)", registry=registry
        )
        self.under_review = Gauge(
            "catalog_sync_products_under_review",
            "Products TikTok is still reviewing",
            registry=registry,
        )

    async def run_ended(self, sessions: async_sessionmaker[AsyncSession], run_id: str) -> None:
        async with session_scope(sessions) as session:
            row = (await session.execute(_RUN, {"id": run_id})).first()
        if row is None:
            return
        self.runs.labels(row.trigger, row.status, str(row.dry_run).lower()).inc()
        for action, outcomes in (row.counts or {}).items():
            for outcome, n in outcomes.items():
                self.actions.labels(action, outcome).inc(n)

    async def sample(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        async with session_scope(sessions) as session:
            row = (await session.execute(_GAUGES)).one()
        self.paused.set(row.paused)
        self.under_review.set(row.under_review)


async def sample_loop(rt: Any) -> None:
    """A worker: the gauges, every `TTS_METRICS_SAMPLE_SECONDS`."""
    metrics: CatalogMetrics = rt.extras[EXTRA]
    while True:
        try:
            await metrics.sample(rt.sessions)
        except Exception as exc:
            log.debug("catalog metrics sample failed", extra={"error": str(exc)})
        await asyncio.sleep(rt.settings.metrics_sample_seconds)

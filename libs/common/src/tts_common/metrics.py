"""Prometheus metrics every service shares (docs/operations.md, "Metrics").

Served at `/metrics` from the app's own registry (one per app, so several apps in one test
process never share a counter). Names and labels:

| metric | type | labels | what |
|---|---|---|---|
| `tts_outbox_backlog` | gauge | | outbox rows not yet published |
| `tts_outbox_oldest_age_seconds` | gauge | | age of the oldest unpublished row (0 when empty) |
| `tts_consumer_events_total` | counter | group, outcome | events handled: processed, duplicate, dead_lettered, retried |
| `tts_dlq_records_total` | counter | group | records this process dead-lettered |
| `tts_consumer_lag` | gauge | group, topic, partition | records on the partition not yet fetched by this member |
| `tts_tiktok_calls_total` | counter | operation, status, code | TikTok API attempts: HTTP status ("none": no answer) and business code |
| `tts_tiktok_rate_limited_total` | counter | operation | attempts TikTok answered 429 |
| `tts_tiktok_call_seconds` | histogram | operation | attempt latency |

The gauges are sampled every `TTS_METRICS_SAMPLE_SECONDS` (5) by a task of the app
(`sample_loop`), so a scrape never waits for the database or Kafka; the counters of the
consumers are read from their stats at scrape time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text

log = logging.getLogger(__name__)

RATE_LIMITED = 429
# TikTok calls take tens of milliseconds to seconds (uploads, retries behind a 429).
CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_OUTBOX = text(
    "SELECT count(*) AS n,"
    " coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age FROM outbox"
)


@dataclass
class Samples:
    """The last sampled values of the gauges (written by `sample_loop`)."""

    outbox_backlog: float = 0.0
    outbox_age: float = 0.0
    lag: dict[tuple[str, str, int], int] = field(default_factory=dict)


class FabricCollector(Collector):
    """Outbox, consumer and dead-letter metrics of the running app, read at scrape time."""

    def __init__(self, runtime: Callable[[], Any]) -> None:
        self._runtime = runtime  # None until the lifespan built it
        self.samples = Samples()

    def collect(self) -> Iterator[Metric]:
        rt = self._runtime()
        backlog = GaugeMetricFamily("tts_outbox_backlog", "Outbox rows not yet published")
        backlog.add_metric([], self.samples.outbox_backlog)
        yield backlog
        age = GaugeMetricFamily(
            "tts_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row"
        )
        age.add_metric([], self.samples.outbox_age)
        yield age
        events = CounterMetricFamily(
            "tts_consumer_events", "Events handled by this process", labels=["group", "outcome"]
        )
        dlq = CounterMetricFamily(
            "tts_dlq_records", "Records this process dead-lettered", labels=["group"]
        )
        for runner in getattr(rt, "consumers", None) or ():
            s = runner.stats
            for outcome, n in (
                ("processed", s.processed),
                ("duplicate", s.duplicates),
                ("dead_lettered", s.dead_lettered),
                ("retried", s.retries),
            ):
                events.add_metric([runner.group_id, outcome], n)
            dlq.add_metric([runner.group_id], s.dead_lettered)
        yield events
        yield dlq
        lag = GaugeMetricFamily(
            "tts_consumer_lag",
            "Records on the partition not yet fetched by this member",
            labels=["group", "topic", "partition"],
        )
        for (group, topic, partition), n in sorted(self.samples.lag.items()):
            lag.add_metric([group, topic, str(partition)], n)
        yield lag


async def sample(rt: Any, collector: FabricCollector) -> None:
    """One sampling pass: the outbox (one query) and each consumer's lag."""
    async with rt.engine.connect() as conn:
        row = (await conn.execute(_OUTBOX)).one()
    collector.samples.outbox_backlog = float(row.n)
    collector.samples.outbox_age = float(row.age)
    lag: dict[tuple[str, str, int], int] = {}
    for runner in rt.consumers:
        for (topic, partition), n in (await runner.partition_lag()).items():
            lag[(runner.group_id, topic, partition)] = n
    collector.samples.lag = lag


async def sample_loop(rt: Any, collector: FabricCollector, every: float) -> None:
    while True:
        try:
            await sample(rt, collector)
        except Exception as exc:  # the database or Kafka is away: keep the last values
            log.debug("metrics sample failed", extra={"error": str(exc)})
        await asyncio.sleep(every)


class TikTokCallMetrics:
    """A `tiktok_shop` call-log hook (`ClientConfig`'s `call_log`) counting every attempt."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "tts_tiktok_calls",
            "TikTok API attempts by operation, HTTP status and business code",
            ["operation", "status", "code"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "tts_tiktok_rate_limited",
            "TikTok API attempts answered 429",
            ["operation"],
            registry=registry,
        )
        self.latency = Histogram(
            "tts_tiktok_call_seconds",
            "TikTok API attempt latency",
            ["operation"],
            buckets=CALL_BUCKETS,
            registry=registry,
        )

    def __call__(self, record: Any) -> None:
        """Takes a `tiktok_shop.calllog.ApiCallRecord` (already redacted)."""
        operation = str(record.operation)
        status = record.status
        self.calls.labels(
            operation,
            "none" if status is None else str(status),
            "none" if record.code is None else str(record.code),
        ).inc()
        if status == RATE_LIMITED:
            self.rate_limited.labels(operation).inc()
        self.latency.labels(operation).observe(max(0.0, float(record.latency_ms) / 1000.0))


def fan_out(*hooks: Callable[[Any], None]) -> Callable[[Any], None]:
    """One call-log hook calling each of `hooks`; one failing never stops the others."""

    def call(record: Any) -> None:
        for hook in hooks:
            try:
                hook(record)
            except Exception:
                log.exception("call-log hook failed")

    return call


def label_values(registry: CollectorRegistry, name: str) -> Iterable[tuple[dict[str, str], float]]:
    """(labels, value) of every sample named `name` (tests and the CLI read metrics this way)."""
    for metric in registry.collect():
        for s in metric.samples:
            if s.name == name:
                yield dict(s.labels), float(s.value)

"""tts_common.metrics: what an operator's queries see."""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import CollectorRegistry
from tts_common.consumer import RunnerStats
from tts_common.metrics import FabricCollector, TikTokCallMetrics, fan_out, label_values


def _record(operation: str, status: int | None, code: int | None, ms: float) -> SimpleNamespace:
    return SimpleNamespace(operation=operation, status=status, code=code, latency_ms=ms)


def test_tiktok_calls_are_counted_by_operation_status_and_code() -> None:
    registry = CollectorRegistry()
    hook = TikTokCallMetrics(registry)
    for record in (
        _record("createProduct", 200, 0, 120.0),
        _record("createProduct", 429, 36009002, 3.0),
        _record("createProduct", None, None, 30000.0),  # no answer
        _record("updatePrice", 200, 0, 40.0),
    ):
        hook(record)
    calls = {
        tuple(sorted(k.items())): v for k, v in label_values(registry, "tts_tiktok_calls_total")
    }
    assert calls[(("code", "0"), ("operation", "createProduct"), ("status", "200"))] == 1
    assert calls[(("code", "none"), ("operation", "createProduct"), ("status", "none"))] == 1
    limited = dict(
        (k["operation"], v) for k, v in label_values(registry, "tts_tiktok_rate_limited_total")
    )
    assert limited == {"createProduct": 1}
    counts = {k["operation"]: v for k, v in label_values(registry, "tts_tiktok_call_seconds_count")}
    assert counts == {"createProduct": 3, "updatePrice": 1}


def test_a_failing_hook_never_stops_the_others() -> None:
    seen: list[str] = []

    def broken(record: object) -> None:
        raise RuntimeError("boom")

    fan_out(broken, lambda r: seen.append(r.operation))(_record("getProduct", 200, 0, 1.0))
    assert seen == ["getProduct"]


def test_the_fabric_collector_reports_consumers_and_the_sampled_gauges() -> None:
    stats = RunnerStats(processed=7, duplicates=2, dead_lettered=1, retries=3)
    runtime = SimpleNamespace(consumers=[SimpleNamespace(group_id="g", stats=stats)])
    registry = CollectorRegistry()
    collector = FabricCollector(lambda: runtime)
    registry.register(collector)
    collector.samples.outbox_backlog = 12
    collector.samples.outbox_age = 3.5
    collector.samples.lag = {("g", "t", 4): 9}
    events = {k["outcome"]: v for k, v in label_values(registry, "tts_consumer_events_total")}
    assert events == {"processed": 7, "duplicate": 2, "dead_lettered": 1, "retried": 3}
    assert list(label_values(registry, "tts_dlq_records_total")) == [({"group": "g"}, 1.0)]
    assert list(label_values(registry, "tts_outbox_backlog")) == [({}, 12.0)]
    assert list(label_values(registry, "tts_consumer_lag")) == [
        ({"group": "g", "topic": "t", "partition": "4"}, 9.0)
    ]


def test_before_the_app_started_the_collector_reports_zeroes() -> None:
    registry = CollectorRegistry()
    registry.register(FabricCollector(lambda: None))
    assert list(label_values(registry, "tts_outbox_backlog")) == [({}, 0.0)]
    assert list(label_values(registry, "tts_consumer_events_total")) == []

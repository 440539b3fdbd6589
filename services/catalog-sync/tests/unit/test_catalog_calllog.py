"""The run's call log: calls made while a run's log is current are kept (headers only when the
feed asks for them); the service log never gets headers."""

from __future__ import annotations

import asyncio

from catalog_sync.calllog import CURRENT, RunCallLog, RunLog
from tiktok_shop import ApiCallRecord, MemoryCallLog

HEADERS = {"x-tts-access-token": "[REDACTED]", "content-type": "application/json"}


def record(path: str) -> ApiCallRecord:
    return ApiCallRecord(
        operation="updatePrice", method="POST", path=path, attempt=1, latency_ms=3.0,
        status=200, code=0, request_headers=HEADERS, response_headers={"x-tt-logid": "1"},
    )  # fmt: skip


def test_calls_go_to_the_current_run_only_and_headers_only_when_asked() -> None:
    service = MemoryCallLog()
    hook = RunCallLog(service)
    hook(record("/outside"))  # no run: the service log only
    plain, detailed = RunLog("r1"), RunLog("r2", headers=True)

    async def call_in(log: RunLog, path: str) -> None:
        CURRENT.set(log)
        await asyncio.sleep(0)
        hook(record(path))

    async def main() -> None:  # each task has its own context, as each run's tasks do
        await asyncio.gather(call_in(plain, "/a"), call_in(detailed, "/b"))

    asyncio.run(main())
    assert [e["path"] for e in plain.drain()] == ["/a"]
    (entry,) = detailed.drain()
    assert entry["path"] == "/b" and entry["request_headers"] == HEADERS
    assert plain.drain() == []
    assert [r.path for r in service.records] == ["/outside", "/a", "/b"]
    assert all(r.request_headers is None and r.response_headers is None for r in service.records)


def test_a_full_buffer_drops_the_oldest_and_counts_them() -> None:
    log = RunLog("r")
    for i in range(10_005):
        log.add(record(f"/{i}"))
    entries = log.drain()
    assert len(entries) == 10_000 and entries[0]["path"] == "/5" and log.dropped == 5

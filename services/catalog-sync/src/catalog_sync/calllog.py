"""The run's TikTok API-call log (feeds with `log_api_calls`; docs/feeds.md, "Runs and the delta").

The app has one TikTok client, hence one call-log hook for every call it makes. `RunCallLog`
wraps the service's logging hook: every call is logged as before (never with headers), and
a call made while a run's `RunLog` is current (a context variable the run sets before it
starts its tasks, so every task of the run inherits it) is also kept in that log, with its
headers only when the feed has `log_api_headers`. The run writes the kept entries to
`api_calls` as it goes (`drain`). Records are redacted by the client itself before any hook
sees them (tokens, secrets and signatures are `[REDACTED]`).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from tiktok_shop import ApiCallRecord, CallLogHook

MAX_BUFFERED = 10_000  # entries kept between two writes; beyond, the oldest are dropped


@dataclass
class RunLog:
    run_id: str
    headers: bool = False
    entries: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0

    def add(self, record: ApiCallRecord) -> None:
        entry = record.as_dict()
        if not self.headers:
            entry.pop("request_headers", None)
            entry.pop("response_headers", None)
        if len(self.entries) >= MAX_BUFFERED:
            self.entries.pop(0)
            self.dropped += 1
        self.entries.append(entry)

    def drain(self) -> list[dict[str, Any]]:
        out, self.entries = self.entries, []
        return out


CURRENT: ContextVar[RunLog | None] = ContextVar("catalog_sync_run_log", default=None)


class RunCallLog:
    """The client's hook: `inner` (the service log, without headers), plus the current run's
    log when there is one."""

    def __init__(self, inner: CallLogHook) -> None:
        self.inner = inner

    def __call__(self, record: ApiCallRecord) -> None:
        run = CURRENT.get()
        if run is not None:
            run.add(record)
        if record.request_headers is not None or record.response_headers is not None:
            record = replace(record, request_headers=None, response_headers=None)
        self.inner(record)

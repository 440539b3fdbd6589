"""Counters behind `GET /sandbox/v1/stats`: calls per operation, 429s, faults, duplicates;
and the request log behind `GET /sandbox/v1/requests` (when each call arrived)."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Any

# Calls kept in the request log (the newest; about 100 bytes each).
REQUEST_LOG_SIZE = 200_000


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        # Create/edit attempts rejected because the seller_sku already exists in the shop:
        # a client that blindly retries a write whose response was lost shows up here.
        self.duplicate_seller_sku_rejections: Counter[str] = Counter()
        # (wall-clock arrival, operation, path) of each call: a benchmark measures when a
        # change reached TikTok from it.
        self.requests: deque[tuple[float, str, str]] = deque(maxlen=REQUEST_LOG_SIZE)

    def call(self, operation: str, path: str = "") -> None:
        with self._lock:
            self.calls[operation] += 1
            self.requests.append((time.time(), operation, path))

    def request_log(self, operation: str | None = None, since: float = 0.0) -> list[Any]:
        """The logged calls arrived at or after `since` (epoch seconds), oldest first."""
        with self._lock:
            return [
                {"at": at, "operation": op, "path": path}
                for at, op, path in self.requests
                if at >= since and (operation is None or op == operation)
            ]

    def limited(self, operation: str) -> None:
        with self._lock:
            self.rate_limited[operation] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def error(self, code: int) -> None:
        with self._lock:
            self.errors[str(code)] += 1

    def duplicate_sku(self, shop_id: str) -> None:
        with self._lock:
            self.duplicate_seller_sku_rejections[shop_id] += 1

    def reset(self) -> None:
        with self._lock:
            for counter in (
                self.calls,
                self.rate_limited,
                self.faults,
                self.errors,
                self.duplicate_seller_sku_rejections,
            ):
                counter.clear()
            self.requests.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self.calls),
                "total_calls": sum(self.calls.values()),
                "rate_limited": dict(self.rate_limited),
                "total_rate_limited": sum(self.rate_limited.values()),
                "faults_injected": dict(self.faults),
                "errors_by_code": dict(self.errors),
                "duplicate_seller_sku_rejections": dict(self.duplicate_seller_sku_rejections),
            }

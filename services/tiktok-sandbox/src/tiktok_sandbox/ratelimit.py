"""Token bucket per (app, shop, operation), like TikTok's per-API QPS limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Refills `qps` tokens per second; the burst capacity is one second of traffic.

    Uses a monotonic clock, not the sandbox clock: advancing the sandbox clock by
    hours must not hand out hours of burst.
    """

    def __init__(self, qps: float, now: Callable[[], float] = time.monotonic) -> None:
        self.qps = qps
        self.capacity = max(1.0, qps)
        self._now = now
        self._buckets: dict[tuple[str, str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, app_key: str, shop_id: str, operation: str) -> bool:
        if self.qps <= 0:
            return True
        key = (app_key, shop_id, operation)
        now = self._now()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.qps)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - 1.0, now)
            return True

    def set_qps(self, qps: float) -> None:
        with self._lock:
            self.qps = qps
            self.capacity = max(1.0, qps)
            self._buckets.clear()

"""Adaptive rate limiter per (shop, operation), shared by every task of a process.

Each key paces its calls at `rate` QPS (a virtual schedule: call n may start at
`next_slot`, then `next_slot += 1/rate`). The rate starts at the configured QPS,
halves on a 429 / 36009002 (multiplicative decrease) and climbs back additively
while calls succeed, never above the configured QPS -- TikTok's limits are
"dynamic" (TikTok's "Rate limits" page, docv2/page/rate-limits), so we converge on
whatever the server grants.

The arithmetic (`RateState`) is pure and takes the time as an argument, so it is
unit-tested without sleeping; `AdaptiveRateLimiter` adds the asyncio waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .config import RateLimitConfig


@dataclass(frozen=True)
class Permit:
    """Handed out by `acquire`; identifies which rate epoch a call was sent in."""

    key: tuple[str, str]
    epoch: int
    issued_at: float


@dataclass
class RateState:
    """Pacing and AIMD state of one (shop, operation) key."""

    max_qps: float
    min_qps: float
    recovery_qps_per_second: float
    burst: float = 1.0
    rate: float = field(init=False)
    next_slot: float = field(default=0.0)
    epoch: int = 0
    last_adjust: float = 0.0
    decreases: int = 0

    def __post_init__(self) -> None:
        self.rate = self.max_qps

    def reserve(self, now: float) -> float:
        """Reserve the next slot; returns how long the caller must wait before sending."""
        self._recover(now)
        interval = 1.0 / self.rate
        # After idle time allow at most `burst` calls back-to-back, never an unbounded burst.
        earliest = now - (self.burst - 1.0) * interval
        slot = max(self.next_slot, earliest)
        self.next_slot = slot + interval
        return max(0.0, slot - now)

    def on_rate_limited(self, epoch: int, now: float) -> bool:
        """Halve the rate once per epoch: the burst of 429s from one overshoot counts once."""
        if epoch != self.epoch:
            return False
        self._recover(now)
        self.rate = max(self.min_qps, self.rate / 2.0)
        self.epoch += 1
        self.decreases += 1
        self.last_adjust = now
        # Push the schedule out: the server just told us the current window is full.
        self.next_slot = max(self.next_slot, now + 1.0 / self.rate)
        return True

    def _recover(self, now: float) -> None:
        if self.last_adjust == 0.0:
            self.last_adjust = now
            return
        elapsed = now - self.last_adjust
        if elapsed > 0 and self.rate < self.max_qps:
            self.rate = min(self.max_qps, self.rate + elapsed * self.recovery_qps_per_second)
        self.last_adjust = now


class AdaptiveRateLimiter:
    """One instance per process (hold it in the client); keys are (shop, operation)."""

    def __init__(
        self,
        config: RateLimitConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        qps_overrides: dict[str, float] | None = None,
    ) -> None:
        self._config = config or RateLimitConfig()
        self._clock = clock
        self._overrides = dict(qps_overrides or {})
        self._states: dict[tuple[str, str], RateState] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def state(self, shop: str, operation: str) -> RateState:
        key = (shop, operation)
        st = self._states.get(key)
        if st is None:
            cfg = self._config
            st = RateState(
                max_qps=self._overrides.get(operation, cfg.qps),
                min_qps=cfg.min_qps,
                recovery_qps_per_second=cfg.recovery_qps_per_second,
                burst=cfg.burst,
            )
            self._states[key] = st
        return st

    async def acquire(self, shop: str, operation: str) -> Permit:
        """Wait for this key's next slot. Waiters are served in FIFO order."""
        key = (shop, operation)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        st = self.state(shop, operation)
        # Holding the lock while sleeping serialises the schedule, so a rate change made
        # by a 429 applies to every later waiter immediately.
        async with lock:
            delay = st.reserve(self._clock())
            if delay > 0:
                await asyncio.sleep(delay)
            return Permit(key=key, epoch=st.epoch, issued_at=self._clock())

    def on_rate_limited(self, permit: Permit) -> None:
        self.state(*permit.key).on_rate_limited(permit.epoch, self._clock())

    def current_qps(self, shop: str, operation: str) -> float:
        return self.state(shop, operation).rate

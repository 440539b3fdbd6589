"""Adaptive rate limiter per (shop, operation), shared by every task of a process.

Each key paces its calls at `rate` QPS (a virtual schedule: call n may start at
`next_slot`, then `next_slot += 1/rate`). The rate starts at the configured QPS,
halves on a 429 / 36009002 (multiplicative decrease) and climbs back additively
while calls succeed, never above the configured QPS -- TikTok's limits are
"dynamic" (TikTok's "Rate limits" page, docv2/page/rate-limits), so we converge on
whatever the server grants.

It remembers the rate it was last refused at (the ceiling): recovery is fast only up to
`SAFE_SHARE` of it, then a slow probe (`PROBE_PER_SECOND` of the ceiling per second), and a
refusal near the known ceiling steps back to `SAFE_SHARE` of it instead of halving. Without
the memory, a limit far below the configured QPS was passed again within a second of every
halving: against 2 calls/s, 44% of the calls were 429s. A ceiling passed by `FORGET_ABOVE`
without a refusal, or not met again for `FORGET_AFTER` seconds, is forgotten: the server's
limit went up, or the refusals were a passing dip (the probe alone would take minutes to
climb back from one).

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


SAFE_SHARE = 0.9  # fast recovery up to this share of the last refused rate; the step back
PROBE_PER_SECOND = 0.01  # beyond it: this share of the refused rate regained per second
FORGET_ABOVE = 1.5  # a ceiling passed this far without a refusal no longer holds
FORGET_AFTER = 30.0  # seconds: nor one not met again for this long (a probe cycle is ~10 s)


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
    ceiling: float | None = None  # the rate of the last refusal, until forgotten
    refused_at: float = 0.0

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
        refused = self.rate
        # Refused near the known ceiling: the ceiling holds, step just below it. Refused far
        # below it (or with none known): the limit is lower than we thought, halve.
        near = self.ceiling is not None and refused >= SAFE_SHARE * self.ceiling
        self.ceiling = refused
        self.refused_at = now
        self.rate = max(self.min_qps, refused * (SAFE_SHARE if near else 0.5))
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
        self.last_adjust = now
        if elapsed <= 0 or self.rate >= self.max_qps:
            return
        fast = self.recovery_qps_per_second
        if self.ceiling is not None and now - self.refused_at > FORGET_AFTER:
            self.ceiling = None
        ceiling = self.ceiling
        if ceiling is None:
            self.rate = min(self.max_qps, self.rate + elapsed * fast)
            return
        rate = self.rate
        safe = SAFE_SHARE * ceiling
        if rate < safe:  # fast, up to the safe share of the ceiling
            step = min(elapsed, (safe - rate) / fast)
            rate += step * fast
            elapsed -= step
        rate += elapsed * PROBE_PER_SECOND * ceiling  # then the slow probe
        self.rate = min(self.max_qps, rate)
        if self.rate >= FORGET_ABOVE * ceiling:
            self.ceiling = None


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

"""Adaptive limiter arithmetic (pure, explicit time) and its asyncio pacing."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from tiktok_shop import ratelimit
from tiktok_shop.config import RateLimitConfig
from tiktok_shop.ratelimit import AdaptiveRateLimiter, RateState


def state(qps: float = 10.0, recovery: float = 2.0) -> RateState:
    return RateState(max_qps=qps, min_qps=1.0, recovery_qps_per_second=recovery)


def test_paces_calls_at_configured_rate() -> None:
    st = state(10.0)
    waits = [st.reserve(100.0) for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_idle_time_does_not_bank_a_burst() -> None:
    st = state(10.0)
    st.reserve(100.0)
    # One minute idle: the next calls are still spaced, not fired all at once.
    waits = [st.reserve(160.0) for _ in range(3)]
    assert waits == pytest.approx([0.0, 0.1, 0.2])


def test_halves_on_429_once_per_epoch() -> None:
    st = state(40.0)
    st.reserve(0.5)
    epoch = st.epoch
    assert st.on_rate_limited(epoch, 1.0) is True
    assert st.rate == pytest.approx(20.0)
    # More 429s from calls sent in the same epoch do not halve again.
    assert st.on_rate_limited(epoch, 1.0) is False
    assert st.rate == pytest.approx(20.0)
    assert st.on_rate_limited(st.epoch, 1.0) is True
    assert st.rate == pytest.approx(10.0)


def test_never_below_min_qps() -> None:
    st = state(4.0)
    st.reserve(1.0)
    for _ in range(10):
        st.on_rate_limited(st.epoch, 1.0)
    assert st.rate == pytest.approx(1.0)


def test_recovers_additively_up_to_the_ceiling() -> None:
    st = state(40.0, recovery=2.0)
    st.reserve(1.0)
    st.on_rate_limited(st.epoch, 1.0)  # 20 QPS
    st.reserve(3.0)  # 2 s later: +4
    assert st.rate == pytest.approx(24.0)
    st.reserve(100.0)
    assert st.rate == pytest.approx(40.0)


def test_429_pushes_the_schedule_out() -> None:
    st = state(10.0)
    st.reserve(1.0)
    st.on_rate_limited(st.epoch, 1.0)  # 5 QPS
    assert st.reserve(1.0) == pytest.approx(0.2)


class FakeTime:
    """The limiter's clock and sleep: sleeping moves the clock, nothing waits for real."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # still a suspension point, as the real one is


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    # Only the limiter module's view of asyncio: the event loop keeps the real one.
    monkeypatch.setattr(ratelimit, "asyncio", SimpleNamespace(sleep=fake.sleep, Lock=asyncio.Lock))
    return fake


async def test_async_limiter_keeps_rate_under_concurrency(fake_time: FakeTime) -> None:
    limiter = AdaptiveRateLimiter(RateLimitConfig(qps=50.0), clock=fake_time.clock)
    permits = await asyncio.gather(*(limiter.acquire("shop", "op") for _ in range(26)))
    # 26 calls at 50 QPS: each starts one interval after the previous one.
    issued = sorted(p.issued_at - 1000.0 for p in permits)
    assert issued == pytest.approx([i * 0.02 for i in range(26)])


async def test_keys_are_independent(fake_time: FakeTime) -> None:
    limiter = AdaptiveRateLimiter(RateLimitConfig(qps=5.0), clock=fake_time.clock)
    await asyncio.gather(*(limiter.acquire(f"shop{i}", "op") for i in range(5)))
    # One key would need 4 intervals (0.8 s); separate keys need none.
    assert fake_time.sleeps == []
    await limiter.acquire("shop0", "op")  # ... while one key does pace
    assert fake_time.sleeps == [pytest.approx(0.2)]


def test_operation_override() -> None:
    limiter = AdaptiveRateLimiter(RateLimitConfig(qps=50.0), qps_overrides={"createProduct": 5.0})
    assert limiter.current_qps("s", "createProduct") == 5.0
    assert limiter.current_qps("s", "getProduct") == 50.0


class TokenBucket:
    """The server side, as TikTok's per-API limits behave (and the sandbox's): `qps` tokens a
    second, one second of them as burst."""

    def __init__(self, qps: float) -> None:
        self.qps = qps
        self.tokens = max(1.0, qps)
        self.last = 0.0

    def allow(self, now: float) -> bool:
        self.tokens = min(max(1.0, self.qps), self.tokens + (now - self.last) * self.qps)
        self.last = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def drive(st: RateState, server: TokenBucket, start: float, seconds: float) -> tuple[int, int]:
    """A caller that always has a call waiting, sent at the limiter's slots: (served, 429s)
    between `start` and `start + seconds` (simulated time)."""
    now, served, refused = start, 0, 0
    while now < start + seconds:
        now += st.reserve(now)
        epoch = st.epoch
        if server.allow(now):
            served += 1
        else:
            refused += 1
            st.on_rate_limited(epoch, now)
    return served, refused


@pytest.mark.parametrize("limit", [2.0, 7.0, 30.0])
def test_a_limit_far_below_the_configured_qps_is_kept_to_politely(limit: float) -> None:
    """Configured for 50 QPS against a server granting `limit`: after the first seconds, at
    least 90% of the limit is served with at most 5% of the calls refused."""
    st = RateState(max_qps=50.0, min_qps=1.0, recovery_qps_per_second=5.0)
    server = TokenBucket(limit)
    drive(st, server, 0.0, 60.0)  # finding the limit
    served, refused = drive(st, server, 60.0, 600.0)
    assert served >= 0.9 * limit * 600, (served, refused)
    assert refused <= 0.05 * (served + refused), (served, refused)


def test_a_raised_limit_is_found_again() -> None:
    st = RateState(max_qps=50.0, min_qps=1.0, recovery_qps_per_second=5.0)
    server = TokenBucket(2.0)
    drive(st, server, 0.0, 300.0)
    server.qps = 20.0  # the server grants more from now on
    drive(st, server, 300.0, 120.0)
    served, _ = drive(st, server, 420.0, 60.0)
    assert served >= 0.8 * 20.0 * 60, served


def test_a_passing_dip_of_the_limit_is_not_remembered_for_long() -> None:
    """TikTok's limits are dynamic: five seconds of a limit of 2/s (the rate collapses), then
    the configured 50/s again, most of it served within the minute after."""
    st = RateState(max_qps=50.0, min_qps=1.0, recovery_qps_per_second=5.0)
    server = TokenBucket(50.0)
    drive(st, server, 0.0, 60.0)
    server.qps = 2.0
    drive(st, server, 60.0, 5.0)
    server.qps = 50.0
    drive(st, server, 65.0, 60.0)
    served, refused = drive(st, server, 125.0, 30.0)
    assert served >= 0.9 * 50.0 * 30, (served, refused)

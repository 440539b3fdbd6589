"""Retry policy: which failures are repeated, and the backoff curve."""

from __future__ import annotations

import random

import pytest
from tiktok_shop.errors import (
    NetworkError,
    OutcomeUnknownError,
    RateLimitedError,
    ServerError,
    ValidationError,
)
from tiktok_shop.retry import RetryPolicy

POLICY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=3.0)


def test_idempotent_calls_retry_retriable_errors_until_the_cap() -> None:
    err = ServerError("boom", code=36009003)
    assert [POLICY.should_retry(err, idempotent=True, attempt=a) for a in (1, 2, 3, 4)] == [
        True,
        True,
        True,
        False,
    ]


def test_non_retriable_errors_are_never_retried() -> None:
    assert not POLICY.should_retry(ValidationError("bad"), idempotent=True, attempt=1)


def test_non_idempotent_writes_retry_only_when_nothing_happened() -> None:
    assert POLICY.should_retry(RateLimitedError("429"), idempotent=False, attempt=1)
    assert POLICY.should_retry(NetworkError("refused", sent=False), idempotent=False, attempt=1)
    assert not POLICY.should_retry(NetworkError("reset", sent=True), idempotent=False, attempt=1)
    assert not POLICY.should_retry(ServerError("503"), idempotent=False, attempt=1)
    assert not POLICY.should_retry(
        OutcomeUnknownError("lost", operation="createProduct"), idempotent=False, attempt=1
    )


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    rng = random.Random(7)
    for attempt, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (9, 3.0)]:
        samples = [POLICY.backoff(attempt, rng) for _ in range(300)]
        assert all(0.0 <= s <= cap for s in samples)
        # Full jitter spreads over the whole window (not a constant delay).
        assert max(samples) > cap * 0.8 and min(samples) < cap * 0.2


@pytest.mark.parametrize("attempt", [1, 5])
def test_zero_base_delay_means_no_wait(attempt: int) -> None:
    assert RetryPolicy(3, 0.0, 1.0).backoff(attempt) == 0.0

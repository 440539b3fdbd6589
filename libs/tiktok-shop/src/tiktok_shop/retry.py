"""Retry policy: capped exponential backoff with full jitter, idempotent calls only.

Which failures may be repeated:
- idempotent calls (reads, price/inventory updates, edits, webhook upserts...): any
  error with `retriable=True` (rate limited, server error, network error);
- non-idempotent writes (create product, ship package, mark shipped, batch ship): only
  failures that prove the request was NOT executed -- a 429 (rejected before processing)
  or a connection that never got established. Anything ambiguous surfaces to the caller
  (`ServerError`, or `OutcomeUnknownError` when the answer was lost).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .config import RetryConfig
from .errors import NetworkError, RateLimitedError, TikTokError


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0

    @classmethod
    def from_config(cls, cfg: RetryConfig) -> RetryPolicy:
        return cls(cfg.max_attempts, cfg.base_delay, cfg.max_delay)

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before attempt `attempt + 1` (attempt counts from 1): full jitter up to a cap."""
        cap = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return (rng or random).uniform(0.0, cap)

    def should_retry(self, error: TikTokError, *, idempotent: bool, attempt: int) -> bool:
        """May the client repeat this request by itself after `attempt` failed attempts?"""
        if attempt >= self.max_attempts or not error.retriable:
            return False
        if idempotent:
            return True
        # A non-idempotent write is repeated only when it certainly did not happen.
        if isinstance(error, RateLimitedError):
            return True
        return isinstance(error, NetworkError) and not error.sent

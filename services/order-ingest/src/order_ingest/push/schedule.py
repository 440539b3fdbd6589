"""When a failed delivery is tried again, and when it is given up (dead).

Capped exponential backoff with jitter: the n-th failure waits between half and all of
``min(cap, base * 2**(n-1))``. The jitter spreads the retries of many deliveries that failed
together (an OMS that was down) so they do not come back as one wave; the lower half bound
keeps the wait growing, whatever the draw. A delivery is dead after ``max_attempts``
attempts or once ``max_age`` has passed since it was queued (or last replayed), whichever
comes first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 5.0
    cap_s: float = 3600.0
    max_attempts: int = 12
    max_age: timedelta = timedelta(days=3)

    def ceiling(self, attempts: int) -> float:
        """The longest wait after the ``attempts``-th failed attempt (no jitter)."""
        exponent = max(0, attempts - 1)
        if exponent > 60:  # 2**60 * any base is past any cap
            return self.cap_s
        return min(self.cap_s, self.base_s * (2.0**exponent))

    def delay(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt: in [ceiling/2, ceiling]."""
        ceiling = self.ceiling(attempts)
        draw = (rng or random).random()
        return ceiling / 2 + draw * ceiling / 2

    def exhausted(self, attempts: int, age: timedelta) -> bool:
        """No further attempt: the budget of attempts or the maximum age is used up."""
        return attempts >= self.max_attempts or age >= self.max_age

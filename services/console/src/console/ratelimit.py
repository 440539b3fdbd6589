"""A bound on failed sign-ins: a token bucket per client address, and one for everybody.

Every sign-in attempt takes a token from its address's bucket and from the global one before
the key or password is checked (so concurrent guesses cannot all slip past one check), and a
successful sign-in gives both back: only failures use the allowance. A bucket holds `burst`
tokens and gains `burst` per `window_seconds`. When either bucket is empty the attempt is
refused with the seconds until it holds a token again (HTTP 429, Retry-After).

Memory is bounded whatever an unauthenticated caller sends: the per-address buckets live in
an LRU of at most `max_clients` entries, and a bucket that has refilled is dropped (a full
bucket is the same as none). Evicting an address forgets its failures, which is why the global
bucket exists: a caller rotating addresses to get fresh buckets still draws from it, so the
total guess rate stays bounded (at the price that, under such an attack, everybody waits).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_CLIENTS = 4096


@dataclass
class _Bucket:
    tokens: float
    at: float


class _Rate:
    """`burst` tokens, refilled at `burst / window_seconds` per second."""

    def __init__(self, burst: int, window_seconds: float) -> None:
        if burst < 1 or window_seconds <= 0:
            raise ValueError("burst must be >= 1 and window_seconds > 0")
        self.burst = float(burst)
        self.per_second = burst / window_seconds

    def level(self, bucket: _Bucket, now: float) -> float:
        return min(self.burst, bucket.tokens + max(0.0, now - bucket.at) * self.per_second)

    def wait(self, tokens: float) -> float:
        """Seconds until a bucket holding `tokens` holds one."""
        return max(0.0, (1.0 - tokens) / self.per_second)


class SignInLimiter:
    def __init__(
        self,
        *,
        burst: int = 5,
        window_seconds: float = 60.0,
        global_burst: int = 100,
        global_window_seconds: float | None = None,
        max_clients: int = DEFAULT_MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_clients < 1:
            raise ValueError("max_clients must be >= 1")
        self._client_rate = _Rate(burst, window_seconds)
        self._global_rate = _Rate(global_burst, global_window_seconds or window_seconds)
        self._clients: OrderedDict[str, _Bucket] = OrderedDict()
        self._global = _Bucket(self._global_rate.burst, clock())
        self._max_clients = max_clients
        self._clock = clock

    def __len__(self) -> int:
        """Addresses tracked now (never more than `max_clients`)."""
        return len(self._clients)

    def take(self, client: str) -> int | None:
        """Take a token for one attempt of `client`: None when allowed (the token is taken),
        else the whole seconds to wait before trying again (nothing taken)."""
        now = self._clock()
        bucket = self._clients.get(client)
        mine = self._client_rate.level(bucket, now) if bucket else self._client_rate.burst
        everyone = self._global_rate.level(self._global, now)
        if mine < 1.0 or everyone < 1.0:
            wait = max(
                self._client_rate.wait(mine) if mine < 1.0 else 0.0,
                self._global_rate.wait(everyone) if everyone < 1.0 else 0.0,
            )
            return max(1, math.ceil(wait))
        self._global = _Bucket(everyone - 1.0, now)
        self._clients[client] = _Bucket(mine - 1.0, now)
        self._clients.move_to_end(client)
        while len(self._clients) > self._max_clients:
            self._clients.popitem(last=False)
        return None

    def give_back(self, client: str) -> None:
        """The attempt succeeded: its token returns to both buckets."""
        now = self._clock()
        self._global = _Bucket(
            min(self._global_rate.burst, self._global_rate.level(self._global, now) + 1.0), now
        )
        bucket = self._clients.get(client)
        if bucket is None:
            return
        tokens = self._client_rate.level(bucket, now) + 1.0
        if tokens >= self._client_rate.burst:
            del self._clients[client]  # full again: the same as not tracked
        else:
            self._clients[client] = _Bucket(tokens, now)

"""Access tokens and the `TokenProvider` interface the client asks for them.

The auth-broker's internal lease implements `TokenProvider` in production; tests use
`StaticTokenProvider`. The client calls `get(key)` before each request and, on an
expired-token error (105002), `refresh_after_expired(key, expired)` exactly once and
repeats the call with the token it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class AccessToken:
    """A usable access token plus the ciphers of the shops it covers (shop_id -> cipher)."""

    access_token: str = field(repr=False)
    expires_at: int | None = None
    shop_ciphers: Mapping[str, str] = field(default_factory=dict)

    def cipher_for(self, shop_id: str | None) -> str | None:
        """The cipher of `shop_id`, or the only shop's cipher when no id is given."""
        if shop_id is not None:
            return self.shop_ciphers.get(shop_id)
        if len(self.shop_ciphers) == 1:
            return next(iter(self.shop_ciphers.values()))
        return None

    def __str__(self) -> str:  # never print the token itself
        return f"AccessToken(expires_at={self.expires_at}, shops={list(self.shop_ciphers)})"


@runtime_checkable
class TokenProvider(Protocol):
    """Source of access tokens, keyed by an opaque connection key (e.g. connection id)."""

    async def get(self, key: str) -> AccessToken:
        """A token believed valid now (may come from a short-lived cache)."""
        ...

    async def refresh_after_expired(self, key: str, expired: AccessToken) -> AccessToken:
        """TikTok said `expired` has expired: return a fresh token (not from the same cache)."""
        ...


Refresher = Callable[[str, AccessToken], Awaitable[AccessToken]]


class StaticTokenProvider:
    """Fixed tokens per key; an optional `refresher` answers expired-token calls.

    Concurrent refreshes of the same key are coalesced: tasks that saw the same
    expired token share one refresher call.
    """

    def __init__(
        self, tokens: Mapping[str, AccessToken], *, refresher: Refresher | None = None
    ) -> None:
        self._tokens = dict(tokens)
        self._refresher = refresher
        self._locks: dict[str, asyncio.Lock] = {}
        self.refresh_calls = 0

    async def get(self, key: str) -> AccessToken:
        try:
            return self._tokens[key]
        except KeyError:
            raise LookupError(f"no token for connection key {key!r}") from None

    async def refresh_after_expired(self, key: str, expired: AccessToken) -> AccessToken:
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            current = self._tokens.get(key)
            if current is not None and current.access_token != expired.access_token:
                return current  # another task already refreshed
            if self._refresher is None:
                raise LookupError(f"no refresher configured for connection key {key!r}")
            self.refresh_calls += 1
            fresh = await self._refresher(key, expired)
            self._tokens[key] = fresh
            return fresh

    def set(self, key: str, token: AccessToken) -> None:
        self._tokens[key] = token

"""`TokenProvider` backed by the auth-broker's internal lease API (docs/auth-broker.md).

`POST {broker}/internal/v1/connections/{connection_id}/token` with
`Authorization: Bearer <service credential>` answers
`{connection_id, market, access_token, expires_at, shop_ciphers, shops}`; 401 without
credentials, 409 (with the reason) when the connection is expired or revoked.

Leases are cached in-process for a short time (and never past `expires_at - margin`),
so a busy worker does not hit the broker on every TikTok call; concurrent leases of one
connection share one broker request.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from .errors import TikTokError
from .tokens import AccessToken


class TokenLeaseError(TikTokError):
    """The broker could not hand out a token (transport error, 5xx, bad credentials...)."""


class ConnectionUnavailableError(TokenLeaseError):
    """409 from the broker: the connection is expired or revoked; the seller must re-authorize."""

    retriable = False


@dataclass
class _Cached:
    token: AccessToken
    fetched_at: float


class BrokerLeaseTokenProvider:
    def __init__(
        self,
        broker_url: str,
        credential: SecretStr,
        http: httpx.AsyncClient,
        *,
        cache_seconds: float = 30.0,
        expiry_margin_seconds: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._base = broker_url.rstrip("/")
        self._credential = credential
        self._http = http
        self._cache_seconds = cache_seconds
        self._margin = expiry_margin_seconds
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.lease_calls = 0

    async def get(self, key: str) -> AccessToken:
        cached = self._fresh(key)
        if cached is not None:
            return cached
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._fresh(key)  # another task may have leased meanwhile
            if cached is not None:
                return cached
            return await self._lease(key)

    async def refresh_after_expired(self, key: str, expired: AccessToken) -> AccessToken:
        async with self._locks.setdefault(key, asyncio.Lock()):
            current = self._cache.get(key)
            if current is not None and current.token.access_token != expired.access_token:
                return current.token  # a concurrent task already got a newer token
            self._cache.pop(key, None)
            # The broker may still believe the token valid (TikTok can end it early): name it
            # by hash so the broker refreshes it once instead of handing it back.
            return await self._lease(key, stale=expired)

    def invalidate(self, key: str) -> None:
        self._cache.pop(key, None)

    def _fresh(self, key: str) -> AccessToken | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        now = self._clock()
        expires_at = entry.token.expires_at
        if now - entry.fetched_at > self._cache_seconds:
            return None
        if expires_at is not None and expires_at - self._margin <= now:
            return None
        return entry.token

    async def _lease(self, key: str, stale: AccessToken | None = None) -> AccessToken:
        self.lease_calls += 1
        url = f"{self._base}/internal/v1/connections/{key}/token"
        headers = {"Authorization": f"Bearer {self._credential.get_secret_value()}"}
        body = None
        if stale is not None:
            digest = hashlib.sha256(stale.access_token.encode()).hexdigest()
            body = {"stale_token_sha256": digest}
        try:
            response = await self._http.post(url, headers=headers, json=body)
        except httpx.TransportError as exc:
            raise TokenLeaseError(
                f"token lease for connection {key} failed ({type(exc).__name__})", retriable=True
            ) from None
        if response.status_code == 409:
            raise ConnectionUnavailableError(
                f"connection {key} is unavailable: {_reason(response)}", http_status=409
            )
        if response.status_code != 200:
            raise TokenLeaseError(
                f"token lease for connection {key} answered HTTP {response.status_code}: "
                f"{_reason(response)}",
                http_status=response.status_code,
                retriable=response.status_code >= 500,
            )
        try:
            body = response.json()
            token = AccessToken(
                access_token=str(body["access_token"]),
                expires_at=int(body["expires_at"]) if body.get("expires_at") is not None else None,
                shop_ciphers={str(k): str(v) for k, v in (body.get("shop_ciphers") or {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            raise TokenLeaseError(
                f"token lease for connection {key}: malformed answer", retriable=True
            ) from None
        self._cache[key] = _Cached(token, self._clock())
        return token


def _reason(response: httpx.Response) -> str:
    """The broker's error text (`{"error", "detail"}`); never echoes request headers."""
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("error") or response.reason_phrase)
    return response.reason_phrase

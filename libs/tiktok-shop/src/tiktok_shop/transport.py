"""The one shared `httpx.AsyncClient` of a process, with explicit pool limits and timeouts.

Build one `Transport` at the composition root (app lifespan / worker main) and hand it to
every `TikTokShopClient` and `OAuthClient`; close it on shutdown. Never build one at import.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

import httpx

from .config import ClientConfig


def build_http_client(config: ClientConfig) -> httpx.AsyncClient:
    """An AsyncClient with the configured limits/timeouts; no base_url (two hosts share it)."""
    t, p = config.timeouts, config.pool
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool),
        limits=httpx.Limits(
            max_connections=p.max_connections,
            max_keepalive_connections=p.max_keepalive_connections,
            keepalive_expiry=p.keepalive_expiry,
        ),
        headers={"User-Agent": config.user_agent},
        # TikTok never redirects API calls; following one could leak the token header.
        follow_redirects=False,
    )


class AsyncClosing:
    """`async with obj:` closes `obj` on exit; subclasses define `aclose()`."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Transport(AsyncClosing):
    """Owns (or borrows) the shared AsyncClient."""

    def __init__(self, config: ClientConfig, http: httpx.AsyncClient | None = None) -> None:
        self._owned = http is None
        self.http = http or build_http_client(config)

    async def aclose(self) -> None:
        if self._owned:
            await self.http.aclose()


# Failures raised before any byte of the request left: safe to repeat any call.
NOT_SENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)
# Failures after sending started: TikTok may have executed the request.
MAYBE_SENT_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError,)

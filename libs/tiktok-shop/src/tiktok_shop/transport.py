"""The one shared `httpx.AsyncClient` of a process, with explicit pool limits and timeouts.

Build one `Transport` at the composition root (app lifespan / worker main) and hand it to
every `TikTokShopClient` and `OAuthClient`; close it on shutdown. Never build one at import.
"""

from __future__ import annotations

import select
import socket
import ssl
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

import httpcore
import httpx

from .config import ClientConfig


def build_http_client(config: ClientConfig) -> httpx.AsyncClient:
    """An AsyncClient with the configured limits/timeouts; no base_url (two hosts share it)."""
    t, p = config.timeouts, config.pool
    limits = httpx.Limits(
        max_connections=p.max_connections,
        max_keepalive_connections=p.max_keepalive_connections,
        keepalive_expiry=p.keepalive_expiry,
    )
    return httpx.AsyncClient(
        timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.write, pool=t.pool),
        transport=pooled_transport(limits),
        headers={"User-Agent": config.user_agent},
        # TikTok never redirects API calls; following one could leak the token header.
        follow_redirects=False,
    )


def pooled_transport(limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's transport, with a pool whose idle-connection check is cheap (`_FastIdleCheck`)."""
    transport = httpx.AsyncHTTPTransport(limits=limits)
    pool = getattr(transport, "_pool", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and hasattr(pool, "_network_backend"):
        pool._network_backend = _FastIdleCheckBackend(pool._network_backend)
    return transport


def _socket_readable(sock: socket.socket | None) -> bool:
    """Readable (or gone): for an idle HTTP/1.1 connection that means the server closed it."""
    if sock is None or sock.fileno() == -1:
        return True
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


class _FastIdleCheck(httpcore.AsyncNetworkStream):
    """A network stream whose `is_readable` asks the socket directly.

    Before each request httpcore's pool asks every idle connection whether the server closed
    it (`get_extra_info("is_readable")`); the anyio stream answers through anyio's typed
    attribute lookup, which at 200 calls/s over dozens of pooled connections cost several per
    cent of a process's CPU (bench/README.md). Everything else is the wrapped stream's.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._sock: socket.socket | None = inner.get_extra_info("socket")

    # httpcore's stream interface takes `timeout` arguments (hence the noqa: ASYNC109).
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        return _FastIdleCheck(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable" and self._sock is not None:
            return _socket_readable(self._sock)
        return self._inner.get_extra_info(info)


class _FastIdleCheckBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _FastIdleCheck(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return _FastIdleCheck(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


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

"""The shared client's pool (tiktok_shop.transport): its own idle-connection check still
notices a server that closed a kept-alive connection, so the next request goes out on a new
connection instead of failing on the dead one. A real HTTP server on a real socket."""

from __future__ import annotations

import asyncio

import httpx
from pydantic import SecretStr
from tiktok_shop.config import ClientConfig
from tiktok_shop.transport import _FastIdleCheck, _FastIdleCheckBackend, build_http_client


class ClosingServer:
    """HTTP/1.1 keep-alive server that can close every open connection on demand."""

    def __init__(self) -> None:
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                while await reader.readline() not in (b"\r\n", b""):
                    pass
                if reader.at_eof():
                    return
                body = b'{"code":0}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def close_all(self) -> None:
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    async def stop(self) -> None:
        await self.close_all()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    server = ClosingServer()
    url = await server.start()
    client = build_http_client(ClientConfig(app_key="k", app_secret=SecretStr("s")))
    try:
        pool = client._transport._pool  # type: ignore[attr-defined]
        assert isinstance(pool._network_backend, _FastIdleCheckBackend)

        assert (await client.get(url + "/a")).json() == {"code": 0}
        assert (await client.get(url + "/b")).json() == {"code": 0}
        assert server.connections == 1  # kept alive and reused
        streams = [c._connection._network_stream for c in pool.connections]
        assert streams and all(isinstance(s, _FastIdleCheck) for s in streams)
        assert not streams[0].get_extra_info("is_readable")

        await server.close_all()
        async with asyncio.timeout(10):
            while not streams[0].get_extra_info("is_readable"):  # noqa: ASYNC110 - a socket
                await asyncio.sleep(0.01)

        # The dead connection is noticed before use: no error, a second connection.
        assert (await client.get(url + "/c")).json() == {"code": 0}
        assert server.connections == 2
    finally:
        await client.aclose()
        await server.stop()


async def test_errors_keep_their_httpx_types() -> None:
    """Not-sent vs maybe-sent classification (tiktok_shop.transport) depends on these."""
    client = build_http_client(ClientConfig(app_key="k", app_secret=SecretStr("s")))
    try:
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        try:
            await client.get(f"http://127.0.0.1:{port}/")
        except httpx.ConnectError:
            pass
        else:  # pragma: no cover
            raise AssertionError("a refused connection must be httpx.ConnectError")
    finally:
        await client.aclose()

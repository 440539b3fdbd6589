"""An unexpected sandbox error answers like TikTok's 36009003 and keeps the connection open."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import orjson
import pytest
from tiktok_sandbox import signing
from tiktok_sandbox.testing import RunningSandbox, SignedClient, run_sandbox


@pytest.fixture
def sb() -> Iterator[RunningSandbox]:
    with run_sandbox() as sandbox:
        yield sandbox


def _signed_get(client: SignedClient, path: str) -> bytes:
    query = {"app_key": client.settings.app_key, "timestamp": str(int(time.time()))}
    query["shop_cipher"] = client.cipher or ""
    query["sign"] = signing.sign(client.settings.app_secret, path, query)
    host = urlsplit(client.base_url).netloc
    return (
        f"GET {path}?{urlencode(query)} HTTP/1.1\r\nHost: {host}\r\n"
        f"x-tts-access-token: {client.access_token}\r\n\r\n"
    ).encode()


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a content-length body: (status, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    length = next(int(h.split(":")[1]) for h in lines if h.lower().startswith("content-length"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        body += chunk
    return int(lines[0].split()[1]), body[:length]


def test_internal_error_is_an_envelope_and_the_connection_survives(sb: RunningSandbox) -> None:
    us = sb.client("US")

    def broken(*args: object) -> None:
        raise RuntimeError("a sandbox bug")

    sb.state.products.require = broken  # type: ignore[method-assign]
    host, port = urlsplit(sb.base_url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(_signed_get(us, "/product/202309/products/1"))
        status, body = _read_response(sock)
        assert status == 500
        envelope = orjson.loads(body)
        assert envelope["code"] == 36009003 and envelope["data"] is None
        assert "a sandbox bug" not in envelope["message"]  # internals stay in the log
        time.sleep(0.2)
        # Keep-alive: the same connection serves the next request.
        sock.sendall(_signed_get(us, "/product/202309/brands"))
        status, body = _read_response(sock)
        assert status == 200 and orjson.loads(body)["code"] == 0

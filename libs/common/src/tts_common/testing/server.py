"""Serve an ASGI app on a real socket for a test, configured as `<service> serve` runs it.

`serving(app)` binds a free loopback port, runs uvicorn in a thread with the app's own
`tts_common.http.server_options` (h11, header limit, keep-alive) and yields the base URL
once `ready_path` answers 200 (waiting on that condition, never on a fixed sleep).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn

from tts_common.http import server_options


@contextlib.contextmanager
def serving(
    app: Any, ready_path: str = "/healthz", ready_tries: int = 240, port: int = 0
) -> Iterator[str]:
    """`port`: 0 for any free one; a given one when its URL had to be known first (e.g. a
    webhook address configured in another app before this one starts)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, access_log=False, timeout_graceful_shutdown=2, **server_options(app)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"serving-{port}", daemon=True
    )
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, thread, ready_path, ready_tries)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def _wait_ready(base: str, thread: threading.Thread, path: str, tries: int) -> None:
    last = "no answer"
    pause = threading.Event()
    with httpx.Client(base_url=base, timeout=5) as client:
        for _ in range(tries):
            if not thread.is_alive():
                raise RuntimeError(f"the server at {base} stopped before it was ready")
            try:
                r = client.get(path)
            except httpx.TransportError as exc:
                last = repr(exc)
            else:
                if r.status_code == 200:
                    return
                last = f"{r.status_code} {r.text[:200]}"
            pause.wait(0.25)
    raise RuntimeError(f"{base}{path} never answered 200: {last}")

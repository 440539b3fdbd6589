"""Run the sandbox over real HTTP for tests: `with run_sandbox(qps=5) as sb: ...`.

`run_sandbox(**settings_overrides)` starts uvicorn on 127.0.0.1 with a free port in a
background thread and yields a `RunningSandbox` with `base_url`, `state`, `settings`,
plus helpers to authorize a seller and to make correctly signed calls.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import uvicorn

from . import signing
from .app import create_app
from .seed import SHOPS, UK_SHOP_ID, US_SHOP_ID
from .settings import Settings
from .state import SandboxState

REGION_SHOP = {"US": US_SHOP_ID, "UK": UK_SHOP_ID}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SignedClient:
    """A minimal, correct TikTok client for tests (sync httpx, signs every call)."""

    base_url: str
    settings: Settings
    access_token: str
    cipher: str | None
    http: httpx.Client = field(repr=False)

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        *,
        cipher: bool = True,
        files: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        timestamp: int | None = None,
        sign_override: str | None = None,
    ) -> httpx.Response:
        query = {k: str(v) for k, v in (params or {}).items()}
        query["app_key"] = self.settings.app_key
        query["timestamp"] = str(timestamp if timestamp is not None else int(time.time()))
        if cipher and self.cipher:
            query["shop_cipher"] = self.cipher
        body = b"" if json is None else orjson.dumps(json)
        signed_body = body if method != "GET" and files is None else b""
        query["sign"] = sign_override or signing.sign(
            self.settings.app_secret, path, query, signed_body
        )
        hdrs = {"x-tts-access-token": self.access_token, **(headers or {})}
        if files is not None:
            return self.http.request(
                method, path, params=query, files=files, data=data, headers=hdrs
            )
        if json is not None:
            hdrs["content-type"] = "application/json"
        return self.http.request(method, path, params=query, content=body or None, headers=hdrs)

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """Request and return the decoded envelope."""
        result: dict[str, Any] = self.request(method, path, **kwargs).json()
        return result


@dataclass
class RunningSandbox:
    base_url: str
    state: SandboxState
    settings: Settings
    http: httpx.Client = field(repr=False)

    def admin(self, method: str, path: str, json: Any = None) -> dict[str, Any]:
        result: dict[str, Any] = self.http.request(method, path, json=json).json()
        return result

    def authorize(self, region: str = "US") -> dict[str, Any]:
        """Browserless OAuth: code from `/sandbox/v1/authorizations`, then token get."""
        code = self.admin("POST", "/sandbox/v1/authorizations", {"region": region})["data"]["code"]
        resp = self.http.get(
            "/api/v2/token/get",
            params={
                "app_key": self.settings.app_key,
                "app_secret": self.settings.app_secret,
                "auth_code": code,
                "grant_type": "authorized_code",
            },
        ).json()
        data: dict[str, Any] = resp["data"]
        return data

    def client(self, region: str = "US", access_token: str | None = None) -> SignedClient:
        token = access_token or self.authorize(region)["access_token"]
        cipher = SHOPS[REGION_SHOP[region]]["cipher"]
        return SignedClient(self.base_url, self.settings, token, cipher, self.http)

    def shop_id(self, region: str = "US") -> str:
        return REGION_SHOP[region]


@contextlib.contextmanager
def run_sandbox(**settings_overrides: Any) -> Iterator[RunningSandbox]:
    """Serve a fresh sandbox (dev defaults + overrides, env ignored) on a free port."""
    settings = Settings(**settings_overrides)
    state = SandboxState(settings)
    app = create_app(settings, state)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"sandbox-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("sandbox did not start")
        time.sleep(0.02)
    base_url = f"http://127.0.0.1:{port}"
    http = httpx.Client(base_url=base_url, timeout=10)
    try:
        yield RunningSandbox(base_url, state, settings, http)
    finally:
        http.close()
        server.should_exit = True
        thread.join(timeout=10)

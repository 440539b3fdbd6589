"""The `tiktok-sandbox` command: --host/--port and SANDBOX_* settings from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
from tiktok_sandbox.testing import free_port


def test_cli_serves_with_env_settings() -> None:
    port = free_port()
    env = {**os.environ, "SANDBOX_APP_KEY": "cli-key", "SANDBOX_APP_SECRET": "cli-secret"}
    cmd = [sys.executable, "-m", "tiktok_sandbox", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "sandbox CLI did not start"
            time.sleep(0.1)
        code = httpx.post(f"{base}/sandbox/v1/authorizations", json={"region": "US"}).json()
        params = {
            "app_key": "cli-key",
            "app_secret": "cli-secret",
            "auth_code": code["data"]["code"],
            "grant_type": "authorized_code",
        }
        assert httpx.get(f"{base}/api/v2/token/get", params=params).json()["code"] == 0
        params["app_key"] = "6a7sbx0dev1"  # the default key is not accepted any more
        assert httpx.get(f"{base}/api/v2/token/get", params=params).json()["code"] == 36009004
    finally:
        proc.terminate()
        proc.wait(timeout=15)

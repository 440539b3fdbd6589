"""Sandbox throughput: signed read requests per second over real sockets.

Starts `python -m tiktok_sandbox` as its own process (as `make up` runs it) with the
rate limiter off (SANDBOX_QPS=0: we measure capacity, not the emulated limit), seeds
one product, then drives a mix of signed GETs from a lightweight asyncio keep-alive
client for a fixed time. Every request is freshly signed (timestamp + HMAC) and every
response is checked for `"code":0`. Target: >= 1,500 req/s on this machine.

    uv run python bench/sandbox_bench.py [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from tiktok_sandbox import signing
from tiktok_sandbox.seed import SHOPS, US_SHOP_ID
from tiktok_sandbox.settings import Settings
from tiktok_sandbox.testing import SignedClient, free_port, sample_sofa

RESULTS = Path(__file__).resolve().parent / "results" / "sandbox.json"
TARGET_RPS = 1500


def start_server(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "tiktok_sandbox", "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/sandbox/v1/clock", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("sandbox did not start")


def seed(base_url: str, settings: Settings) -> tuple[str, str, str]:
    """Authorize the US seller and create one product; returns (token, cipher, product_id)."""
    http = httpx.Client(base_url=base_url, timeout=10)
    code = http.post("/sandbox/v1/authorizations", json={"region": "US"}).json()["data"]["code"]
    token = http.get(
        "/api/v2/token/get",
        params={
            "app_key": settings.app_key,
            "app_secret": settings.app_secret,
            "auth_code": code,
            "grant_type": "authorized_code",
        },
    ).json()["data"]["access_token"]
    cipher = SHOPS[US_SHOP_ID]["cipher"]
    client = SignedClient(base_url, settings, token, cipher, http)
    created = client.call("POST", "/product/202309/products", json=sample_sofa(client, "BENCH"))
    assert created["code"] == 0, created
    leaf = client.leaf_id("Sofas")
    http.close()
    return token, cipher, created["data"]["product_id"] + "|" + leaf


def request_bytes(settings: Settings, token: str, path: str, params: dict[str, str]) -> bytes:
    query = {**params, "app_key": settings.app_key, "timestamp": str(int(time.time()))}
    query["sign"] = signing.sign(settings.app_secret, path, query)
    return (
        f"GET {path}?{urlencode(query)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"x-tts-access-token: {token}\r\n\r\n"
    ).encode()


async def worker(
    port: int,
    targets: list[tuple[str, dict[str, str]]],
    make: Any,
    stop_at: float,
    latencies: list[float],
    counts: dict[str, int],
    offset: int,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.perf_counter() < stop_at:
            path, params = targets[i % len(targets)]
            i += 1
            started = time.perf_counter()
            writer.write(make(path, params))
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            ok = head.startswith(b"HTTP/1.1 200") and body.startswith(b'{"code":0')
            counts["ok" if ok else "errors"] += 1
    finally:
        writer.close()


async def drive(
    port: int,
    targets: list[tuple[str, dict[str, str]]],
    make: Any,
    seconds: float,
    connections: int,
) -> dict[str, Any]:
    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    start = time.perf_counter()
    stop_at = start + seconds
    await asyncio.gather(
        *(worker(port, targets, make, stop_at, latencies, counts, n) for n in range(connections))
    )
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2)

    total = counts["ok"] + counts["errors"]
    return {
        "requests": total,
        "ok": counts["ok"],
        "errors": counts["errors"],
        "seconds": round(elapsed, 2),
        "rps": round(counts["ok"] / elapsed, 1),
        "latency_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--strict", action="store_true", help="exit 1 below the target")
    args = parser.parse_args()
    env = {**os.environ, "SANDBOX_QPS": "0"}
    settings = Settings.from_env(env)
    port = free_port()
    proc = start_server(port, env)
    try:
        token, cipher, ids = seed(f"http://127.0.0.1:{port}", settings)
        product_id, leaf = ids.split("|")
        shop = {"shop_cipher": cipher}
        targets = [
            (f"/product/202309/products/{product_id}", shop),
            ("/product/202309/brands", {**shop, "page_size": "20"}),
            (f"/product/202309/categories/{leaf}/attributes", {**shop, "category_version": "v2"}),
            ("/authorization/202309/shops", {}),
        ]

        def make(path: str, params: dict[str, str]) -> bytes:
            return request_bytes(settings, token, path, params)

        asyncio.run(drive(port, targets, make, 1.0, args.connections))  # warm-up
        result = asyncio.run(drive(port, targets, make, args.seconds, args.connections))
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    report = {
        "benchmark": "sandbox signed reads",
        "target_rps": TARGET_RPS,
        "passed": result["rps"] >= TARGET_RPS and result["errors"] == 0,
        **result,
        "connections": args.connections,
        "mix": [t[0].replace(product_id, "{product_id}").replace(leaf, "{leaf}") for t in targets],
        "server": "python -m tiktok_sandbox (uvicorn, 1 process), SANDBOX_QPS=0",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 1 if args.strict and not report["passed"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""Client rate-limiter benchmark: 500 concurrent calls against a 50-QPS sandbox limit.

The sandbox enforces a token bucket of `--sandbox-qps` per (app, shop, operation) and
answers HTTP 429 / 36009002 beyond it. All calls are started at once (10x
oversubscription of one second's budget); the client's adaptive limiter must pace
them so that 429s stay <= 1% of calls and throughput >= 90% of the limit.

A second, informational scenario misconfigures the client at twice the server's
limit to show the limiter adapting (halving on 429, additive recovery).

    uv run python bench/client_bench.py            # writes bench/results/client.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from tiktok_sandbox.testing import RunningSandbox, run_sandbox
from tiktok_shop import (
    AccessToken,
    ClientConfig,
    MemoryCallLog,
    StaticTokenProvider,
    TikTokError,
    TikTokShopClient,
)
from tiktok_shop.config import RateLimitConfig, RetryConfig

RESULTS = Path(__file__).resolve().parent / "results" / "client.json"


def config_for(sb: RunningSandbox, client_qps: float) -> ClientConfig:
    return ClientConfig(
        app_key=sb.settings.app_key,
        app_secret=SecretStr(sb.settings.app_secret),
        open_api_base_url=sb.base_url,
        auth_base_url=sb.base_url,
        rate_limit=RateLimitConfig(qps=client_qps),
        retry=RetryConfig(max_attempts=6, base_delay=0.05, max_delay=1.0),
    )


async def scenario(sb: RunningSandbox, calls: int, client_qps: float) -> dict[str, Any]:
    grant = sb.authorize("US")
    shop_id = sb.shop_id("US")
    cipher = sb.client("US", access_token=grant["access_token"]).cipher or ""
    tokens = StaticTokenProvider(
        {"bench": AccessToken(grant["access_token"], shop_ciphers={shop_id: cipher})}
    )
    log = MemoryCallLog()
    sb.admin("DELETE", "/sandbox/v1/stats")
    async with TikTokShopClient(config_for(sb, client_qps), tokens, call_log=log) as client:
        shop = client.shop("bench", shop_id)
        failures = 0

        async def one() -> None:
            nonlocal failures
            try:
                await shop.logistics.get_warehouses()
            except TikTokError:
                failures += 1

        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(one() for _ in range(calls))), timeout=300)
        duration = time.perf_counter() - started
        final_qps = client.limiter.current_qps(shop_id, "getWarehouseList")
        decreases = client.limiter.state(shop_id, "getWarehouseList").decreases
    stats = sb.admin("GET", "/sandbox/v1/stats")["data"]
    server_calls = int(stats["calls"].get("GET /logistics/202309/warehouses", 0))
    server_429 = int(stats["rate_limited"].get("GET /logistics/202309/warehouses", 0))
    client_429 = sum(1 for r in log.records if r.status == 429)
    succeeded = calls - failures
    achieved = succeeded / duration
    sandbox_qps = sb.settings.qps
    return {
        "calls": calls,
        "succeeded": succeeded,
        "failed": failures,
        "http_requests": len(log.records),
        "server_calls_seen": server_calls,
        "rate_limited_429": server_429,
        "rate_limited_429_seen_by_client": client_429,
        "rate_limited_pct_of_calls": round(100.0 * server_429 / calls, 3),
        "sandbox_qps_limit": sandbox_qps,
        "client_configured_qps": client_qps,
        "client_final_qps": round(final_qps, 2),
        "limiter_decreases": decreases,
        "achieved_qps": round(achieved, 2),
        "ratio_to_limit": round(achieved / sandbox_qps, 4),
        "duration_seconds": round(duration, 3),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with run_sandbox(qps=args.sandbox_qps) as sb:
        # Warm the connection pool and the sandbox's lazy seeds outside the timed runs.
        await scenario(sb, 5, args.sandbox_qps)
        await asyncio.sleep(1.1)  # let the bucket refill after the warm-up
        main = await scenario(sb, args.calls, args.client_qps or args.sandbox_qps)
        await asyncio.sleep(1.1)
        over = await scenario(sb, args.calls, 2 * args.sandbox_qps)
    passed = main["rate_limited_429"] <= 0.01 * main["calls"] and main["ratio_to_limit"] >= 0.9
    return {
        "benchmark": "tiktok-shop client adaptive limiter vs sandbox token bucket",
        "operation": "getWarehouseList (GET /logistics/202309/warehouses)",
        "oversubscription": f"{args.calls} concurrent calls vs {args.sandbox_qps:g} QPS",
        "targets": {"max_429_pct": 1.0, "min_ratio_to_limit": 0.9},
        "passed": passed,
        **main,
        "scenario_client_misconfigured_2x": over,
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--sandbox-qps", type=float, default=50.0)
    parser.add_argument("--client-qps", type=float, default=None, help="default: = sandbox QPS")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Contract: rate limits (429), server errors (503), timeouts and resets over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from tiktok_sandbox.ratelimit import RateLimiter
from tiktok_sandbox.testing import RunningSandbox, run_sandbox
from tiktok_shop import NetworkError, RateLimitedError, ServerError
from tiktok_shop.config import RateLimitConfig, RetryConfig, TimeoutConfig
from tts_client_contract import connect

WAREHOUSES = "GET /logistics/202309/warehouses"


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[RunningSandbox]:
    # A tight server limit so a small burst overruns it.
    with run_sandbox(qps=4.0) as sb:
        yield sb


def stats(sb: RunningSandbox) -> dict[str, dict[str, int]]:
    data: dict[str, dict[str, int]] = sb.admin("GET", "/sandbox/v1/stats")["data"]
    return data


async def test_429_is_rate_limited_error_when_retries_are_exhausted(
    slow_sandbox: RunningSandbox,
) -> None:
    # The server's bucket clock stands still: 4 tokens and no refill, however slowly
    # the burst arrives.
    slow_sandbox.state.ratelimiter = RateLimiter(4.0, now=lambda: 0.0)
    conn = await connect(
        slow_sandbox,
        "US",
        rate_limit=RateLimitConfig(qps=1000.0),
        retry=RetryConfig(max_attempts=1),
    )
    try:
        results = await asyncio.gather(
            *(conn.shop.logistics.get_warehouses() for _ in range(12)), return_exceptions=True
        )
        limited = [r for r in results if isinstance(r, RateLimitedError)]
        assert len(limited) == 12 - 4, "the burst should overrun a 4-token bucket"
        assert all(e.code == 36009002 and e.http_status == 429 and e.retriable for e in limited)
        assert conn.client.limiter.current_qps(conn.shop_id, "getWarehouseList") < 1000.0
    finally:
        await conn.client.aclose()


async def test_limiter_adapts_and_retries_until_every_call_succeeds(
    slow_sandbox: RunningSandbox,
) -> None:
    slow_sandbox.state.ratelimiter = RateLimiter(4.0)  # full buckets, real clock
    conn = await connect(
        slow_sandbox,
        "UK",
        rate_limit=RateLimitConfig(qps=40.0, recovery_qps_per_second=0.5),
        retry=RetryConfig(max_attempts=8, base_delay=0.05, max_delay=0.5),
    )
    try:
        before = stats(slow_sandbox)["rate_limited"].get(WAREHOUSES, 0)
        results = await asyncio.gather(*(conn.shop.logistics.get_warehouses() for _ in range(16)))
        assert all(r.warehouses for r in results)
        after = stats(slow_sandbox)["rate_limited"].get(WAREHOUSES, 0)
        assert after > before  # the server did push back ...
        st = conn.client.limiter.state(conn.shop_id, "getWarehouseList")
        assert st.decreases >= 1 and st.rate < 40.0  # ... and the limiter backed off
    finally:
        await conn.client.aclose()


async def test_503_on_a_read_is_retried_then_raised_as_server_error(
    sandbox: RunningSandbox,
) -> None:
    conn = await connect(sandbox, "US", retry=RetryConfig(max_attempts=3, base_delay=0.01))
    try:
        sandbox.admin("POST", "/sandbox/v1/faults", {"error_rate": 1.0, "operations": [WAREHOUSES]})
        before = stats(sandbox)["calls"].get(WAREHOUSES, 0)
        with pytest.raises(ServerError) as info:
            await conn.shop.logistics.get_warehouses()
        assert (info.value.code, info.value.http_status) == (36009003, 503)
        assert info.value.retriable and info.value.request_id
        assert stats(sandbox)["calls"].get(WAREHOUSES, 0) - before == 3
    finally:
        sandbox.admin("DELETE", "/sandbox/v1/faults")
        await conn.client.aclose()


async def test_one_503_is_absorbed_by_a_retry(sandbox: RunningSandbox) -> None:
    conn = await connect(sandbox, "US")
    try:
        sandbox.admin(
            "POST",
            "/sandbox/v1/faults",
            {"error_rate": 1.0, "remaining": 1, "operations": [WAREHOUSES]},
        )
        assert (await conn.shop.logistics.get_warehouses()).warehouses
        codes = [r.code for r in conn.log.records if r.operation == "getWarehouseList"]
        assert codes == [36009003, 0]
    finally:
        sandbox.admin("DELETE", "/sandbox/v1/faults")
        await conn.client.aclose()


@pytest.mark.parametrize("fault", ["timeout", "reset"])
async def test_lost_answer_on_a_read_is_retried(sandbox: RunningSandbox, fault: str) -> None:
    conn = await connect(sandbox, "US", timeouts=TimeoutConfig(read=1.5))
    try:
        sandbox.admin(
            "POST",
            "/sandbox/v1/faults",
            {
                f"{fault}_rate": 1.0,
                "timeout_seconds": 5.0,
                "remaining": 1,
                "operations": [WAREHOUSES],
            },
        )
        assert (await conn.shop.logistics.get_warehouses()).warehouses
        errors = [r.error for r in conn.log.records if r.operation == "getWarehouseList"]
        assert errors == ["NetworkError", None]
    finally:
        sandbox.admin("DELETE", "/sandbox/v1/faults")
        await conn.client.aclose()


async def test_persistent_reset_on_a_read_ends_in_network_error(sandbox: RunningSandbox) -> None:
    conn = await connect(sandbox, "US", retry=RetryConfig(max_attempts=2, base_delay=0.01))
    try:
        sandbox.admin("POST", "/sandbox/v1/faults", {"reset_rate": 1.0, "operations": [WAREHOUSES]})
        with pytest.raises(NetworkError) as info:
            await conn.shop.logistics.get_warehouses()
        assert info.value.retriable and info.value.sent
    finally:
        sandbox.admin("DELETE", "/sandbox/v1/faults")
        await conn.client.aclose()

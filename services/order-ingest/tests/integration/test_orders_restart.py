"""`order-ingest serve` SIGKILLed in the middle of an import and started again: the pass
resumes from its last committed page; every order is stored once and announced once per
version."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth_broker.testing import free_port, settings_env
from orders_testing import AUTH, Stack, StackFactory, sandbox_orders, seed_orders, wait_for

pytestmark = pytest.mark.integration

ORDERS = 3000


@contextlib.contextmanager
def serve(stack: Stack, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`order-ingest serve` as its own process, with the stack's settings."""
    s = stack.settings
    env = settings_env(
        database_url=s.database_url,
        kafka_bootstrap=s.kafka_bootstrap,
        auth_broker_url=s.auth_broker_url,
        service_credential=s.service_credential,
        tiktok_open_api_url=s.tiktok_open_api_url,
        tiktok_app_key=s.tiktok_app_key,
        tiktok_app_secret=s.tiktok_app_secret,
        worker_idle_seconds=0.1,
        run_stale_seconds=s.run_stale_seconds,
        consumer_group_prefix=s.consumer_group_prefix,
        log_json="false",
    )
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "order_ingest.cli", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


async def _ready(http: httpx.AsyncClient, proc: subprocess.Popen[bytes]) -> bool:
    assert proc.poll() is None, "order-ingest exited"
    try:
        return (await http.get("/readyz")).status_code == 200
    except httpx.TransportError:
        return False


async def _runs(stack: Stack) -> list[dict[str, Any]]:
    conn = await stack.db()
    try:
        rows = await conn.fetch("SELECT status, pages, owner FROM order_import_runs")
    finally:
        await conn.close()
    return [dict(r) for r in rows]


@pytest.mark.slow
async def test_a_killed_import_resumes_and_stores_and_announces_each_version_once(
    order_stack: StackFactory, tmp_path: Path
) -> None:
    # 5 calls a second: the 30 pages take several seconds, time to kill the process.
    async with order_stack(sandbox={"qps": 5.0}, serve=False) as stack:
        seed_orders(stack.sandbox, ORDERS, seed=7)
        connection = await stack.connect()
        port = free_port()
        log = tmp_path / "order-ingest.log"
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=30
        ) as http:
            with serve(stack, port, log) as first:
                await wait_for(lambda: _ready(http, first), within=90, what="first process")
                r = await http.post(
                    "/v1/order-imports",
                    json={"connection_id": connection, "poll_interval_seconds": 86400},
                )
                assert r.status_code == 201, r.text

                async def some_pages() -> bool:
                    runs = await _runs(stack)
                    return any(run["pages"] >= 5 for run in runs)

                await wait_for(some_pages, within=120, what="a pass with 5 pages committed")
                first.send_signal(signal.SIGKILL)
                first.wait(timeout=10)
            killed = await _runs(stack)
            assert any(run["status"] == "running" for run in killed), killed
            assert all(run["pages"] < ORDERS // 100 for run in killed), killed

            with serve(stack, port, log) as second:
                await wait_for(lambda: _ready(http, second), within=90, what="second process")

                async def finished() -> bool:
                    runs = await _runs(stack)
                    return bool(runs) and all(run["status"] == "done" for run in runs)

                await wait_for(finished, within=180, what="the pass taken over and finished")
                ids = {o["id"]: o["update_time"] for o in sandbox_orders(stack.sandbox)}
                assert await stack.stored_versions() == ids

                await wait_for(
                    lambda: len(stack.events.distinct(connection)) >= ORDERS,
                    within=120,
                    what="an event for every order",
                )
                events = list(stack.events.distinct(connection).values())
                per_version = Counter((e.subject, e.data["update_time"], e.type) for e in events)
                assert max(per_version.values()) == 1, per_version.most_common(3)
                received = Counter(e.subject for e in events if e.type == "order.received")
                assert set(received) == set(ids) and set(received.values()) == {1}

"""Faults and a crash: with 10 % of the sandbox's answers 503 (and some answers lost after the
write was done), a real `shipment-notifier serve` SIGKILLed mid-batch and started again
notifies every shipment exactly once, and the deferred shipments survive the restart.

The default N keeps `make test` quick; `TTS_SHIPMENTS_KILL_N=5000` runs the full batch
(`make bench` does, see bench/README.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from auth_broker.testing import free_port, settings_env
from tts_common.events import SHIPMENT_CREATED, SHIPMENT_NOTIFIED, encode
from tts_common.testing.infra import libpq_dsn
from tts_common.testing.watch import TopicWatcher

from conftest import BATCH_SHIP, SHIP, Stack, StackFactory, eventually

N = int(os.environ.get("TTS_SHIPMENTS_KILL_N", "600"))
# The full batch takes minutes on the 2-core machine: beyond the suite's 300 s default.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300 if N <= 1000 else 2400)]
DEFERRED = 20
ALREADY_SHIPPED = 21011007  # the sandbox's "already shipped" (docs/sandbox-orders.md)


@contextlib.contextmanager
def notifier_process(
    env: dict[str, str], port: int, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    log_file = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipment_notifier.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log_file,
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
        log_file.close()


def _tail(log_path: Path) -> str:
    return log_path.read_text()[-3000:]


async def _ready(base: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        for _ in range(600):
            assert proc.poll() is None, _tail(log_path)
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(base + "/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise AssertionError("shipment-notifier did not get ready: " + _tail(log_path))


async def _counts(database_url: str) -> Counter[str]:
    conn = await asyncpg.connect(libpq_dsn(database_url))
    try:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM shipments GROUP BY status")
        return Counter({r["status"]: r["n"] for r in rows})
    finally:
        await conn.close()


async def _announce_all(
    stack: Stack, connection: str, orders: list[dict[str, Any]], kind: str
) -> None:
    sends = [
        await stack.producer.send(
            "tiktok.order-received.v1",
            encode(stack.order_event(connection, o, kind)),
            key=str(o["id"]).encode(),
        )
        for o in orders
    ]
    await asyncio.gather(*sends)


async def test_503s_and_a_sigkill_mid_batch_notify_every_shipment_exactly_once(
    tiktok_stack: StackFactory, kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = {"claim_stale_seconds": 2, "send_concurrency": 32, "retry_base_seconds": 0.2}
    async with (
        tiktok_stack(sandbox={"qps": 5000}, settings=settings, in_process=False) as stack,
        TopicWatcher(kafka_bootstrap, SHIPMENT_NOTIFIED) as watch,
    ):
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = settings_env(**stack.settings)
        log_path = tmp_path / "notifier.log"
        connection = await stack.connect("US")

        ready_ids = stack.place_orders(N)
        stack.advance(3601)  # these are past the hold
        held_ids = stack.place_orders(DEFERRED)  # these are in it
        ready = stack.orders(ready_ids)
        held = stack.orders(held_ids)
        assert {o["status"] for o in ready} == {"AWAITING_SHIPMENT"}
        assert {o["status"] for o in held} == {"ON_HOLD"}

        # 10 % of every call answers 503; 3 % of ship calls are done but their answer is lost.
        stack.sandbox.admin(
            "POST",
            "/sandbox/v1/faults",
            {"drop_response_rate": 0.03, "operations": [SHIP, BATCH_SHIP]},
        )
        stack.sandbox.admin("POST", "/sandbox/v1/faults", {"error_rate": 0.1})

        with notifier_process(env, port, log_path) as first:
            await _ready(base, first, log_path)
            r = await stack.outside.post(
                base + "/v1/shipment-exports",
                headers={"Authorization": "Bearer dev-api-key"},
                json={
                    "name": "us",
                    "connection_id": connection,
                    "active": True,
                    "carriers": [{"provider": "USPS", "aliases": ["US Postal Service"]}],
                },
            )
            assert r.status_code == 201, r.text
            await _announce_all(stack, connection, ready + held, "order.received")
            tracking = {str(o["id"]): f"TRK{i:06d}" for i, o in enumerate(ready + held)}
            sends = [
                await stack.producer.send(
                    SHIPMENT_CREATED, encode(stack.shipment_event(oid, tn)), key=oid.encode()
                )
                for oid, tn in tracking.items()
            ]
            await asyncio.gather(*sends)
            # SIGKILL once a third is through: mid-batch, with calls in flight.
            await eventually(
                lambda: _counts(stack.database_url),
                lambda c: c["notified"] >= N // 3,
                120 + N // 10,
            )
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        before = await _counts(stack.database_url)
        assert before["notified"] < N  # killed mid-batch
        assert before["deferred"] + before["queued"] + before["sending"] > 0

        with notifier_process(env, port, log_path) as second:
            await _ready(base, second, log_path)
            await eventually(
                lambda: _counts(stack.database_url), lambda c: c["notified"] >= N, 300 + N // 5
            )
            counts = await _counts(stack.database_url)
            assert counts["deferred"] == DEFERRED  # survived the crash, still waiting
            stack.sandbox.admin("DELETE", "/sandbox/v1/faults")
            stack.advance(3601)  # the hold of the last ones ends
            await _announce_all(stack, connection, stack.orders(held_ids), "order.updated")
            counts = await eventually(
                lambda: _counts(stack.database_url),
                lambda c: c["notified"] == N + DEFERRED,
                120,
            )
        assert counts == Counter({"notified": N + DEFERRED})

        # TikTok: every order shipped once, with its tracking number; no second ship ever
        # reached an order that was shipped already.
        stats = stack.stats()
        assert str(ALREADY_SHIPPED) not in stats["errors_by_code"], stats["errors_by_code"]
        assert stats["faults_injected"].get("error", 0) > 0
        for order in stack.orders(list(tracking)):
            assert order["status"] == "AWAITING_COLLECTION", order["id"]
            assert order["tracking_number"] == tracking[str(order["id"])]

        # Exactly one shipment.notified per shipment (the relay may repeat an event after the
        # crash: the same event id, which consumers drop).
        events = await watch.until(
            lambda es: (
                len({e.subject for e in es if e.type == "shipment.notified"}) >= N + DEFERRED
            ),
            within=120,
        )
        ours = [e for e in events if e.data.get("order_id") in tracking]  # the topic is shared
        ids_per_shipment: dict[str | None, set[str]] = {}
        for e in ours:
            if e.type == "shipment.notified":
                ids_per_shipment.setdefault(e.subject, set()).add(e.id)
        assert len(ids_per_shipment) == N + DEFERRED
        assert all(len(ids) == 1 for ids in ids_per_shipment.values())
        deferred_orders = {e.data["order_id"] for e in ours if e.type == "shipment.deferred"}
        assert deferred_orders == set(held_ids)

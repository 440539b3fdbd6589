"""A real `order-ingest serve` process SIGKILLed mid-delivery and restarted: every order
change reaches the test OMS, zero duplicate effects.

The moment of the kill is arranged, not hoped for: the OMS applies the deliveries after the
first 40 and then holds its answers; once several are held (applied, unanswered, their rows
claimed by the process), the process is killed. The restarted process finds those rows
claimed until their lease ends, sends them again under the same `Idempotency-Key`, and the
OMS — deduplicating by the key, the documented contract — applies nothing twice.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from order_ingest.app import NAME
from order_ingest.cli import MIGRATIONS
from orders_push_testkit import (
    PUSH_GROUP,
    Receiver,
    add_import,
    fetch,
    order_event,
    publish,
    published_order,
    running,
    start_at_the_end,
    wait_for,
)
from tts_common.migrate import migrate_async

pytestmark = pytest.mark.integration

SECRET = "oms-push-secret-" + uuid.uuid4().hex
ORDERS = 300
UPDATED = range(0, ORDERS, 3)
HOLD_AFTER = 40
CONCURRENCY = 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(log: Path) -> str:
    """The end of the process's log, for a failure message."""
    return log.read_text()[-3000:]


def _start(database_url: str, bootstrap: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "TTS_DATABASE_URL": database_url,
        "TTS_KAFKA_BOOTSTRAP": bootstrap,
        "TTS_PUSH_CONCURRENCY": str(CONCURRENCY),
        "TTS_PUSH_POLL_SECONDS": "0.05",
        "TTS_PUSH_BACKOFF_BASE_SECONDS": "0.05",
        "TTS_PUSH_BACKOFF_CAP_SECONDS": "0.2",
        "TTS_PUSH_TIMEOUT_SECONDS": "60",
        # A killed process's claims come due again this long after they were made.
        "TTS_PUSH_LEASE_SECONDS": "3",
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "order_ingest.cli", "serve", "--port", str(port)],
            stdout=out,
            stderr=out,
            env=env,
        )


async def _ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient(timeout=5) as http:

        async def answers() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"order-ingest exited: {_tail(log)}")
            try:
                r = await http.get(f"http://127.0.0.1:{port}/readyz")
            except httpx.TransportError:
                return False
            return r.status_code == 200

        assert await wait_for(answers, within=90), _tail(log)


async def test_a_process_killed_mid_delivery_and_restarted_delivers_everything_once(
    fresh_database: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    await migrate_async(fresh_database, MIGRATIONS, NAME)
    prefix = os.environ.get("TTS_CONSUMER_GROUP_PREFIX", "")
    await start_at_the_end(kafka_bootstrap, prefix + PUSH_GROUP)
    log = tmp_path / "order-ingest.log"
    connection = f"conn-{uuid.uuid4().hex[:8]}"
    with running(Receiver(SECRET, hold_after=HOLD_AFTER)) as oms:
        await add_import(fresh_database, connection, push_url=oms.url, push_secret=SECRET)
        events = [order_event("order.received", connection, f"k{i}") for i in range(ORDERS)]
        events += [order_event("order.updated", connection, f"k{i}", 1) for i in UPDATED]
        expected = ORDERS + len(UPDATED)
        await publish(fresh_database, events)

        port = _free_port()
        first = _start(fresh_database, kafka_bootstrap, port, log)
        try:
            await _ready(port, first, log)

            async def several_held() -> bool:
                return oms.held >= CONCURRENCY // 2

            assert await wait_for(several_held, within=90), (oms.held, len(oms.applied))
            first.send_signal(signal.SIGKILL)
            first.wait(20)
        finally:
            if first.poll() is None:
                first.kill()
        with oms.lock:
            oms.hold_after = None
            held_keys = list(oms.applied)[HOLD_AFTER:]
        oms.release.set()
        assert held_keys
        # Applied at the OMS, unanswered: still claimed (pending) in order-ingest.
        rows = await fetch(
            fresh_database,
            "SELECT count(*) FROM deliveries WHERE status = 'pending' AND id::text = ANY(:k)",
            k=held_keys,
        )
        assert rows[0][0] == len(held_keys)
        delivered_before = (
            await fetch(
                fresh_database, "SELECT count(*) FROM deliveries WHERE status = 'delivered'"
            )
        )[0][0]
        assert delivered_before < expected

        second = _start(fresh_database, kafka_bootstrap, port, log)
        try:
            await _ready(port, second, log)

            async def all_delivered() -> bool:
                rows = await fetch(
                    fresh_database, "SELECT count(*) FROM deliveries WHERE status = 'delivered'"
                )
                return bool(rows[0][0] == expected)

            assert await wait_for(all_delivered, within=120), _tail(log)
            second.send_signal(signal.SIGTERM)
            # uvicorn stops gracefully, then re-raises the signal it was stopped by
            assert second.wait(30) in (0, -signal.SIGTERM), _tail(log)
        finally:
            if second.poll() is None:
                second.kill()

        total = await fetch(fresh_database, "SELECT count(*), count(DISTINCT id) FROM deliveries")
        assert total[0] == (expected, expected)
        assert oms.bad_signatures == 0
        assert len(oms.applied) == expected
        assert sum(oms.effects.values()) == expected
        assert all(count == 1 for count in oms.effects.values()), "a change applied twice"
        # The held ones really were sent again (and deduplicated by their key).
        assert all(oms.requests_for(k) >= 2 for k in held_keys)
        assert oms.order_of_effects == published_order(events)

"""Readiness probe for the local Kafka broker.

An open TCP port is not enough: a KRaft broker accepts connections before it has caught up with the
metadata log and registered itself. This probe asks the cluster for its metadata through aiokafka
(the client the services use) and succeeds only once a broker is listed, retrying until a deadline.

Usage: python kafka_probe.py BOOTSTRAP [TIMEOUT_SECONDS]   (exit 0 = ready, 1 = not ready in time)
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time

from aiokafka.admin import AIOKafkaAdminClient


async def _broker_count(bootstrap: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        cluster = await admin.describe_cluster()
        return len(cluster.get("brokers", []))
    finally:
        await admin.close()


async def wait_ready(bootstrap: str, budget_s: float) -> bool:
    deadline = time.monotonic() + budget_s
    last_error = ""
    while time.monotonic() < deadline:
        try:
            if await asyncio.wait_for(_broker_count(bootstrap), timeout=10) > 0:
                return True
            last_error = "cluster metadata lists no broker yet"
        except Exception as exc:  # any failure means "not ready yet"; we retry until the deadline
            last_error = f"{type(exc).__name__}: {exc}"
        await asyncio.sleep(1)
    print(
        f"kafka_probe: {bootstrap} not ready after {budget_s:.0f}s ({last_error})", file=sys.stderr
    )
    return False


def main() -> int:
    bootstrap = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092"
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else 90.0
    # aiokafka logs every refused connection at ERROR while the broker boots: expected noise here.
    logging.basicConfig(level=logging.CRITICAL)
    return 0 if asyncio.run(wait_ready(bootstrap, timeout)) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Wait until an in-process app answers `/readyz` 200 (database, Kafka, consumer groups).

Tests that boot a service with `LifespanManager` wait for this before using it and, above
all, before stopping it: a lifespan stopped while the Kafka producer connects or a consumer
joins its group can leave aiokafka connections open (aiokafka#715), which a later test's
garbage collection reports as an unraisable ResourceWarning.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


async def until_ready(app: Any, *, within: float = 90.0) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ready") as client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        last = None
        while loop.time() < deadline:
            r = await client.get("/readyz")
            if r.status_code == 200:
                return
            last = r.text
            await asyncio.sleep(0.1)
    raise AssertionError(f"the app was not ready within {within} s: {last}")

"""The run executor outlives a database outage: a run that fails while the database is down,
and whose failure cannot be written either, leaves the loop claiming runs (the fault suite's
PostgreSQL immediate shutdown found the loop dying there)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from catalog_sync import runs, workers


class DatabaseDown:
    """A session factory whose every session fails, as during an outage."""

    def __call__(self) -> Any:
        raise ConnectionRefusedError("the database is down")


async def test_the_loop_claims_again_after_a_run_failed_during_an_outage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    claims: list[str | None] = []
    claimed_again = asyncio.Event()

    async def claim(sessions: Any, stale_seconds: float) -> str | None:
        claims.append("run-1" if not claims else None)
        if len(claims) > 1:
            claimed_again.set()
        return claims[-1]

    async def execute(*args: Any, **kwargs: Any) -> None:
        raise ConnectionRefusedError("the database is down")

    monkeypatch.setattr(runs, "claim", claim)
    monkeypatch.setattr(runs, "execute", execute)
    rt = SimpleNamespace(
        settings=SimpleNamespace(run_stale_seconds=60.0, run_poll_seconds=0.01, run_concurrency=1),
        sessions=DatabaseDown(),
        extras={},
    )
    loop = asyncio.ensure_future(workers.run_executor(rt, performer=None, build=None))  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(10):
            await claimed_again.wait()
        assert not loop.done()
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop

"""The pool replaces connections the server closed (a PostgreSQL restart) at checkout,
without a ping round trip: the next transaction after the server ended every pooled
connection succeeds."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from tts_common.db import create_engine, session_factory, session_scope
from tts_common.testing.infra import libpq_dsn

pytestmark = pytest.mark.integration


async def test_connections_the_server_closed_are_replaced_at_checkout(fresh_database: str) -> None:
    engine = create_engine(fresh_database, pool_size=3, max_overflow=0)
    sessions = session_factory(engine)
    try:
        # Fill the pool with three connections and note their server processes.
        async def pid() -> int:
            async with session_scope(sessions) as session:
                value = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
                await asyncio.sleep(0.05)  # hold it, so the three checkouts overlap
                return int(value)

        before = set(await asyncio.gather(pid(), pid(), pid()))
        assert len(before) == 3

        # The server ends them (what a restart does to every connection).
        admin = await asyncpg.connect(libpq_dsn(fresh_database))
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(p) FROM unnest($1::int[]) p", list(before)
            )
        finally:
            await admin.close()
        pool = engine.sync_engine.pool
        records = [pool._pool.get_nowait() for _ in range(pool.checkedin())]  # type: ignore[attr-defined]
        drivers = [r.driver_connection for r in records]
        for r in records:
            pool._pool.put_nowait(r)  # type: ignore[attr-defined]
        async with asyncio.timeout(30):
            # asyncpg learns of the close from its socket; nothing to be woken by.
            while not all(d.is_closed() for d in drivers):  # noqa: ASYNC110
                await asyncio.sleep(0.01)

        # No statement fails: each checkout replaces a closed connection.
        after = set(await asyncio.gather(pid(), pid(), pid()))
        assert after.isdisjoint(before)
    finally:
        await engine.dispose()

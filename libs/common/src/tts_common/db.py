"""Async database glue: engine, session factory, the entrypoint's session scope.

Services and repositories only ``flush()``; the entrypoint (request dependency,
consumer handler runner) owns the transaction through :func:`session_scope`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from sqlalchemy import event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

_ASYNC_DRIVER = "postgresql+asyncpg://"


def async_url(url: str) -> str:
    """Accept plain ``postgresql://`` / ``postgres://`` URLs and select asyncpg."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return _ASYNC_DRIVER + url[len(prefix) :]
    return url


def create_engine(url: str, **kw: Any) -> AsyncEngine:
    """An asyncpg engine with a pool sized for one service process.

    Connections die with PostgreSQL restarts, so a checkout skips the ones whose socket the
    server has closed (`_discard_closed`). SQLAlchemy's `pool_pre_ping` would do it with a
    round trip — for asyncpg three (BEGIN, a query, ROLLBACK) — on every checkout, which
    doubled the statements of a short transaction; asyncpg learns of the server closing a
    connection from the socket itself, so asking it costs nothing. A connection that dies
    unnoticed fails its first statement; SQLAlchemy then invalidates the whole pool.
    """
    options: dict[str, Any] = {
        "pool_size": 10,
        "max_overflow": 10,
        "pool_recycle": 1800,
        # JSON/JSONB columns through orjson: several times faster than json.
        "json_serializer": lambda obj: orjson.dumps(obj).decode(),
        "json_deserializer": orjson.loads,
    }
    options.update(kw)
    engine = _create_async_engine(async_url(url), **options)
    if not options.get("pool_pre_ping"):
        event.listen(engine.sync_engine, "checkout", _discard_closed)
    return engine


def _discard_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Pool checkout: a connection the server closed is replaced (SQLAlchemy retries the
    checkout with another connection when this raises `DisconnectionError`)."""
    driver = getattr(proxy, "driver_connection", None)
    is_closed = getattr(driver, "is_closed", None)
    if is_closed is not None and is_closed():
        raise DisconnectionError("the server closed this connection")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit (no lazy reload in async code)."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commit when the block ends, roll back if it raises."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def ping(engine: AsyncEngine) -> None:
    """Raise if the database cannot answer ``SELECT 1`` (used by ``/readyz``)."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))

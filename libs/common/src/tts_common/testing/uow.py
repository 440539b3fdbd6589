"""Call a service object the way its entrypoint does: one committed transaction per call.

Tests that drive a service layer directly (without HTTP) wrap it once::

    service = committed(ConnectionService(ctx), ctx.sessions)
    await service.create("shop", "US")   # = async with session_scope(...) as s: create(s, ...)

Methods whose first parameter is ``session`` get a fresh session, committed when the call
returns and rolled back when it raises, exactly like ``SessionDep``; other attributes
(methods that own their transactions, fields) pass through unchanged.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tts_common.db import session_scope


class _Committed:
    def __init__(self, target: Any, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._target = target
        self._sessions = sessions

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not inspect.iscoroutinefunction(attr):
            return attr
        params = list(inspect.signature(attr).parameters)
        if not params or params[0] != "session":
            return attr

        @functools.wraps(attr)
        async def call(*args: Any, **kwargs: Any) -> Any:
            async with session_scope(self._sessions) as session:
                return await attr(session, *args, **kwargs)

        return call


def committed(target: Any, sessions: async_sessionmaker[AsyncSession]) -> Any:
    """`target` with each session-taking method run in its own committed transaction."""
    return _Committed(target, sessions)

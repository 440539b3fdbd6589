"""Request dependencies every service shares: the runtime and the request's unit of work.

`SessionDep` is the HTTP entrypoint's transaction: one session per request, committed when
the route returns, rolled back when it raises. The commit runs before the response is sent
(`Depends(scope="function")`), so a failed commit is an error response, never a 2xx for a
change that was lost. Routes pass the session to the service layer, which only `flush()`es.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tts_common.app import Runtime
from tts_common.db import session_scope


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Commit on success, roll back on error (the transaction rule's HTTP entrypoint)."""
    async with session_scope(get_runtime(request).sessions) as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[AsyncSession, Depends(request_session, scope="function")]

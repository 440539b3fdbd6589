"""Text holding the NUL character, which PostgreSQL cannot store or compare, is the request's
fault: 400 `bad_text` saying what to remove, in a query parameter as in a JSON body field, and
never a 500. Other database errors stay 500s."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from tts_common.db import create_engine, session_factory, session_scope
from tts_common.errors import install_error_handlers

pytestmark = pytest.mark.integration

JSON = {"content-type": "application/json"}


def _app(database_url: str) -> tuple[FastAPI, Any]:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/search")
    async def search(q: str) -> dict[str, Any]:
        async with session_scope(sessions) as session:
            found = await session.scalar(
                text("SELECT count(*) FROM pg_class WHERE relname = :q"), {"q": q}
            )
        return {"found": found}

    @app.post("/store")
    async def store(body: dict[str, Any]) -> dict[str, Any]:
        async with session_scope(sessions) as session:
            await session.execute(
                text("SELECT CAST(:doc AS jsonb)").bindparams(bindparam("doc", type_=JSONB)),
                {"doc": body},
            )
        return {"stored": True}

    @app.get("/broken")
    async def broken() -> dict[str, Any]:
        async with session_scope(sessions) as session:
            await session.execute(text("SELECT * FROM no_such_table"))
        return {}

    return app, engine


async def test_the_nul_character_is_a_bad_request_not_a_server_error(fresh_database: str) -> None:
    app, engine = _app(fresh_database)
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            ok = await http.get("/search", params={"q": "pg_class"})
            assert ok.status_code == 200 and ok.json() == {"found": 1}, ok.text

            for refused in (
                await http.get("/search?q=a%00b"),
                await http.post("/store", content=b'{"name": "a\\u0000b"}', headers=JSON),
            ):
                assert refused.status_code == 400, refused.text
                body = refused.json()
                assert body["error"] == "bad_text" and "NUL" in body["detail"], body

            fine = await http.post(
                "/store", content=b'{"name": "a\\\\u0000b"}', headers=JSON
            )  # a backslash
            assert fine.status_code == 200, fine.text
            broken = await http.get("/broken")
            assert broken.status_code == 500
    finally:
        await engine.dispose()

"""The intake's three ways (first upload, compared in this process, compared in PostgreSQL)
give the same reports and stored rows; COPY's escaping round-trips; failures change nothing."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import asyncpg
import httpx
import orjson
import pytest
from catalog_sync import intake
from catalog_sync.intake import row_hash
from tts_common.testing.infra import libpq_dsn

pytestmark = pytest.mark.integration

# Every character COPY's text format gives a meaning to, JSON escapes, quotes, non-ASCII.
AWKWARD = 'tab\there, line\nbreak, cr\rret, back\\slash \\N \\x41, "quoted", £ 中文 🙂'


async def _feed(http: httpx.AsyncClient, name: str = "uk-main") -> str:
    r = await http.post("/v1/feeds", json={"name": name, "market": "UK"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _rows(n: int, *, price: str = "9.99", awkward: bool = False) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        row = {
            "product_id": f"sku-{i}",
            "parent_id": f"p-{i // 3}",
            "product_name": f"Shirt {i // 3}",
            "sku.price": price,
        }
        if awkward and i % 2 == 0:
            row["product_id"] = f"sku\t{i}\\x"
            row["parent_id"] = f"p\n{i // 3}"
            row["description"] = AWKWARD
        rows.append(row)
    return rows


def _ndjson(rows: list[dict[str, str]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


async def _put(http: httpx.AsyncClient, feed: str, body: bytes, **params: str) -> httpx.Response:
    return await http.put(
        f"/v1/feeds/{feed}/products", params={"format": "ndjson", **params}, content=body
    )


async def _db(http: httpx.AsyncClient) -> asyncpg.Connection:
    return await asyncpg.connect(libpq_dsn(http.database_url))  # type: ignore[attr-defined]


async def _stored(http: httpx.AsyncClient) -> dict[str, tuple[str, dict[str, str], bytes]]:
    conn = await _db(http)
    try:
        rows = await conn.fetch("SELECT product_id, parent_id, data, hash FROM source_products")
    finally:
        await conn.close()
    return {r["product_id"]: (r["parent_id"], orjson.loads(r["data"]), r["hash"]) for r in rows}


async def _dirty(http: httpx.AsyncClient, *, clear: bool = True) -> set[str]:
    conn = await _db(http)
    try:
        parents = {r[0] for r in await conn.fetch("SELECT parent_id FROM dirty_parents")}
        if clear:
            await conn.execute("DELETE FROM dirty_parents")
    finally:
        await conn.close()
    return parents


def _counts(report: dict[str, object]) -> tuple[object, ...]:
    return tuple(report[k] for k in ("new", "changed", "unchanged", "deleted", "refused"))


@pytest.fixture(params=["in_process", "in_postgresql"])
def compared(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of comparing an upload with a source that has rows."""
    if request.param == "in_postgresql":
        monkeypatch.setattr(intake, "KNOWN_HASHES_MAX", 2)
    return str(request.param)


async def test_first_upload_then_changes_in_either_way(
    client: httpx.AsyncClient, compared: str
) -> None:
    feed = await _feed(client)
    first = (await _put(client, feed, _ndjson(_rows(30)))).json()
    assert _counts(first) == (30, 0, 0, 0, 0) and first["status"] == "applied"
    assert await _dirty(client) == {f"p-{i}" for i in range(10)}

    again = (await _put(client, feed, _ndjson(_rows(30)))).json()
    assert _counts(again) == (0, 0, 30, 0, 0)
    assert await _dirty(client) == set()  # nothing changed, nothing to export

    rows = _rows(32)
    rows[4]["sku.price"] = "12.50"
    rows[7]["parent_id"] = "p-9"  # moved: its old and its new parent change
    del rows[24:30]  # 6 of 30 absent: deleted (20 %, under the guard)
    third = (await _put(client, feed, _ndjson(rows))).json()
    assert _counts(third) == (2, 2, 22, 6, 0)
    assert await _dirty(client) == {"p-1", "p-2", "p-8", "p-9", "p-10"}
    stored = await _stored(client)
    assert len(stored) == 26 and stored["sku-4"][1]["sku.price"] == "12.50"
    assert stored["sku-7"][0] == "p-9" and "sku-25" not in stored

    refused = await _put(client, feed, _ndjson(_rows(5)))
    assert refused.status_code == 409, refused.text
    assert refused.json()["upload"]["deleted"] == 21
    assert len(await _stored(client)) == 26 and await _dirty(client) == set()


async def test_copy_escapes_round_trip_and_hashes_are_row_hash(
    client: httpx.AsyncClient, compared: str
) -> None:
    feed = await _feed(client)
    rows = _rows(12, awkward=True)
    first = (await _put(client, feed, _ndjson(rows))).json()
    assert _counts(first) == (12, 0, 0, 0, 0), first
    stored = await _stored(client)
    for row in rows:
        parent, data, digest = stored[row["product_id"]]
        assert (parent, data) == (row["parent_id"], row)
        assert digest == row_hash(parent, row)
    assert (await _put(client, feed, _ndjson(rows))).json()["unchanged"] == 12

    changed = [dict(r, description=AWKWARD + "!") for r in rows]
    assert (await _put(client, feed, _ndjson(changed))).json()["changed"] == 12
    stored = await _stored(client)
    assert all(stored[r["product_id"]][1] == r for r in changed)
    assert all(stored[r["product_id"]][2] == row_hash(r["parent_id"], r) for r in changed)


async def test_a_product_event_and_an_upload_agree_on_unchanged(client: httpx.AsyncClient) -> None:
    from catalog_sync.products import upsert_one
    from tts_common.db import create_engine, session_factory

    feed = await _feed(client)
    source = (await client.get(f"/v1/feeds/{feed}")).json()["source_id"]
    rows = _rows(3, awkward=True)
    await _put(client, feed, _ndjson(rows))
    engine = create_engine(client.database_url)  # type: ignore[attr-defined]
    try:
        async with session_factory(engine)() as session:
            assert not await upsert_one(session, source, dict(rows[1]))  # same row: unchanged
            assert await upsert_one(session, source, dict(rows[1], product_name="Other"))
            await session.commit()
    finally:
        await engine.dispose()
    again = (await _put(client, feed, _ndjson(rows))).json()
    assert (again["changed"], again["unchanged"]) == (1, 2)


async def test_text_postgresql_cannot_store_is_refused_per_row(
    client: httpx.AsyncClient, compared: str
) -> None:
    feed = await _feed(client)
    await _put(client, feed, _ndjson(_rows(3)))
    body = (
        b'{"product_id": "nul", "product_name": "a\\u0000b"}\n'
        b'{"product_id": "lone\\ud800", "product_name": "surrogate"}\n'
        b'{"product_id": "ok", "product_name": "fine \\\\u0000 as text"}\n'
    )
    r = await client.post(f"/v1/feeds/{feed}/products:upsert?format=ndjson", content=body)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["new"], report["refused"]) == (1, 2)  # an escaped backslash is no NUL
    assert report["refused_by_reason"] == {"nul_character": 1, "invalid_text": 1}
    surrogate = next(p for p in report["problems"] if p["reason"].startswith("invalid_text"))
    assert surrogate["product_id"] == "lone\ufffd" and surrogate["line"] == 2
    conn = await _db(client)
    try:
        recorded = await conn.fetchval("SELECT refused FROM uploads ORDER BY finished_at DESC")
    finally:
        await conn.close()
    assert recorded == report["refused"]

    rows = _rows(3)
    rows[0]["product_name"] = "now with a \x00"  # refused, so absent from this snapshot
    snapshot = (await _put(client, feed, _ndjson(rows), force="true")).json()
    assert _counts(snapshot) == (0, 0, 2, 2, 1)  # sku-0 and "ok" are deleted
    assert sorted(await _stored(client)) == ["sku-1", "sku-2"]


async def _cut_off(body: bytes, pieces: int) -> AsyncIterator[bytes]:
    step = len(body) // pieces + 1
    for start in range(0, len(body), step):
        yield body[start : start + step]


@pytest.mark.parametrize("has_rows", [False, True])
async def test_an_upload_cut_off_after_rows_were_copied_changes_nothing(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, has_rows: bool
) -> None:
    feed = await _feed(client)
    if has_rows:
        await _put(client, feed, _ndjson(_rows(30)))
        await _dirty(client)
    before = await _stored(client)
    monkeypatch.setattr(intake, "COPY_CHUNK_BYTES", 1)  # every chunk reaches PostgreSQL
    truncated = gzip.compress(_ndjson(_rows(300, price="1.00")))[:-40]
    r = await client.put(
        f"/v1/feeds/{feed}/products?format=ndjson", content=_cut_off(truncated, 20)
    )
    assert r.status_code == 422 and r.json()["error"] == "upload_unreadable", r.text
    assert await _stored(client) == before and await _dirty(client) == set()
    ok = (await _put(client, feed, _ndjson(_rows(30)))).json()  # the source is usable again
    assert ok["status"] == "applied"


async def test_without_the_duplicate_check_a_later_row_supersedes(
    client: httpx.AsyncClient,
) -> None:
    from catalog_sync.sources import SourceOptions
    from tts_common.db import create_engine, session_factory

    feed = await _feed(client)
    source = (await client.get(f"/v1/feeds/{feed}")).json()["source_id"]
    rows = _rows(6)
    rows.insert(4, dict(rows[1], product_name="Newer"))  # line 5 repeats line 2's product
    engine = create_engine(client.database_url)  # type: ignore[attr-defined]

    async def body() -> AsyncIterator[bytes]:
        yield _ndjson(rows)

    try:
        for expected in ((6, 0, 0), (0, 0, 6)):
            async with session_factory(engine)() as session:
                report = await intake.ingest(
                    session,
                    source_id=source,
                    chunks=body(),
                    fmt="ndjson",
                    kind="snapshot",
                    options=SourceOptions(check_duplicates=False),
                )
                await session.commit()
            assert (report.new, report.changed, report.unchanged) == expected
            assert report.refused == 1 and report.refused_by_reason == {"duplicate_product_id": 1}
            assert (report.problems[0].line, report.problems[0].product_id) == (2, "sku-1")
    finally:
        await engine.dispose()
    assert (await _stored(client))["sku-1"][1]["product_name"] == "Newer"


async def test_a_parent_marked_meanwhile_falls_back_to_the_upsert(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = await _feed(client)
    source = (await client.get(f"/v1/feeds/{feed}")).json()["source_id"]
    conn = await _db(client)
    try:  # as if a product event had marked p-1 while the first upload ran
        await conn.execute(
            "INSERT INTO dirty_parents (source_id, parent_id, marked_at)"
            " VALUES ($1, 'p-1', now() - interval '1 day')",
            source,
        )
    finally:
        await conn.close()
    monkeypatch.setattr(intake, "_ANY_DIRTY", "SELECT $1::text IS NULL")  # "none marked"
    first = (await _put(client, feed, _ndjson(_rows(9)))).json()
    assert _counts(first) == (9, 0, 0, 0, 0) and len(await _stored(client)) == 9
    conn = await _db(client)
    try:
        marked = dict(
            await conn.fetch(
                "SELECT parent_id, marked_at > now() - interval '1 hour' FROM dirty_parents"
            )
        )
    finally:
        await conn.close()
    assert marked == {"p-0": True, "p-1": True, "p-2": True}

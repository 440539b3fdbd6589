"""Product intake over HTTP on real PostgreSQL: snapshots, upserts, deletions, the guard, reports."""

from __future__ import annotations

import gzip
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest
from tts_common.testing.infra import libpq_dsn

pytestmark = pytest.mark.integration

AUTH = {"Authorization": "Bearer dev-api-key"}
DATA = Path(__file__).resolve().parent.parent / "data"


async def _feed(http: httpx.AsyncClient, name: str = "uk-main", **extra: object) -> str:
    r = await http.post("/v1/feeds", json={"name": name, "market": "UK", **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _ndjson(rows: list[dict[str, object]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


def _rows(n: int, *, price: str = "9.99") -> list[dict[str, object]]:
    return [
        {
            "product_id": f"sku-{i}",
            "parent_id": f"p-{i // 3}",
            "product_name": f"Shirt {i // 3}",
            "sku.price": price,
            "sku.quantity": i,
        }
        for i in range(n)
    ]


async def _stored(http: httpx.AsyncClient) -> int:
    conn = await asyncpg.connect(libpq_dsn(http.database_url))  # type: ignore[attr-defined]
    try:
        return int(await conn.fetchval("SELECT count(*) FROM source_products"))
    finally:
        await conn.close()


async def test_snapshot_then_unchanged_changed_and_deleted(client: httpx.AsyncClient) -> None:
    feed = await _feed(client)
    r = await client.put(f"/v1/feeds/{feed}/products?format=ndjson", content=_ndjson(_rows(30)))
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["rows_read"], first["new"], first["changed"], first["deleted"]) == (30, 30, 0, 0)

    again = (
        await client.put(f"/v1/feeds/{feed}/products?format=ndjson", content=_ndjson(_rows(30)))
    ).json()
    assert (again["new"], again["changed"], again["unchanged"], again["deleted"]) == (0, 0, 30, 0)

    rows = _rows(30)
    rows[4]["sku.price"] = "12.50"
    rows = rows[:-6]  # 6 absent: deleted (20 % of 30, under the 50 % guard)
    third = (
        await client.put(f"/v1/feeds/{feed}/products?format=ndjson", content=_ndjson(rows))
    ).json()
    assert (third["new"], third["changed"], third["unchanged"], third["deleted"]) == (0, 1, 23, 6)
    assert await _stored(client) == 24

    one = (await client.get(f"/v1/feeds/{feed}/products/sku-4")).json()
    assert one["data"]["sku.price"] == "12.50" and one["parent_id"] == "p-1"
    assert one["data"]["sku.quantity"] == "4"  # every value a string


async def test_mass_deletion_guard_refuses_then_force_applies(client: httpx.AsyncClient) -> None:
    feed = await _feed(client)
    await client.put(f"/v1/feeds/{feed}/products?format=ndjson", content=_ndjson(_rows(20)))
    r = await client.put(f"/v1/feeds/{feed}/products?format=ndjson", content=_ndjson(_rows(9)))
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["error"] == "mass_deletion_refused" and "11 of 20" in body["detail"]
    assert body["upload"]["deleted"] == 11 and body["upload"]["status"] == "refused"
    assert await _stored(client) == 20  # nothing changed

    forced = await client.put(
        f"/v1/feeds/{feed}/products?format=ndjson&force=true", content=_ndjson(_rows(9))
    )
    assert forced.status_code == 200 and forced.json()["deleted"] == 11
    assert await _stored(client) == 9


async def test_bad_rows_are_reported_and_good_rows_kept(client: httpx.AsyncClient) -> None:
    feed = await _feed(client)
    body = (
        b'{"product_id": "a", "product_name": "A"}\n'
        b'{"product_name": "no id"}\n'
        b"{not json\n"
        b'{"product_id": "a", "product_name": "A again"}\n'
        b'{"product_id": "b", "product_name": "B"}\n'
    )
    r = await client.post(f"/v1/feeds/{feed}/products:upsert?format=ndjson", content=body)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["rows_read"] == 5 and report["new"] == 2 and report["refused"] == 3
    assert sorted(p["line"] for p in report["problems"]) == [2, 3, 4]
    assert sum(report["refused_by_reason"].values()) == 3
    assert await _stored(client) == 2


async def test_gzip_csv_upload_and_single_delete(client: httpx.AsyncClient) -> None:
    feed = await _feed(client)
    csv = b"product_id,parent_id,product_name,sku.price\nx1,x,Mug,4.00\nx2,x,Mug,4.50\n"
    r = await client.put(
        f"/v1/feeds/{feed}/products",
        content=gzip.compress(csv),
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 200 and r.json()["new"] == 2, r.text
    assert (await client.delete(f"/v1/feeds/{feed}/products/x1")).status_code == 204
    assert (await client.delete(f"/v1/feeds/{feed}/products/x1")).status_code == 404
    assert (await client.get(f"/v1/feeds/{feed}/products/x1")).status_code == 404
    assert await _stored(client) == 1


async def test_one_source_feeds_a_us_and_a_uk_feed(client: httpx.AsyncClient) -> None:
    uk = await _feed(client, "uk-main", source_id="catalogue")
    us_r = await client.post(
        "/v1/feeds", json={"name": "us-main", "market": "US", "source_id": "catalogue"}
    )
    us = us_r.json()["id"]
    await client.put(f"/v1/feeds/{uk}/products?format=ndjson", content=_ndjson(_rows(6)))
    shared = (await client.get(f"/v1/feeds/{us}/products/sku-5")).json()
    assert shared["source_id"] == "catalogue" and shared["data"]["product_name"] == "Shirt 1"
    assert await _stored(client) == 6  # uploaded once


async def test_uploads_need_a_format_and_credentials(client: httpx.AsyncClient) -> None:
    feed = await _feed(client)
    r = await client.put(f"/v1/feeds/{feed}/products", content=b"x")
    assert r.status_code == 400 and r.json()["error"] == "format_required"
    anonymous = await client.put(
        f"/v1/feeds/{feed}/products?format=csv", content=b"x", headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401
    assert (await client.get("/v1/feeds/not-a-uuid")).status_code == 404


async def test_patch_null_means_unchanged_except_where_empty_is_allowed(
    client: httpx.AsyncClient,
) -> None:
    feed = await _feed(client, schedule="0 6 * * *", dataflow={"export": [{"attribute": "x"}]})
    r = await client.patch(f"/v1/feeds/{feed}", json={"dataflow": None, "active": None})
    assert r.status_code == 200, r.text
    assert r.json()["dataflow"] == {"export": [{"attribute": "x"}]} and r.json()["version"] == 1
    cleared = (await client.patch(f"/v1/feeds/{feed}", json={"schedule": None})).json()
    assert cleared["schedule"] is None and cleared["version"] == 2

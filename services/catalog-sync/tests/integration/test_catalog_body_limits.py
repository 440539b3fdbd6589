"""Which routes take large bodies: the product uploads do, a JSON route does not (a 2 MiB JSON
body to create a feed is refused with 413 before it is read into memory)."""

from __future__ import annotations

import httpx
import orjson
import pytest

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


def _csv(rows: int) -> bytes:
    lines = ["product_id,parent_id,title,description,price"]
    lines += [f"p{n:07d},g{n // 3:07d},Mug {n},{'A sturdy mug. ' * 20},9.99" for n in range(rows)]
    return ("\n".join(lines) + "\n").encode()


async def test_uploads_take_large_bodies_and_json_routes_keep_the_default(
    client: httpx.AsyncClient,
) -> None:
    feed = (await client.post("/v1/feeds", json={"name": "limits", "market": "UK"})).json()["id"]

    body = _csv(8000)
    assert len(body) > 2 * MiB  # over the service default of 1 MiB
    r = await client.put(
        f"/v1/feeds/{feed}/products", content=body, headers={"Content-Type": "text/csv"}
    )
    assert r.status_code == 200, r.text

    padded = orjson.dumps({"name": "x", "market": "UK", "description": "y" * (2 * MiB)})
    r = await client.post("/v1/feeds", content=padded, headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    r = await client.patch(
        f"/v1/feeds/{feed}", content=padded, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text
    r = await client.post(
        f"/v1/feeds/{feed}/runs", content=padded, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413, r.text
    # Nothing was created by the refused request.
    names = [f["name"] for f in (await client.get("/v1/feeds")).json()]
    assert names.count("x") == 0

"""The predefined values of a feed's taxonomy (`GET .../taxonomies/values`), served from the
taxonomy cache as the values list picker reads them, on real PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from catalog_sync.testing import MUG, SOFA, seed_taxonomy_cache
from tts_common.db import create_engine, session_factory, session_scope

pytestmark = pytest.mark.integration


async def _seed(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with session_scope(session_factory(engine)) as session:
            await seed_taxonomy_cache(session, str(uuid.uuid4()))
    finally:
        await engine.dispose()


async def _values(client: httpx.AsyncClient, feed: str, **params: Any) -> dict[str, Any]:
    r = await client.get(f"/v1/feeds/{feed}/taxonomies/values", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_predefined_values_with_ids_and_terms_filtered_like_a_picker(
    client: httpx.AsyncClient,
) -> None:
    feed = (await client.post("/v1/feeds", json={"name": "values", "market": "UK"})).json()["id"]
    empty = await _values(client, feed)
    assert (empty["categories"], empty["total"], empty["items"]) == (0, 0, [])

    await _seed(client.database_url)  # type: ignore[attr-defined]
    every = await _values(client, feed, limit=1000)
    assert every["categories"] == 4 and every["total"] == len(every["items"])
    pairs = [(v["attribute"], v["name"]) for v in every["items"]]
    assert len(pairs) == len(set(pairs))  # each pair once, however many categories offer it
    assert pairs == sorted(pairs, key=lambda p: (p[0].casefold(), p[1].casefold()))
    occasion = next(v for v in every["items"] if v["name"] == "Birthday")
    assert occasion["categories"] == 4 and occasion["attribute_id"] == "100392"
    foldable = next(v for v in every["items"] if v["name"] == "Foldable")
    assert foldable == {
        "attribute_id": "101610",
        "attribute": "Foldable Furniture",
        "id": "1029401",
        "name": "Foldable",
        "categories": 1,
        "term": "Foldable Furniture|Foldable:::::1029401",
    }

    # Every word typed must occur in the attribute or value name; or the value id is typed.
    got = await _values(client, feed, q="non fold")
    assert [v["term"] for v in got["items"]] == ["Foldable Furniture|Non-Foldable:::::1029402"]
    assert [v["name"] for v in (await _values(client, feed, q="1029401"))["items"]] == ["Foldable"]
    occasions = await _values(client, feed, attribute_id="100392")
    assert {v["attribute"] for v in occasions["items"]} == {"Occasion"} and occasions["total"] == 6
    paged = await _values(client, feed, attribute_id="100392", limit=2, offset=4)
    assert [v["name"] for v in paged["items"]] == ["Party", "Wedding"] and paged["total"] == 6

    # One category: its attributes only (served from the cache, no connection needed).
    mug = await _values(client, feed, category_id=MUG, q="foldable")
    assert (mug["categories"], mug["total"]) == (1, 0)
    sofa = await _values(client, feed, category_id=SOFA, q="foldable")
    assert sofa["total"] == 2 and sofa["category_id"] == SOFA

    bad = await client.get(f"/v1/feeds/{feed}/taxonomies/values", params={"attribute_id": "x"})
    assert bad.status_code == 422

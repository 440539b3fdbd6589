"""A mapping list's rows carry their product counts (parents holding the value), sorted and
filtered by them, on real PostgreSQL."""

from __future__ import annotations

import httpx
import orjson
import pytest

pytestmark = pytest.mark.integration

FEED_FILE = """
feed:
  name: list-counts
  market: UK
source:
  id: list-counts
  name: list counts
dataflow:
  export:
    - attribute: product_id
    - attribute: parent_id
    - attribute: category_id
      source: product_type
      rules:
        - {type: taxonomy_mapping, list: categories}
        - {type: split_string, splitter: "|", from: 0, items: 1}
lists:
  - name: categories
    taxonomy: tiktok_uk_categories
    attribute: product_type
    mappings:
      Mugs: "600001|Home Supplies>Kitchen>Mugs"
"""


def ndjson(rows: list[dict[str, str]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


async def test_list_rows_count_parents_and_sort_and_filter_by_them(
    client: httpx.AsyncClient,
) -> None:
    applied = await client.post("/v1/feeds:apply", content=FEED_FILE)
    assert applied.status_code == 201, applied.text
    feed = applied.json()["feed"]["id"]
    rows = [
        # Shirts: 3 parents, one of them with 4 variants (counted once).
        *({"product_id": f"s1-{i}", "parent_id": "s1", "product_type": "Shirts"} for i in range(4)),
        {"product_id": "s2", "parent_id": "s2", "product_type": "Shirts"},
        {"product_id": "s3", "parent_id": "s3", "product_type": "Shirts"},
        # Mugs: 1 parent of 2 variants.
        {"product_id": "m1-a", "parent_id": "m1", "product_type": "Mugs"},
        {"product_id": "m1-b", "parent_id": "m1", "product_type": "Mugs"},
        # A parent whose variants disagree counts under both values.
        {"product_id": "x-a", "parent_id": "x", "product_type": "Socks"},
        {"product_id": "x-b", "parent_id": "x", "product_type": "Shirts"},
        {"product_id": "e", "parent_id": "e", "product_type": ""},
    ]
    r = await client.put(f"/v1/feeds/{feed}/products?format=ndjson", content=ndjson(rows))
    assert r.status_code == 200, r.text
    base = f"/v1/feeds/{feed}/lists/categories"

    got = (await client.get(base)).json()
    assert [(x["source_value"], x["products"]) for x in got] == [
        ("Mugs", 1),
        ("Shirts", 4),
        ("Socks", 1),
    ]
    assert got[0]["replacement"].startswith("600001|")

    by_count = (await client.get(base, params={"sort": "products"})).json()
    assert [x["source_value"] for x in by_count] == ["Shirts", "Mugs", "Socks"]
    at_least_2 = (await client.get(base, params={"min_products": 2})).json()
    assert [x["source_value"] for x in at_least_2] == ["Shirts"]
    unmapped = (await client.get(base, params={"unmapped": "true", "sort": "products"})).json()
    assert [(x["source_value"], x["products"]) for x in unmapped] == [("Shirts", 4), ("Socks", 1)]

    # The CSV keeps the columns an upload takes.
    csv = (await client.get(base, params={"format": "csv"})).text
    assert csv.splitlines()[0] == "source_value,replacement"

    # A value no product holds any more stays in the list, with 0 products.
    left = [r for r in rows if r["product_type"] != "Socks"]
    r = await client.put(f"/v1/feeds/{feed}/products?format=ndjson", content=ndjson(left))
    assert r.status_code == 200, r.text
    got = {x["source_value"]: x["products"] for x in (await client.get(base)).json()}
    assert got == {"Mugs": 1, "Shirts": 4, "Socks": 0}
    assert (await client.get(base, params={"min_products": -1})).status_code == 422
    assert (await client.get(base, params={"min_products": 2**63})).status_code == 422

"""Feeds end to end on real PostgreSQL: Shopify exports → readiness, preview, feed files."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

pytestmark = pytest.mark.integration

AUTH = {"Authorization": "Bearer dev-api-key"}
DATA = Path(__file__).resolve().parent.parent / "data"
# Products and variants in the three Shopify sample exports (counted by reading the files;
# test_catalog_sources_shopify.py pins the same numbers on the parser).
SHOPIFY = {"apparel": (20, 22), "home-and-garden": (20, 21), "jewelery": (20, 23)}


@pytest.mark.parametrize("export", sorted(SHOPIFY))
async def test_shopify_export_loads_and_yields_a_readiness_report(
    client: httpx.AsyncClient, export: str
) -> None:
    products, variants = SHOPIFY[export]
    feed = (await client.post("/v1/feeds", json={"name": export, "market": "UK"})).json()["id"]
    body = (DATA / f"{export}.csv").read_bytes()
    r = await client.put(f"/v1/feeds/{feed}/products?format=shopify", content=body)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["new"], report["refused"]) == (variants, 0), report

    readiness = (await client.get(f"/v1/feeds/{feed}/readiness")).json()
    assert readiness["products"] == products and readiness["rows"] == variants
    by_name = {a["name"]: a for a in readiness["attributes"]}
    # The Shopify columns arrive under export names; no category is mapped yet, so no
    # product is ready and the category attribute says so for every product.
    assert by_name["product_name"]["passed"] == products
    assert by_name["category_id"]["failed"] == products
    assert readiness["ready"] == 0 and readiness["status"] == "red"

    issues = (await client.get(f"/v1/feeds/{feed}/issues")).json()
    assert {i["attribute"] for i in issues} >= {"category_id"}
    assert len({i["parent_id"] for i in issues}) == products
    csv = await client.get(f"/v1/feeds/{feed}/issues?format=csv")
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("parent_id,")
    assert len(csv.text.splitlines()) == len(issues) + 1


FEED_FILE = """
feed:
  name: uk-shirts
  market: UK
  active: false
  schedule: "0 */6 * * *"
source:
  id: shirts
  name: Shirt catalogue
dataflow:
  export:
    - attribute: product_id
    - attribute: parent_id
    - attribute: product_name
      rules:
        - type: text_replace
          search_for: "Shirt"
          replace_by: "Tee"
    - attribute: category_id
      source: product_type
      rules:
        - type: taxonomy_mapping
          list: categories
        - type: split_string
          splitter: "|"
          from: 0
          items: 1
lists:
  - name: categories
    taxonomy: tiktok_uk_categories
    attribute: product_type
    mappings:
      Shirts: "601152|Womenswear & Underwear>Women's Tops>T-shirts"
"""


async def test_feed_file_apply_is_idempotent_and_exports_back(client: httpx.AsyncClient) -> None:
    first = await client.post("/v1/feeds:apply", content=FEED_FILE)
    assert first.status_code == 201, first.text
    assert first.json()["created"] and first.json()["changed"]
    feed = first.json()["feed"]
    assert feed["source_id"] == "shirts" and feed["schedule"] == "0 */6 * * *"

    again = await client.post("/v1/feeds:apply", content=FEED_FILE)
    assert again.status_code == 200 and not again.json()["changed"], again.text
    assert again.json()["feed"]["version"] == feed["version"]

    exported = (await client.get(f"/v1/feeds/{feed['id']}/file")).text
    assert yaml.safe_load(exported)["lists"][0]["mappings"]["Shirts"].startswith("601152|")
    round_trip = await client.post("/v1/feeds:apply", content=exported)
    assert round_trip.status_code == 200 and not round_trip.json()["changed"], round_trip.text

    rows = (
        b'{"product_id": "s1", "parent_id": "s", "product_name": "Blue Shirt",'
        b' "product_type": "Shirts"}\n'
        b'{"product_id": "s2", "parent_id": "s", "product_name": "Blue Shirt",'
        b' "product_type": "Shirts"}\n'
        b'{"product_id": "m1", "product_name": "Mug", "product_type": "Mugs"}\n'
    )
    assert (
        await client.put(f"/v1/feeds/{feed['id']}/products?format=ndjson", content=rows)
    ).status_code == 200

    preview = (await client.get(f"/v1/feeds/{feed['id']}/preview?product_id=s2")).json()
    assert preview["export"]["product_name"] == "Blue Tee"
    assert preview["export"]["category_id"] == "601152"
    steps = {a["attribute"]: a["steps"] for a in preview["attributes"]}
    assert [s["rule"] for s in steps["category_id"] if s["rule"]] == [
        "#1 Taxonomy Mapping",
        "#2 Split String",
    ]
    mug = (await client.get(f"/v1/feeds/{feed['id']}/preview?product_id=m1")).json()
    assert mug["unmapped"] == {"categories": ["Mugs"]}

    # The new value joined its list unmapped when it was uploaded.
    lists = (await client.get(f"/v1/feeds/{feed['id']}/lists")).json()
    assert [(x["name"], x["values"], x["mapped"]) for x in lists] == [("categories", 2, 1)]
    csv = (await client.get(f"/v1/feeds/{feed['id']}/lists/categories?format=csv")).text
    assert "Mugs," in csv
    done = await client.put(
        f"/v1/feeds/{feed['id']}/lists/categories/mappings",
        content="source_value,replacement\nMugs,600001|Home Supplies>Kitchen>Mugs\n",
        headers={"Content-Type": "text/csv"},
    )
    assert done.status_code == 200 and done.json() == {"updated": 1}
    bad = await client.put(
        f"/v1/feeds/{feed['id']}/lists/categories/mappings", json={"Mugs": "Kitchen>Mugs"}
    )
    assert bad.status_code == 400 and "expected <category id>|<category path>" in bad.text


async def test_an_invalid_feed_file_is_refused_whole_with_every_problem(
    client: httpx.AsyncClient,
) -> None:
    broken = """
feed:
  name: Bad Name
  market: FR
  max_delete_share: 2
dataflow:
  export:
    - attribute: product_name
      rules:
        - type: regex_replace
          pattern: "("
          replace: ""
        - type: no_such_box
lists:
  - name: brands
    taxonomy: tiktok_brands
    attribute: vendor
    mappings:
      Acme: "Acme without an id"
surprise: true
"""
    r = await client.post("/v1/feeds:apply", content=broken)
    assert r.status_code == 422, r.text
    problems = r.json()["problems"]
    paths = {p["path"] for p in problems}
    assert {"feed.name", "feed.market", "feed.max_delete_share", "surprise"} <= paths, problems
    assert any(p.startswith("dataflow.export[0].rules[0]") for p in paths), problems
    assert any(p.startswith("dataflow.export[0].rules[1]") for p in paths), problems
    by_path = {p["path"]: p for p in problems}
    assert by_path["feed.market"]["line"] == 4 and by_path["surprise"]["line"] == 20
    assert (await client.get("/v1/feeds")).json() == []  # nothing was created

    not_yaml = await client.post("/v1/feeds:apply", content="feed: [unclosed")
    assert not_yaml.status_code == 422 and not_yaml.json()["problems"][0]["line"] == 1


WOO_FEED = """
feed:
  name: woo
  market: UK
source:
  id: woo-shop
  options:
    columns: {SKU: product_id}
optimization:
  parent_id_from: {column: Parent}
  exclude:
    - name: draft
      when: [{kind: in, column: Published, values: ["0", "-1"]}]
    - name: variation without price
      when:
        - {kind: equals, column: Type, value: variation}
        - {kind: empty, column: Regular price}
  parents:
    parent_only_when: [{kind: equals, column: Type, value: variable}]
dataflow:
  export:
    - {attribute: product_id}
    - {attribute: parent_id}
    - {attribute: product_name, source: Name}
    - {attribute: description, source: Description}
    - {attribute: sku.price, source: Regular price}
    - {attribute: sku.quantity, source: Stock}
"""


async def test_a_woocommerce_export_through_source_options_and_optimization(
    client: httpx.AsyncClient,
) -> None:
    """`variable` parent rows fill their `variation` rows and are not sold themselves."""
    applied = await client.post("/v1/feeds:apply", content=WOO_FEED)
    assert applied.status_code == 201, applied.text
    feed = applied.json()["feed"]["id"]
    exported = yaml.safe_load((await client.get(f"/v1/feeds/{feed}/file")).text)
    assert exported["source"]["options"] == {"columns": {"SKU": "product_id"}}

    body = (DATA / "woocommerce-variable.csv").read_bytes()
    report = (await client.put(f"/v1/feeds/{feed}/products?format=csv", content=body)).json()
    assert report["refused"] == 0 and report["new"] == report["rows_read"], report

    blue = (await client.get(f"/v1/feeds/{feed}/preview?product_id=woo-hoodie-blue-logo")).json()
    assert blue["parent_id"] == "woo-hoodie" and blue["exported"]
    assert blue["export"]["product_name"] == "Hoodie"  # filled from the parent row
    assert blue["export"]["sku.price"] == "45"
    parent = (await client.get(f"/v1/feeds/{feed}/preview?product_id=woo-hoodie")).json()
    assert not parent["exported"] and parent["dropped_because"] == "parent_only"
    unpriced = (
        await client.get(f"/v1/feeds/{feed}/preview?product_id=woo-hoodie-red-plain")
    ).json()
    assert unpriced["dropped_because"] == "excluded by filter 'variation without price'"

    readiness = (await client.get(f"/v1/feeds/{feed}/readiness")).json()
    issues = (await client.get(f"/v1/feeds/{feed}/issues")).json()
    # Hoodie, beanie and t-shirt; the scarf has no sellable variation, the mittens are a draft.
    assert readiness["products"] == 3
    assert {i["parent_id"] for i in issues} <= {"woo-hoodie", "woo-beanie", "woo-tshirt"}
    scarf = (await client.get(f"/v1/feeds/{feed}/preview?product_id=woo-scarf")).json()
    assert scarf["dropped_because"] == "parent_without_variants"


async def test_the_configuration_stamp_moves_with_the_configuration_not_with_products(
    client: httpx.AsyncClient,
) -> None:
    """What makes an event-driven feed re-evaluate every product (catalog_sync.workers,
    `_CONFIG_STAMP`): a mapping, a setting, a taxonomy entry; a product upload does not."""
    from catalog_sync import taxonomy_cache, workers
    from catalog_sync.taxonomy import CategoryRuleSummary
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    engine = create_async_engine(client.database_url)  # type: ignore[attr-defined]
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def stamp(feed_id: str) -> str:
        async with sessions() as session:
            return await workers.config_stamp(session, feed_id)

    try:
        feed = (await client.post("/v1/feeds:apply", content=FEED_FILE)).json()["feed"]["id"]
        stamps = [await stamp(feed)]
        rows = b'{"product_id": "m1", "product_name": "Mug", "product_type": "Mugs"}\n'
        r = await client.put(f"/v1/feeds/{feed}/products?format=ndjson", content=rows)
        assert r.status_code == 200, r.text
        assert await stamp(feed) == stamps[-1]  # a new product, its value unmapped: the same
        r = await client.put(
            f"/v1/feeds/{feed}/lists/categories/mappings",
            json={"Mugs": "600001|Home Supplies>Kitchen>Mugs"},
        )
        assert r.status_code == 200, r.text
        stamps.append(await stamp(feed))
        r = await client.put(f"/v1/feeds/{feed}/lists/categories/mappings", json={"Mugs": ""})
        assert r.status_code == 200, r.text  # cleared again
        stamps.append(await stamp(feed))
        r = await client.patch(f"/v1/feeds/{feed}", json={"max_delete_share": 0.2})
        assert r.status_code == 200, r.text
        stamps.append(await stamp(feed))
        async with sessions() as session, session.begin():
            await taxonomy_cache.store_rules(session, "UK", "600001", CategoryRuleSummary())
        stamps.append(await stamp(feed))
        assert len(set(stamps)) == len(stamps), stamps  # each of them a change
        backlog = (await client.get(f"/v1/feeds/{feed}/events")).json()
        assert backlog["event_driven"] is False and backlog["configuration_changed"] is True
    finally:
        await engine.dispose()

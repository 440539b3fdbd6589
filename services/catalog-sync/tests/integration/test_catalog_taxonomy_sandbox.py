"""Taxonomies fetched through the typed client from the real sandbox over HTTP: UK and US
categories (v1 / v2), a category's attributes and its schema, brands, rules and TikTok's
recommended category; then the analyzer and suggestions fed with what was fetched."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from catalog_sync.classify import schema_for
from catalog_sync.readiness import ReadinessAnalyzer, TestKind
from catalog_sync.suggest import SuggestionIndex, suggest, tiktok_recommender
from catalog_sync.taxonomy import (
    brand_terms,
    category_terms,
    fetch_attributes,
    fetch_brands,
    fetch_categories,
    fetch_recommendation,
    fetch_rules,
    leaves,
    parse_category_term,
    value_terms,
)
from pydantic import SecretStr
from tiktok_sandbox.testing import RunningSandbox, run_sandbox
from tiktok_shop import AccessToken, ClientConfig, ShopClient, StaticTokenProvider, TikTokShopClient
from tiktok_shop.config import RetryConfig

pytestmark = pytest.mark.integration

SOFAS = "604468"  # Furniture > Indoor Furniture > Sofas, a real UK leaf id


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    with run_sandbox() as sb:
        yield sb


async def connect(sb: RunningSandbox, region: str) -> tuple[TikTokShopClient, ShopClient]:
    """A client configured as for the real hosts (only the base URLs differ), with a token
    from the sandbox's OAuth flow and the shop's cipher from Get Authorized Shops."""
    config = ClientConfig(
        app_key=sb.settings.app_key,
        app_secret=SecretStr(sb.settings.app_secret),
        service_id=sb.settings.service_id,
        open_api_base_url=sb.base_url,
        auth_base_url=sb.base_url,
        us_authorize_base_url=sb.base_url,
        global_authorize_base_url=sb.base_url,
        retry=RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.05),
    )
    tokens = StaticTokenProvider({})
    client = TikTokShopClient(config, tokens)
    code = sb.admin("POST", "/sandbox/v1/authorizations", {"region": region})["data"]["code"]
    grant = await client.oauth.get_token(code)
    key = f"conn-{region}"
    tokens.set(key, AccessToken(grant.access_token, grant.access_token_expire_in))
    shops = await client.shop(key).authorization.get_authorized_shops()
    ciphers = {s.id: s.cipher for s in shops.shops}
    tokens.set(key, AccessToken(grant.access_token, grant.access_token_expire_in, ciphers))
    return client, client.shop(key, sb.shop_id(region))


@pytest.fixture
async def uk(sandbox: RunningSandbox) -> AsyncIterator[ShopClient]:
    client, shop = await connect(sandbox, "UK")
    try:
        yield shop
    finally:
        await client.aclose()


@pytest.fixture
async def us(sandbox: RunningSandbox) -> AsyncIterator[ShopClient]:
    client, shop = await connect(sandbox, "US")
    try:
        yield shop
    finally:
        await client.aclose()


async def test_uk_categories_attributes_and_schema(uk: ShopClient) -> None:
    cats = await fetch_categories(uk.catalog, "UK")
    leaf = {c.id: c for c in leaves(cats)}
    assert len(leaf) == 1575  # the real UK v1 leaf list
    assert leaf[SOFAS].path == "Furniture>Indoor Furniture>Sofas" and leaf[SOFAS].level == 3
    assert any(c.invite_only for c in leaf.values())
    assert all(not c.is_leaf for c in cats if c.id not in leaf)
    terms = category_terms(cats)
    assert f"{SOFAS}|Furniture>Indoor Furniture>Sofas" in terms
    assert {parse_category_term(t).id for t in terms} == set(leaf)

    attrs = {a.name: a for a in await fetch_attributes(uk.catalog, "UK", SOFAS)}
    foldable = attrs["Foldable Furniture"]
    assert foldable.kind == "product" and foldable.required and foldable.predefined_only
    assert {v.name for v in foldable.values} == {"Foldable", "Non-Foldable"}
    assert attrs["Color"].kind == "sales"
    folded = attrs["Folded Dimensions"]
    assert [(c.attribute_id, c.value_id) for c in folded.required_when] == [
        (foldable.id, next(v.id for v in foldable.values if v.name == "Foldable"))
    ]
    assert attrs["Material"].multi_select and attrs["Material"].customizable
    assert f"Foldable Furniture|Foldable:::::{foldable.values[0].id}" in value_terms(attrs.values())

    rules = await fetch_rules(uk.catalog, "UK", SOFAS)
    assert rules.package_dimensions_required
    schema = {a.name: a for a in schema_for(list(attrs.values()), market="UK", rules=rules)}
    assert schema[f"product_attribute.Foldable Furniture#{foldable.id}"].required
    assert schema["sku.sales_attribute.Color"].per_variant
    assert schema["package_length"].required  # from the category's rules


async def test_brands_with_their_authorization(uk: ShopClient) -> None:
    brands = await fetch_brands(uk.catalog, "UK", page_size=50)
    assert len(brands) == len({b.id for b in brands}) == 220  # every page, each brand once
    teas = next(b for b in brands if b.id == "7082427311584347905")
    assert teas.name == "Teas" and teas.authorized
    assert any(not b.authorized for b in brands) and any(not b.available for b in brands)
    assert "7082427311584347905|Teas" in brand_terms(brands, authorized_only=True)
    authorized = await fetch_brands(uk.catalog, "UK", authorized_only=True)
    assert authorized and all(b.authorized for b in authorized)
    by_category = await fetch_brands(uk.catalog, "UK", category_id=SOFAS, max_pages=1)
    assert by_category


async def test_us_uses_category_version_v2(us: ShopClient) -> None:
    cats = await fetch_categories(us.catalog, "US")
    us_leaves = leaves(cats)
    assert len(us_leaves) == 196 and max(c.level for c in us_leaves) >= 4
    sofa = next(c for c in us_leaves if c.name == "Sofas")
    attrs = await fetch_attributes(us.catalog, "US", sofa.id)
    assert any(a.name == "Foldable Furniture" for a in attrs)
    assert (await fetch_rules(us.catalog, "US", sofa.id)).package_dimensions_required
    found = await fetch_recommendation(us.catalog, "US", "Grey three seater fabric sofa")
    assert found is not None and found.leaf_id == sofa.id


async def test_recommendation_and_suggestions(uk: ShopClient) -> None:
    found = await fetch_recommendation(uk.catalog, "UK", "Grey three seater fabric sofa")
    assert found is not None and found.path.endswith("Sofas")
    assert await fetch_recommendation(uk.catalog, "UK", "zzqx") is None  # 12019064

    index = SuggestionIndex.for_categories(await fetch_categories(uk.catalog, "UK"))
    out = await suggest(
        ["Home & Garden > Furniture > Sofas", "zzqx"],
        index,
        recommend=tiktok_recommender(uk.catalog, "UK"),
        titles={"Home & Garden > Furniture > Sofas": "Grey three seater fabric sofa"},
    )
    best = out["Home & Garden > Furniture > Sofas"][0]
    assert best.id == found.leaf_id and best.source == "text+tiktok"
    assert out["zzqx"] == []


async def test_analyzer_over_fetched_taxonomies(uk: ShopClient) -> None:
    cats = {c.id: c for c in await fetch_categories(uk.catalog, "UK")}
    brands = {b.id: b for b in await fetch_brands(uk.catalog, "UK")}
    attrs = await fetch_attributes(uk.catalog, "UK", SOFAS)
    schemas = {SOFAS: schema_for(attrs, market="UK")}
    invite = next(c.id for c in cats.values() if c.is_leaf and c.invite_only)
    unauthorized = next(b.id for b in brands.values() if b.available and not b.authorized)
    analyzer = ReadinessAnalyzer(schemas, market="UK", categories=cats, brands=brands)
    foldable = next(a for a in attrs if a.name == "Foldable Furniture")
    row = {
        "product_id": "S-1",
        "parent_id": "S",
        "product_name": "Grey sofa",
        "description": "<p>Comfy</p>",
        "category_id": SOFAS,
        "brand_id": unauthorized,
        "images": "https://img.example/1.jpg",
        "package_weight": "40",
        "package_length": "200",
        "package_width": "90",
        "package_height": "80",
        "sku.price": "499.00",
        "sku.quantity": "3",
        f"product_attribute.Foldable Furniture#{foldable.id}": "Foldable",  # no id
        "product_attribute.Material#100198": "Wood",
    }
    result = analyzer.add([row])
    assert {(i.attribute, i.test) for i in result.issues} == {
        ("brand_id", TestKind.BRAND_AUTHORIZATION),
        (f"product_attribute.Foldable Furniture#{foldable.id}", TestKind.PREDEFINED),
    }
    moved = analyzer.add([{**row, "product_id": "T-1", "parent_id": "T", "category_id": invite}])
    assert ("category_id", TestKind.INVITE_ONLY) in {(i.attribute, i.test) for i in moved.issues}

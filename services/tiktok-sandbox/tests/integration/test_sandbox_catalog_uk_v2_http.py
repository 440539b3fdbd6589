"""A UK shop asking `category_version=v2` ("Get Categories 202309": v1 = the 3-level tree
and the default, v2 = the 7-level tree) gets the v2 tree, and ids never cross versions
(12052230 "Category version and categoryID are not matched", "Create Product 202309")."""

from __future__ import annotations

from typing import Any

from tiktok_sandbox.testing import RunningSandbox, SignedClient

UK_WAREHOUSE = "7068517275539720101"
UK_SOFAS_V1 = "604468"


def categories(client: SignedClient, **params: str) -> list[dict[str, Any]]:
    resp = client.call("GET", "/product/202309/categories", params=params)
    assert resp["code"] == 0, resp
    cats: list[dict[str, Any]] = resp["data"]["categories"]
    return cats


def uk_body(client: SignedClient, seller_sku: str, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Oak sofa",
        "description": "<p>Solid oak</p>",
        "category_id": UK_SOFAS_V1,
        "main_images": [{"uri": client.upload_image()["uri"]}],
        "product_attributes": [
            {"id": "101610", "values": [{"name": "Non-Foldable"}]},
            {"id": "100198", "values": [{"name": "Wood"}]},
        ],
        "skus": [
            {
                "seller_sku": seller_sku,
                "price": {"amount": "250", "currency": "GBP"},
                "inventory": [{"warehouse_id": UK_WAREHOUSE, "quantity": 2}],
            }
        ],
        "package_weight": {"value": "3", "unit": "KILOGRAM"},
    }
    body.update(over)
    return body


def test_uk_v2_is_the_v2_tree_not_the_v1_tree(uk: SignedClient, us: SignedClient) -> None:
    v1 = categories(uk)
    assert categories(uk, category_version="v1") == v1
    v2 = categories(uk, category_version="v2")
    assert {c["id"] for c in v2}.isdisjoint({c["id"] for c in v1})
    assert sum(c["is_leaf"] for c in v2) == 196 and sum(c["is_leaf"] for c in v1) == 1575
    # One v2 tree: the UK shop gets the same v2 tree as the US shop.
    assert v2 == categories(us, category_version="v2")
    assert categories(uk, category_version="V2") == v2  # the value is case-insensitive
    bad = uk.call("GET", "/product/202309/categories", params={"category_version": "v3"})
    assert bad["code"] == 36009004


def test_uk_v2_attributes_rules_brands_and_recommend(uk: SignedClient) -> None:
    leaf = uk.leaf_id("Sofas", version="v2")
    assert leaf != UK_SOFAS_V1
    attrs = uk.call(
        "GET", f"/product/202309/categories/{leaf}/attributes", params={"category_version": "v2"}
    )
    assert attrs["code"] == 0 and attrs["data"]["attributes"]
    # A v1 id is no category of the v2 tree.
    v1_in_v2 = uk.call(
        "GET",
        f"/product/202309/categories/{UK_SOFAS_V1}/attributes",
        params={"category_version": "v2"},
    )
    assert v1_in_v2["code"] == 12052023
    assert uk.call("GET", f"/product/202309/categories/{leaf}/rules")["code"] == 0
    assert uk.call("GET", f"/product/202309/categories/{UK_SOFAS_V1}/rules")["code"] == 0
    brands = uk.call("GET", "/product/202309/brands", params={"category_id": leaf})
    assert brands["code"] == 0
    rec = uk.call(
        "POST",
        "/product/202309/categories/recommend",
        json={"product_title": "Grey sofa", "category_version": "v2"},
    )
    assert rec["code"] == 0 and rec["data"]["leaf_category_id"] == leaf
    rec_v1 = uk.call(
        "POST", "/product/202309/categories/recommend", json={"product_title": "Grey sofa"}
    )
    assert rec_v1["data"]["leaf_category_id"] in {c["id"] for c in categories(uk)}


def test_uk_products_in_v2(sb: RunningSandbox, uk: SignedClient) -> None:
    leaf = uk.leaf_id("Sofas", version="v2")
    body = uk_body(uk, "UKV2-1", category_id=leaf, category_version="v2")
    created = uk.call("POST", "/product/202309/products", json=body)
    assert created["code"] == 0, created
    pid = created["data"]["product_id"]
    product = uk.call("GET", f"/product/202309/products/{pid}")["data"]
    assert product["category_chains"][-1] == {
        "id": leaf,
        "parent_id": product["category_chains"][-2]["id"],
        "local_name": "Sofas",
        "is_leaf": True,
    }
    # A partial edit keeps the product's version.
    edit = uk.call("POST", f"/product/202509/products/{pid}/partial_edit", json={"title": "Sofa"})
    assert edit["code"] == 0, edit
    mismatches = {
        "v1 id sent as v2": uk_body(uk, "UKV2-2", category_version="v2"),
        "v2 id sent as v1": uk_body(uk, "UKV2-3", category_id=leaf, category_version="v1"),
        "v2 id, version omitted (v1)": uk_body(uk, "UKV2-4", category_id=leaf),
    }
    for name, bad in mismatches.items():
        resp = uk.call("POST", "/product/202309/products", json=bad)
        assert resp["code"] == 12052230, (name, resp)
        assert resp["message"] == "Category version and categoryID are not matched."
    check = uk.call(
        "POST", "/product/202309/products/listing_check", json=mismatches["v1 id sent as v2"]
    )
    assert [r["code"] for r in check["data"]["fail_reasons"]] == [12052230]
    unknown = uk_body(uk, "UKV2-5", category_id="1", category_version="v2")
    assert uk.call("POST", "/product/202309/products", json=unknown)["code"] == 12052023
    odd = uk_body(uk, "UKV2-6", category_version="v7")
    assert uk.call("POST", "/product/202309/products", json=odd)["code"] == 36009004
    v1 = uk.call("POST", "/product/202309/products", json=uk_body(uk, "UKV2-7"))
    assert v1["code"] == 0, v1  # v1 stays the UK default

"""Catalogue endpoints over real HTTP: categories, attributes, rules, brands, recommend."""

from __future__ import annotations

from tiktok_sandbox.testing import SignedClient, sample_sofa


def test_uk_categories_default_to_v1(uk: SignedClient) -> None:
    body = uk.call("GET", "/product/202309/categories")
    assert body["code"] == 0
    cats = body["data"]["categories"]
    assert sum(c["is_leaf"] for c in cats) == 1575
    sofa = next(c for c in cats if c["id"] == "604468")
    assert sofa == {
        "id": "604468",
        "parent_id": sofa["parent_id"],
        "local_name": "Sofas",
        "is_leaf": True,
        "permission_statuses": ["AVAILABLE"],
    }
    parent = next(c for c in cats if c["id"] == sofa["parent_id"])
    assert parent["local_name"] == "Indoor Furniture" and parent["is_leaf"] is False


def test_us_requires_category_version_v2(us: SignedClient) -> None:
    assert us.call("GET", "/product/202309/categories")["code"] == 12052217
    v1 = us.call("GET", "/product/202309/categories", params={"category_version": "v1"})
    assert v1["code"] == 12052217 and v1["data"] is None
    v2 = us.call("GET", "/product/202309/categories", params={"category_version": "v2"})
    assert v2["code"] == 0
    assert sum(c["is_leaf"] for c in v2["data"]["categories"]) >= 150


def test_category_keyword_filter(us: SignedClient) -> None:
    body = us.call(
        "GET", "/product/202309/categories", params={"category_version": "v2", "keyword": "sofa"}
    )
    names = [c["local_name"] for c in body["data"]["categories"]]
    assert names == ["Sofas"]


def test_attributes_for_a_furniture_leaf(us: SignedClient) -> None:
    cats = us.call(
        "GET", "/product/202309/categories", params={"category_version": "v2", "keyword": "sofa"}
    )["data"]["categories"]
    body = us.call(
        "GET",
        f"/product/202309/categories/{cats[0]['id']}/attributes",
        params={"category_version": "v2", "locale": "en-US"},
    )
    assert body["code"] == 0
    attrs = {a["name"]: a for a in body["data"]["attributes"]}
    foldable = attrs["Foldable Furniture"]
    assert foldable["type"] == "PRODUCT_PROPERTY" and foldable["is_requried"] is True
    assert [v["name"] for v in foldable["values"]] == ["Foldable", "Non-Foldable"]
    folded = attrs["Folded Dimensions"]
    assert folded["requirement_conditions"][0]["attribute_id"] == foldable["id"]
    assert attrs["Color"]["type"] == "SALES_PROPERTY"


def test_attributes_errors(uk: SignedClient) -> None:
    missing = uk.call("GET", "/product/202309/categories/999/attributes")
    assert missing["code"] == 12052023
    cats = uk.call("GET", "/product/202309/categories")["data"]["categories"]
    parent = next(c for c in cats if not c["is_leaf"])
    not_leaf = uk.call("GET", f"/product/202309/categories/{parent['id']}/attributes")
    assert not_leaf["code"] == 12052024


def test_rules(uk: SignedClient) -> None:
    body = uk.call("GET", "/product/202309/categories/604468/rules")
    assert body["code"] == 0
    assert body["data"]["package_dimension"]["is_required"] is True
    assert "size_chart" in body["data"]


def test_brands_paging_covers_every_brand_once(uk: SignedClient) -> None:
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        params: dict[str, int | str] = {"page_size": 100}
        if token:
            params["page_token"] = token
        data = uk.call("GET", "/product/202309/brands", params=params)["data"]
        seen += [b["id"] for b in data["brands"]]
        pages += 1
        token = data["next_page_token"]
        if not token:
            break
        assert "+" in token or "/" in token  # clients must encode it
    assert pages == 3 and len(seen) == len(set(seen)) == data["total_count"] >= 200


def test_brand_filters(uk: SignedClient) -> None:
    unauth = uk.call("GET", "/product/202309/brands", params={"is_authorized": "false"})["data"]
    assert unauth["brands"] and all(
        b["authorized_status"] == "UNAUTHORIEZD" for b in unauth["brands"]
    )
    teas = uk.call("GET", "/product/202309/brands", params={"brand_name": "tea"})["data"]
    assert [b["id"] for b in teas["brands"]] == ["7082427311584347905"]
    bad = uk.call("GET", "/product/202309/brands", params={"page_size": 101})
    assert bad["code"] == 36009004
    bad_token = uk.call("GET", "/product/202309/brands", params={"page_token": "nope"})
    assert bad_token["code"] == 36009004


def test_recommend_category(us: SignedClient, uk: SignedClient) -> None:
    body = us.call(
        "POST",
        "/product/202309/categories/recommend",
        json={"product_title": "Grey Sofa with wooden legs", "category_version": "v2"},
    )
    assert body["code"] == 0
    chain = body["data"]["categories"]
    assert chain[-1]["name"] == "Sofas" and chain[-1]["is_leaf"] is True
    assert body["data"]["leaf_category_id"] == chain[-1]["id"]
    assert [c["level"] for c in chain] == list(range(1, len(chain) + 1))
    uk_body = uk.call(
        "POST", "/product/202309/categories/recommend", json={"product_title": "Silver necklace"}
    )
    assert uk_body["code"] == 0
    none = uk.call(
        "POST", "/product/202309/categories/recommend", json={"product_title": "zzzz qqqq"}
    )
    assert none["code"] == 12019064


def test_us_recommend_needs_category_version_v2(us: SignedClient) -> None:
    # v1 is the default everywhere ("Get Categories 202309"); US shops must ask for v2 (12052217).
    path = "/product/202309/categories/recommend"
    for body in (
        {"product_title": "Grey Sofa"},
        {"product_title": "Grey Sofa", "category_version": "v1"},
    ):
        resp = us.call("POST", path, json=body)
        assert resp["code"] == 12052217 and resp["data"] is None, resp


BRANDS = "/product/202309/brands"


def test_create_custom_brand_is_listed_and_usable(us: SignedClient, uk: SignedClient) -> None:
    # Create Custom Brands 202309 takes no shop_cipher: sending one is 36009004.
    with_cipher = us.request("POST", BRANDS, json={"name": "Oakcraft Home"})
    assert with_cipher.status_code == 400 and with_cipher.json()["code"] == 36009004
    created = us.call("POST", BRANDS, json={"name": "Oakcraft Home"}, cipher=False)
    assert created["code"] == 0, created
    brand_id = created["data"]["id"]
    assert isinstance(brand_id, str) and brand_id.isdigit()

    listed = us.call("GET", BRANDS, params={"brand_name": "oakcraft"})["data"]["brands"]
    assert [b["id"] for b in listed] == [brand_id]
    assert listed[0]["name"] == "Oakcraft Home" and listed[0]["brand_status"] == "AVAILABLE"
    # Another seller's shop does not see it.
    assert uk.call("GET", BRANDS, params={"brand_name": "oakcraft"})["data"]["brands"] == []

    product = us.call(
        "POST", "/product/202309/products", json=sample_sofa(us, "OAK", brand_id=brand_id)
    )
    assert product["code"] == 0, product
    pid = product["data"]["product_id"]
    detail = us.call("GET", f"/product/202309/products/{pid}")["data"]
    assert detail["brand"] == {"id": brand_id, "name": "Oakcraft Home"}


def test_create_custom_brand_errors(us: SignedClient) -> None:
    for name in (None, "", "A", "x" * 31, "茶叶 Brand"):
        body = us.call("POST", BRANDS, json={} if name is None else {"name": name}, cipher=False)
        assert body["code"] == 36009004 and body["data"] is None, (name, body)
    assert us.call("POST", BRANDS, json={"name": "Twice Co"}, cipher=False)["code"] == 0
    again = us.call("POST", BRANDS, json={"name": "twice co"}, cipher=False)
    assert again["code"] == 12052202 and again["data"] is None

"""Access scopes over real HTTP: restricted grants, 105005, pipeline order, route coverage."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from tiktok_sandbox.app import create_app
from tiktok_sandbox.scopes import ACCESS_DENIED, ALL_SCOPES, required_scope
from tiktok_sandbox.security import require_app, require_shop
from tiktok_sandbox.seed import SHOPS, US_SHOP_ID
from tiktok_sandbox.testing import RunningSandbox, SignedClient

ORDER_ONLY = ["seller.order.info"]
CREATE = "POST /product/202309/products"
US_CIPHER = SHOPS[US_SHOP_ID]["cipher"]


def _authorize(sb: RunningSandbox, scopes: Any = None, region: str = "US") -> dict[str, Any]:
    body: dict[str, Any] = {"region": region}
    if scopes is not None:
        body["scopes"] = scopes
    result: dict[str, Any] = sb.admin("POST", "/sandbox/v1/authorizations", body)
    return result


def _grant(sb: RunningSandbox, scopes: list[str] | None = None) -> dict[str, Any]:
    code = _authorize(sb, scopes)["data"]["code"]
    body = sb.token_call("/api/v2/token/get", auth_code=code, grant_type="authorized_code")
    assert body["code"] == 0, body
    data: dict[str, Any] = body["data"]
    return data


def _client(sb: RunningSandbox, access_token: str) -> SignedClient:
    return SignedClient(sb.base_url, sb.settings, access_token, US_CIPHER, sb.http)


def _stats(sb: RunningSandbox) -> dict[str, Any]:
    data: dict[str, Any] = sb.admin("GET", "/sandbox/v1/stats")["data"]
    return data


def _search_orders(client: SignedClient) -> dict[str, Any]:
    return client.call("POST", "/order/202309/orders/search", params={"page_size": 10}, json={})


def _create_product(client: SignedClient) -> Any:
    # The body does not matter: the scope check runs before any validation.
    return client.request("POST", "/product/202309/products", json={"title": "Mug"})


def _assert_access_denied(resp: Any) -> None:
    assert resp.status_code == 200  # [inferred]: business-error default, see scopes.py
    body = resp.json()
    assert body["code"] == 105005
    assert body["message"] == ACCESS_DENIED
    assert body["data"] is None
    assert len(body["request_id"]) == 34


def test_default_authorization_grants_every_scope(sb: RunningSandbox) -> None:
    auth = _authorize(sb)
    assert auth["code"] == 0 and auth["data"]["scopes"] == list(ALL_SCOPES)
    assert _grant(sb)["granted_scopes"] == list(ALL_SCOPES)


def test_order_only_token_searches_orders_but_cannot_create_products(sb: RunningSandbox) -> None:
    grant = _grant(sb, ORDER_ONLY)
    assert grant["granted_scopes"] == ORDER_ONLY
    client = _client(sb, grant["access_token"])
    before = _stats(sb)

    searched = _search_orders(client)
    assert searched["code"] == 0 and "orders" in searched["data"]
    _assert_access_denied(_create_product(client))

    after = _stats(sb)
    # The refused create reached the sandbox once and created nothing.
    assert after["calls"][CREATE] - before["calls"].get(CREATE, 0) == 1
    assert after["errors_by_code"]["105005"] - before["errors_by_code"].get("105005", 0) == 1
    assert after["products_by_shop"] == before["products_by_shop"]


def test_scopes_are_split_by_area_and_by_read_or_write(sb: RunningSandbox) -> None:
    grant = _grant(sb, ["seller.product.basic"])
    client = _client(sb, grant["access_token"])
    cats = client.call("GET", "/product/202309/categories", params={"category_version": "v2"})
    assert cats["code"] == 0
    searched = client.call("POST", "/product/202502/products/search", json={})
    assert searched["code"] == 0
    _assert_access_denied(_create_product(client))
    # The app-level (no cipher) pipeline checks scopes too.
    _assert_access_denied(client.request("GET", "/authorization/202309/shops", cipher=False))
    _assert_access_denied(client.request("GET", "/logistics/202309/warehouses"))
    _assert_access_denied(_search_orders_raw(client))


def _search_orders_raw(client: SignedClient) -> Any:
    return client.request("POST", "/order/202309/orders/search", json={})


def test_refresh_keeps_the_granted_scopes(sb: RunningSandbox) -> None:
    grant = _grant(sb, ORDER_ONLY)
    refreshed = sb.token_call(
        "/api/v2/token/refresh",
        refresh_token=grant["refresh_token"],
        grant_type="refresh_token",
    )
    assert refreshed["code"] == 0
    assert refreshed["data"]["granted_scopes"] == ORDER_ONLY
    client = _client(sb, refreshed["data"]["access_token"])
    assert _search_orders(client)["code"] == 0
    _assert_access_denied(_create_product(client))


def test_a_restricted_grant_leaves_other_grants_of_the_seller_alone(sb: RunningSandbox) -> None:
    full = _client(sb, _grant(sb)["access_token"])
    _grant(sb, ORDER_ONLY)  # same seller, later, narrower
    resp = full.call("GET", "/product/202309/brands")
    assert resp["code"] == 0


def test_token_errors_come_before_the_scope_check(sb: RunningSandbox) -> None:
    grant = _grant(sb, ORDER_ONLY)
    client = _client(sb, grant["access_token"])
    bad_sign = client.request("POST", "/product/202309/products", json={}, sign_override="0" * 64)
    assert (bad_sign.status_code, bad_sign.json()["code"]) == (401, 106001)
    unknown = _client(sb, "TTP_unknown").request("POST", "/product/202309/products", json={})
    assert (unknown.status_code, unknown.json()["code"]) == (401, 36009004)
    with sb.state.lock:
        sb.state.auth.access[grant["access_token"]].expires_at = 0
    expired = _create_product(client)
    assert (expired.status_code, expired.json()["code"]) == (401, 105002)


def test_scope_check_comes_before_the_cipher_check(sb: RunningSandbox) -> None:
    client = _client(sb, _grant(sb, ORDER_ONLY)["access_token"])
    _assert_access_denied(client.request("POST", "/product/202309/products", cipher=False, json={}))


@pytest.mark.parametrize(
    "scopes",
    [[], "seller.order.info", ["seller.order.info", "seller.everything"], [1]],
    ids=["empty", "not-a-list", "unknown-name", "not-a-string"],
)
def test_invalid_requested_scopes_are_refused(sb: RunningSandbox, scopes: Any) -> None:
    body = _authorize(sb, scopes)
    assert body["code"] == 36009004 and "body.scopes" in body["message"]
    assert body["data"] is None


def test_scopes_are_returned_in_canonical_order_without_duplicates(sb: RunningSandbox) -> None:
    wanted = ["seller.order.info", "seller.authorization.info", "seller.order.info"]
    assert _grant(sb, wanted)["granted_scopes"] == [
        "seller.authorization.info",
        "seller.order.info",
    ]


@pytest.mark.parametrize(
    ("operation", "scope"),
    [
        ("GET /product/202309/products/{product_id}", "seller.product.basic"),
        ("POST /product/202502/products/search", "seller.product.basic"),
        ("POST /product/202309/inventory/search", "seller.product.basic"),
        ("POST /product/202309/categories/recommend", "seller.product.basic"),
        ("POST /product/202309/products", "seller.product.write"),
        ("PUT /product/202509/products/{product_id}", "seller.product.write"),
        ("POST /product/202309/images/upload", "seller.product.write"),
        ("POST /product/202309/brands", "seller.product.write"),
        ("POST /product/202309/products/listing_check", "seller.product.write"),
        ("DELETE /product/202309/products", "seller.product.delete"),
        ("POST /order/202309/orders/search", "seller.order.info"),
        ("POST /fulfillment/202309/packages/{package_id}/ship", "seller.fulfillment.basic"),
        ("GET /logistics/202309/warehouses", "seller.logistics"),
        ("PUT /event/202309/webhooks", "seller.webhook"),
        ("GET /authorization/202309/shops", "seller.authorization.info"),
    ],
)
def test_documented_mapping(operation: str, scope: str) -> None:
    assert required_scope(operation) == scope


def _calls(dependant: Dependant) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def _api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        # FastAPI >= 0.16x keeps included routers as one node wrapping the original router.
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _api_routes(inner.routes)


def test_every_signed_route_has_a_known_scope() -> None:
    """A new Open API route without a scope rule must fail here, not skip the check."""
    signed = []
    for route in _api_routes(create_app().routes):
        calls = set(_calls(route.dependant))
        if not calls & {require_shop, require_app}:
            continue
        for method in sorted(route.methods or ()):
            signed.append(f"{method} {route.path}")
            assert required_scope(f"{method} {route.path}") in ALL_SCOPES
    # Sanity: the walk found the Open API (products, orders, fulfilment, ...), not nothing.
    assert len(signed) >= 30
    assert any(op.startswith("GET /authorization/") for op in signed)

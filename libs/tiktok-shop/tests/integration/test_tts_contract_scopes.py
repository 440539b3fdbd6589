"""Contract: a token without the operation's scope (105005, "Common errors") -> `ScopeError`.

The sandbox grants only the scopes asked for in `POST /sandbox/v1/authorizations`.
The client must surface 105005 as a non-retriable `ScopeError` and must neither repeat
the call nor refresh the token: a fresh token carries the same scopes, only a new
authorization by the seller can add one.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tiktok_sandbox.testing import RunningSandbox
from tiktok_shop import ScopeError
from tiktok_shop.errors import CredentialsError
from tts_client_contract import Connected, connect
from tts_product_factory import product_input

# Enough to bind the shop (authorized shops) and read orders; nothing about products.
ORDER_SCOPES = ["seller.authorization.info", "seller.order.info"]
CREATE = "POST /product/202309/products"
WAREHOUSES = "GET /logistics/202309/warehouses"
REFRESH = "GET /api/v2/token/refresh"


@pytest.fixture
async def orders_only(sandbox: RunningSandbox) -> AsyncIterator[Connected]:
    # The seller grants only ORDER_SCOPES.
    conn = await connect(sandbox, "US", scopes=ORDER_SCOPES, key="scoped-US")
    try:
        yield conn
    finally:
        await conn.client.aclose()


def stats(sb: RunningSandbox) -> dict[str, Any]:
    data: dict[str, Any] = sb.admin("GET", "/sandbox/v1/stats")["data"]
    return data


def calls(snapshot: dict[str, Any], operation: str) -> int:
    return int(snapshot["calls"].get(operation, 0))


def attempts(conn: Connected, operation: str) -> list[Any]:
    return [r for r in conn.log.records if r.operation == operation]


def assert_scope_error(err: ScopeError, access_token: str) -> None:
    assert err.code == 105005
    assert err.retriable is False
    assert err.http_status == 200  # the sandbox's [inferred] status for business errors
    assert err.message.startswith("Access denied.")
    assert "do not contain the required access scope" in err.message
    assert err.request_id and len(err.request_id) == 34
    # A scope problem is not a credentials problem: callers must not re-authenticate.
    assert not isinstance(err, CredentialsError)
    assert access_token not in str(err)


async def place_order(us: Connected) -> str:
    """A paid order in the US shop, for a product created with full scopes."""
    created = await us.shop.products.create_product(
        await product_input(us, [f"SCOPE-ORD-{uuid.uuid4().hex[:10]}"])
    )
    us.sandbox.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 60})  # audit passes
    line_items = [{"sku_id": created.skus[0].id}]
    resp = us.sandbox.admin(
        "POST", "/sandbox/v1/orders", {"region": "US", "line_items": line_items}
    )
    assert resp["code"] == 0, resp
    order_id: str = resp["data"]["order"]["id"]
    return order_id


async def test_order_scopes_search_and_read_orders(us: Connected, orders_only: Connected) -> None:
    order_id = await place_order(us)
    page = await orders_only.shop.orders.search_orders(page_size=50)
    assert page.total_count == stats(orders_only.sandbox)["orders_by_shop"][orders_only.shop_id]
    assert order_id in {o.id for o in page.orders} or page.next_page_token
    detail = await orders_only.shop.orders.get_order_detail([order_id])
    assert [o.id for o in detail.orders] == [order_id]


async def test_create_product_without_write_scope_is_a_scope_error(
    us: Connected, orders_only: Connected
) -> None:
    # A valid body, built with a fully scoped connection: only the scope can fail it.
    body = await product_input(us, [f"SCOPE-{uuid.uuid4().hex[:10]}"])
    token = await orders_only.tokens.get("scoped-US")
    before = stats(orders_only.sandbox)

    with pytest.raises(ScopeError) as caught:
        await orders_only.shop.products.create_product(body)

    after = stats(orders_only.sandbox)
    # Sent once, never repeated, no refresh attempted (client side and sandbox side).
    assert calls(after, CREATE) - calls(before, CREATE) == 1
    assert after["token_refreshes"] == before["token_refreshes"]
    assert calls(after, REFRESH) == calls(before, REFRESH)
    assert orders_only.tokens.refresh_calls == 0
    assert after["products_by_shop"] == before["products_by_shop"]
    assert_scope_error(caught.value, token.access_token)
    # The request id on the error is the one the sandbox sent for that very attempt.
    [record] = attempts(orders_only, "createProduct")
    assert (record.code, record.request_id) == (105005, caught.value.request_id)


async def test_idempotent_read_without_scope_is_not_retried(orders_only: Connected) -> None:
    # Reads are retried on retriable errors; a scope error must not be one of them.
    before = stats(orders_only.sandbox)
    with pytest.raises(ScopeError) as caught:
        await orders_only.shop.logistics.get_warehouses()
    after = stats(orders_only.sandbox)
    assert calls(after, WAREHOUSES) - calls(before, WAREHOUSES) == 1
    assert after["token_refreshes"] == before["token_refreshes"]
    assert orders_only.tokens.refresh_calls == 0
    token = await orders_only.tokens.get("scoped-US")
    assert_scope_error(caught.value, token.access_token)


async def test_the_same_read_succeeds_with_the_scope(us: Connected) -> None:
    # Control for the test above: the operation itself works, only the scope was missing.
    warehouses = (await us.shop.logistics.get_warehouses()).warehouses
    assert warehouses

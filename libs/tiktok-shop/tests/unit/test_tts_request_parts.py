"""Query encoding, path rendering, pagination and the operation table."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from tiktok_shop import operations as ops
from tiktok_shop.core import encode_query
from tiktok_shop.pagination import iterate_items, iterate_pages


def test_encode_query_rules() -> None:
    assert encode_query(
        {"ids": ["a", "b"], "flag": True, "off": False, "n": 5, "empty": "", "none": None}
    ) == {"ids": "a,b", "flag": "true", "off": "false", "n": "5"}


def test_render_path_rejects_missing_or_unsafe_params() -> None:
    assert ops.GET_PRODUCT.render(product_id="17") == "/product/202309/products/17"
    with pytest.raises(ValueError):
        ops.GET_PRODUCT.render()
    with pytest.raises(ValueError):
        ops.GET_PRODUCT.render(product_id="../../authorization")
    for bad in ("", "..", "1?x=2"):
        with pytest.raises(ValueError):
            ops.GET_PRODUCT.render(product_id=bad)


def test_operation_table_uses_newest_versions_and_cipher_rules() -> None:
    table = {o.name: o for o in vars(ops).values() if isinstance(o, ops.Operation)}
    assert table["searchProducts"].path.startswith("/product/202502/")
    assert table["editProduct"].path.startswith("/product/202509/")
    assert table["partialEditProduct"].path.startswith("/product/202509/")
    assert table["getOrderDetail"].path == "/order/202507/orders"
    no_cipher = {n for n, o in table.items() if not o.cipher}
    assert no_cipher == {"getAuthorizedShops", "uploadProductImage"}
    writes = {n for n, o in table.items() if not o.idempotent}
    assert writes == {"createProduct", "shipPackage", "batchShipPackages", "markPackageAsShipped"}


@dataclass
class FakePage:
    items: list[int]
    next_page_token: str | None


async def test_pages_follow_tokens_and_stop_on_empty_or_repeat() -> None:
    pages = {None: FakePage([1, 2], "t1"), "t1": FakePage([3], "t2"), "t2": FakePage([4], "")}
    asked: list[str | None] = []

    async def fetch(token: str | None) -> FakePage:
        asked.append(token)
        return pages[token]

    assert [i async for i in iterate_items(fetch, lambda p: p.items)] == [1, 2, 3, 4]
    assert asked == [None, "t1", "t2"]

    looping = {None: FakePage([1], "x"), "x": FakePage([2], "x")}

    async def fetch_loop(token: str | None) -> FakePage:
        return looping[token]

    assert [i async for i in iterate_items(fetch_loop, lambda p: p.items)] == [1, 2]
    assert len([p async for p in iterate_pages(fetch, max_pages=2)]) == 2

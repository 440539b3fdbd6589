"""State stays consistent under concurrent writes (HTTP clients and direct threads)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tiktok_sandbox.errors import ApiError
from tiktok_sandbox.testing import run_sandbox, sample_sofa


def test_concurrent_creates_with_one_seller_sku_yield_one_product() -> None:
    with run_sandbox(qps=0) as sb:
        client = sb.client("US")
        bodies = [sample_sofa(client, "RACE") for _ in range(12)]

        def send(body: dict[str, Any]) -> int:
            return int(client.call("POST", "/product/202309/products", json=body)["code"])

        with ThreadPoolExecutor(max_workers=12) as pool:
            codes = list(pool.map(send, bodies))
        assert sorted(codes) == [0] + [12052056] * 11
        stats = sb.admin("GET", "/sandbox/v1/stats")["data"]
        assert stats["products_by_shop"] == {sb.shop_id("US"): 1}
        assert stats["duplicate_seller_sku_rejections"][sb.shop_id("US")] == 11


def test_store_writes_from_threads_keep_indexes_consistent() -> None:
    with run_sandbox(qps=0) as sb:
        client = sb.client("US")
        shop = sb.state.shops[sb.shop_id("US")]
        bodies = [sample_sofa(client, f"T{i % 20}") for i in range(80)]

        def create(body: dict[str, Any]) -> str | None:
            try:
                return str(sb.state.products.create(shop, body)["id"])
            except ApiError:
                return None

        with ThreadPoolExecutor(max_workers=8) as pool:
            created = [pid for pid in pool.map(create, bodies) if pid]
        assert len(created) == 20  # one per distinct seller_sku prefix
        for i in range(20):
            found = sb.state.products.find_by_seller_sku(shop["id"], f"T{i}-GRY")
            assert found is not None and found["product_id"] in created
        assert sb.state.products.duplicate_seller_skus()["live"] == {}

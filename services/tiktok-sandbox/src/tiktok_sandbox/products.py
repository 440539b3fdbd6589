"""Product store (skeleton; filled in by the products work)."""

from __future__ import annotations

from typing import Any


class ProductStore:
    def __init__(self, state: Any) -> None:
        self.state = state

    def get_sku(self, shop_id: str, sku_id: str) -> dict[str, Any] | None:
        return None

    def find_by_seller_sku(self, shop_id: str, seller_sku: str) -> dict[str, Any] | None:
        return None

    def advance(self, now: float) -> None:
        return None

    def count_by_shop(self) -> dict[str, int]:
        return {}

    def duplicate_seller_skus(self) -> dict[str, int]:
        return {}

    def list_shop(self, shop_id: str) -> list[dict[str, Any]]:
        return []

"""Order area: search (cursor paging) and detail at the newest versions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from . import operations as ops
from ._area import AreaApi
from .models.orders import Order, OrderDetails, OrdersPage, SearchOrdersRequest
from .pagination import iterate_items

MAX_DETAIL_IDS = 50


class OrdersApi(AreaApi):
    async def search_orders(
        self,
        filters: SearchOrdersRequest | None = None,
        *,
        page_size: int = 50,
        page_token: str | None = None,
        sort_field: str | None = None,
        sort_order: str | None = None,
    ) -> OrdersPage:
        query = {
            "page_size": page_size,
            "page_token": page_token,
            "sort_field": sort_field,
            "sort_order": sort_order,
        }
        body = (filters or SearchOrdersRequest()).to_body()
        data = await self._caller.call(ops.GET_ORDER_LIST, self._shop, query=query, body=body)
        return self._parse(ops.GET_ORDER_LIST, OrdersPage, data)

    def iter_orders(
        self,
        filters: SearchOrdersRequest | None = None,
        *,
        page_size: int = 50,
        sort_field: str | None = None,
        sort_order: str | None = None,
    ) -> AsyncIterator[Order]:
        async def fetch(token: str | None) -> OrdersPage:
            return await self.search_orders(
                filters,
                page_size=page_size,
                page_token=token,
                sort_field=sort_field,
                sort_order=sort_order,
            )

        return iterate_items(fetch, lambda p: p.orders)

    async def get_order_detail(self, order_ids: Sequence[str]) -> OrderDetails:
        """Up to 50 orders per call (TikTok's limit); address withheld while UNPAID/ON_HOLD."""
        if not order_ids or len(order_ids) > MAX_DETAIL_IDS:
            raise ValueError(f"order_ids must hold 1..{MAX_DETAIL_IDS} ids")
        data = await self._caller.call(
            ops.GET_ORDER_DETAIL, self._shop, query={"ids": list(order_ids)}
        )
        return self._parse(ops.GET_ORDER_DETAIL, OrderDetails, data)

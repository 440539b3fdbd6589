"""Logistics area: warehouses -> delivery options -> shipping providers."""

from __future__ import annotations

from . import operations as ops
from ._area import AreaApi
from .models.logistics import DeliveryOptionList, ShippingProviderList, WarehouseList


class LogisticsApi(AreaApi):
    async def get_warehouses(self) -> WarehouseList:
        data = await self._caller.call(ops.GET_WAREHOUSE_LIST, self._shop)
        return self._parse(ops.GET_WAREHOUSE_LIST, WarehouseList, data)

    async def get_delivery_options(self, warehouse_id: str) -> DeliveryOptionList:
        data = await self._caller.call(
            ops.GET_WAREHOUSE_DELIVERY_OPTIONS,
            self._shop,
            path_params={"warehouse_id": warehouse_id},
        )
        return self._parse(ops.GET_WAREHOUSE_DELIVERY_OPTIONS, DeliveryOptionList, data)

    async def get_shipping_providers(self, delivery_option_id: str) -> ShippingProviderList:
        """Use the order's `delivery_option_id`."""
        data = await self._caller.call(
            ops.GET_SHIPPING_PROVIDERS,
            self._shop,
            path_params={"delivery_option_id": delivery_option_id},
        )
        return self._parse(ops.GET_SHIPPING_PROVIDERS, ShippingProviderList, data)

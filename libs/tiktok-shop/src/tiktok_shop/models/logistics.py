"""Warehouses, delivery options, shipping providers ("Get Warehouse List 202309" and siblings)."""

from __future__ import annotations

from typing import Any

from .common import Id, TikTokModel


class Warehouse(TikTokModel):
    id: Id
    name: str | None = None
    type: str | None = None
    sub_type: str | None = None
    effect_status: str | None = None
    is_default: bool | None = None
    address: dict[str, Any] | None = None


class WarehouseList(TikTokModel):
    warehouses: list[Warehouse] = []


class DeliveryOption(TikTokModel):
    id: Id
    name: str | None = None
    type: str | None = None
    description: str | None = None
    dimension_limit: dict[str, Any] | None = None
    weight_limit: dict[str, Any] | None = None


class DeliveryOptionList(TikTokModel):
    delivery_options: list[DeliveryOption] = []


class ShippingProvider(TikTokModel):
    id: Id
    name: str


class ShippingProviderList(TikTokModel):
    shipping_providers: list[ShippingProvider] = []

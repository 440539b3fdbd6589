"""Shipping seller-fulfilled packages ("Ship Package 202309", "Mark Package As Shipped 202309")."""

from __future__ import annotations

from typing import Literal

from .common import BatchResult, Id, Page, TikTokModel


class SelfShipment(TikTokModel):
    tracking_number: str
    shipping_provider_id: str


class PickupSlot(TikTokModel):
    start_time: int
    end_time: int


class ShipPackageRequest(TikTokModel):
    """`self_shipment` is required for SEND_BY_SELLER packages."""

    handover_method: Literal["PICKUP", "DROP_OFF"] | None = None
    pickup_slot: PickupSlot | None = None
    self_shipment: SelfShipment | None = None


class BatchShipItem(ShipPackageRequest):
    id: str


class BatchShipRequest(TikTokModel):
    packages: list[BatchShipItem]


class BatchShipResult(BatchResult):
    """Per-package errors: `detail.package_id`."""


class MarkShippedRequest(TikTokModel):
    tracking_number: str
    shipping_provider_id: str
    order_line_item_ids: list[str] | None = None


class ShipWarning(TikTokModel):
    message: str | None = None


class MarkShippedResult(TikTokModel):
    order_id: Id | None = None
    order_line_item_ids: list[Id] = []
    package_id: Id | None = None
    warning: ShipWarning | None = None


class UpdateShippingInfoRequest(TikTokModel):
    tracking_number: str
    shipping_provider_id: str


class PackageOrderSku(TikTokModel):
    id: Id
    quantity: int | None = None


class PackageOrder(TikTokModel):
    id: Id
    skus: list[PackageOrderSku] = []


class PackageDetail(TikTokModel):
    package_id: Id | None = None
    package_status: str | None = None
    tracking_number: str | None = None
    shipping_provider_id: Id | None = None
    shipping_provider_name: str | None = None
    orders: list[PackageOrder] = []


class TrackingEvent(TikTokModel):
    description: str | None = None
    update_time_millis: int | None = None


class OrderTracking(TikTokModel):
    tracking: list[TrackingEvent] = []


class SearchPackagesRequest(TikTokModel):
    create_time_ge: int | None = None
    create_time_lt: int | None = None
    update_time_ge: int | None = None
    update_time_lt: int | None = None
    package_status: str | None = None


class PackageSummary(TikTokModel):
    id: Id
    status: str | None = None
    orders: list[PackageOrder] = []


class PackagesPage(Page):
    packages: list[PackageSummary] = []

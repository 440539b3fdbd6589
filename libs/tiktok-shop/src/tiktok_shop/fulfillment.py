"""Fulfillment area: ship, mark shipped, fix tracking, package detail, tracking.

Ship package, batch ship and mark-as-shipped are NOT idempotent: a lost answer raises
`OutcomeUnknownError` and the caller must check the order/package before sending again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from . import operations as ops
from ._area import AreaApi
from .models.fulfillment import (
    BatchShipItem,
    BatchShipRequest,
    BatchShipResult,
    MarkShippedRequest,
    MarkShippedResult,
    OrderTracking,
    PackageDetail,
    PackagesPage,
    PackageSummary,
    SearchPackagesRequest,
    ShipPackageRequest,
    UpdateShippingInfoRequest,
)
from .pagination import iterate_items


class FulfillmentApi(AreaApi):
    async def ship_package(self, package_id: str, request: ShipPackageRequest) -> None:
        await self._caller.call(
            ops.SHIP_PACKAGE,
            self._shop,
            path_params={"package_id": package_id},
            body=request.to_body(),
        )

    async def batch_ship_packages(self, packages: Sequence[BatchShipItem]) -> BatchShipResult:
        body = BatchShipRequest(packages=list(packages)).to_body()
        data = await self._caller.call(ops.BATCH_SHIP_PACKAGES, self._shop, body=body)
        return self._parse(ops.BATCH_SHIP_PACKAGES, BatchShipResult, data)

    async def mark_package_as_shipped(
        self, order_id: str, request: MarkShippedRequest
    ) -> MarkShippedResult:
        """US/UK (and a few EU markets) only; elsewhere TikTok answers 21008106."""
        data = await self._caller.call(
            ops.MARK_PACKAGE_AS_SHIPPED,
            self._shop,
            path_params={"order_id": order_id},
            body=request.to_body(),
        )
        return self._parse(ops.MARK_PACKAGE_AS_SHIPPED, MarkShippedResult, data)

    async def update_shipping_info(
        self, order_id: str, tracking_number: str, shipping_provider_id: str
    ) -> None:
        """Fix tracking of an already-shipped, seller-shipped order (within 72 h of shipping)."""
        body = UpdateShippingInfoRequest(
            tracking_number=tracking_number, shipping_provider_id=shipping_provider_id
        ).to_body()
        await self._caller.call(
            ops.UPDATE_ORDER_SHIPPING_INFO,
            self._shop,
            path_params={"order_id": order_id},
            body=body,
        )

    async def get_package_detail(self, package_id: str) -> PackageDetail:
        data = await self._caller.call(
            ops.GET_PACKAGE_DETAIL, self._shop, path_params={"package_id": package_id}
        )
        return self._parse(ops.GET_PACKAGE_DETAIL, PackageDetail, data)

    async def get_order_tracking(self, order_id: str) -> OrderTracking:
        data = await self._caller.call(
            ops.GET_ORDER_TRACKING, self._shop, path_params={"order_id": order_id}
        )
        return self._parse(ops.GET_ORDER_TRACKING, OrderTracking, data)

    async def search_packages(
        self,
        filters: SearchPackagesRequest | None = None,
        *,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> PackagesPage:
        data = await self._caller.call(
            ops.SEARCH_PACKAGE,
            self._shop,
            query={"page_size": page_size, "page_token": page_token},
            body=(filters or SearchPackagesRequest()).to_body(),
        )
        return self._parse(ops.SEARCH_PACKAGE, PackagesPage, data)

    def iter_packages(
        self, filters: SearchPackagesRequest | None = None, *, page_size: int = 50
    ) -> AsyncIterator[PackageSummary]:
        async def fetch(token: str | None) -> PackagesPage:
            return await self.search_packages(filters, page_size=page_size, page_token=token)

        return iterate_items(fetch, lambda p: p.packages)

"""Ship calls gathered per shop: one "Batch Ship Packages 202309" call for up to 50 packages.

TikTok limits each operation per shop (the one public figure: 50 QPS per app per API, the
client's default limit), so one "Ship Package 202309" call per package caps a shop at ~50
shipments/s. Ship calls that become ready within `window` seconds of each other for one
connection go out together: a lone one as "Ship Package 202309" (`data: {}`), several as
"Batch Ship Packages 202309" (`data.errors[{code, message, detail.package_id}]` names the
refused ones; the others were shipped). A whole call that fails (lost answer, 5xx, …) fails
every package of it with the same error, so each is reconciled before it is sent again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from tiktok_shop.models.fulfillment import BatchShipItem, SelfShipment, ShipPackageRequest

from shipment_notifier.tiktok import TikTok

MAX_BATCH = 50  # "Batch Ship Packages 202309": at most 50 packages per call


class PackageRefused(Exception):
    """TikTok refused this package inside a batch (its item error)."""

    def __init__(self, code: int | str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


@dataclass
class _Item:
    package_id: str
    tracking_number: str
    provider_id: str
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class ShipBatcher:
    def __init__(self, tiktok: TikTok, window: float) -> None:
        self._tiktok, self._window = tiktok, window
        self._queues: dict[str, list[_Item]] = {}
        self._flushers: dict[str, asyncio.Task[None]] = {}

    async def ship(
        self, connection_id: str, package_id: str, tracking_number: str, provider_id: str
    ) -> None:
        """Ship one package (alone or in a batch); raises what TikTok answered for it."""
        item = _Item(package_id, tracking_number, provider_id)
        self._queues.setdefault(connection_id, []).append(item)
        if connection_id not in self._flushers:
            task = asyncio.create_task(self._flush(connection_id))
            self._flushers[connection_id] = task
        await item.done

    async def _flush(self, connection_id: str) -> None:
        try:
            while self._queues.get(connection_id):
                await asyncio.sleep(self._window)  # let the packages ready now gather
                queue = self._queues[connection_id]
                batch, self._queues[connection_id] = queue[:MAX_BATCH], queue[MAX_BATCH:]
                await self._send(connection_id, batch)
        finally:
            # No await between the empty queue above and here: a new item cannot slip in.
            self._flushers.pop(connection_id, None)
            if not self._queues.get(connection_id):
                self._queues.pop(connection_id, None)

    async def _send(self, connection_id: str, batch: list[_Item]) -> None:
        fulfillment = self._tiktok.shop(connection_id).fulfillment
        try:
            if len(batch) == 1:
                only = batch[0]
                await fulfillment.ship_package(
                    only.package_id,
                    ShipPackageRequest(
                        self_shipment=SelfShipment(
                            tracking_number=only.tracking_number,
                            shipping_provider_id=only.provider_id,
                        )
                    ),
                )
                refused: dict[str, PackageRefused] = {}
            else:
                result = await fulfillment.batch_ship_packages(
                    [
                        BatchShipItem(
                            id=i.package_id,
                            self_shipment=SelfShipment(
                                tracking_number=i.tracking_number,
                                shipping_provider_id=i.provider_id,
                            ),
                        )
                        for i in batch
                    ]
                )
                refused = {
                    str(e.detail.get("package_id")): PackageRefused(e.code, e.message)
                    for e in result.errors
                }
        except BaseException as exc:
            for i in batch:
                if not i.done.done():
                    i.done.set_exception(exc)
                    i.done.exception()  # retrieved: a cancelled waiter must not log it
            if not isinstance(exc, Exception):
                raise
            return
        for i in batch:
            if i.done.done():
                continue
            problem = refused.get(i.package_id)
            if problem is None:
                i.done.set_result(None)
            else:
                i.done.set_exception(problem)
                i.done.exception()

"""The carrier side of the order flow, driven by admin endpoints: collect, deliver, complete.

TikTok-fulfilled orders have no seller shipment: `collect` on an AWAITING_SHIPMENT
FULFILLMENT_BY_TIKTOK order ships it from TikTok's side (TT Virtual express tracking).
"""

from __future__ import annotations

from .errors import ApiError
from .logistics_seed import TIKTOK_PROVIDER
from .order_build import ADMIN_CONFLICT
from .orders import OrderRecord
from .package_ops import PackageOps
from .snowflake import new_id


class Carrier(PackageOps):
    def collect(self, order_id: str) -> OrderRecord:
        with self.state.lock:
            now = self._refresh()
            rec = self.store.admin_get(order_id)
            doc = rec.doc
            tiktok_ships = doc["fulfillment_type"] == "FULFILLMENT_BY_TIKTOK"
            if tiktok_ships and doc["status"] == "AWAITING_SHIPMENT":
                for pid in rec.package_ids:
                    pkg = self.store.packages[pid]
                    self._set_tracking(rec, pkg, f"TT{new_id()}", TIKTOK_PROVIDER, now)
                    pkg.update(package_status="PROCESSING", shipped_time=now, self_shipped=False)
                doc["rts_time"] = now
            elif doc["status"] != "AWAITING_COLLECTION":
                raise ApiError(
                    ADMIN_CONFLICT,
                    "only AWAITING_COLLECTION orders (all packages shipped) can be collected; "
                    f"the order is {doc['status']}",
                    409,
                )
            self._move_packages(
                rec, "PROCESSING", "FULFILLING", now, "Package picked up by the carrier"
            )
            self.store.set_status(rec, "IN_TRANSIT", now, collection_time=now)
            return rec

    def deliver(self, order_id: str) -> OrderRecord:
        with self.state.lock:
            now = self._refresh()
            rec = self.store.admin_get(order_id)
            _require(rec, "IN_TRANSIT", "delivered")
            self._move_packages(rec, "FULFILLING", "COMPLETED", now, "Package delivered")
            self.store.set_status(rec, "DELIVERED", now, delivery_time=now)
            return rec

    def complete(self, order_id: str) -> OrderRecord:
        with self.state.lock:
            now = self._refresh()
            rec = self.store.admin_get(order_id)
            _require(rec, "DELIVERED", "completed")
            self.store.set_status(rec, "COMPLETED", now)
            return rec


def _require(rec: OrderRecord, status: str, verb: str) -> None:
    if rec.doc["status"] != status:
        raise ApiError(
            ADMIN_CONFLICT,
            f"only {status} orders can be {verb}; the order is {rec.doc['status']}",
            409,
        )

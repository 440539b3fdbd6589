"""Shared package plumbing for fulfillment.py, package_reads.py and carrier.py.

`PackageOps` gives shop-scoped lookups (with the business errors a seller sees) and
the mutations that keep a package, its line items and the order-level tracking
fields in step. Callers hold `state.lock`.
"""

from __future__ import annotations

from typing import Any

from .errors import ApiError
from .orders import OrderRecord, OrderStore

# [inferred] codes (no public source), documented in docs/sandbox-orders.md.
ORDER_NOT_FOUND = 21011001
PACKAGE_NOT_FOUND = 21011002


def tracking_event(now: int, description: str) -> dict[str, Any]:
    return {"description": description, "update_time_millis": now * 1000}


def package_items(rec: OrderRecord, pkg: dict[str, Any]) -> list[dict[str, Any]]:
    """The order's line items that travel in `pkg`, in the order's line item order."""
    members = set(pkg["line_item_ids"])
    return [item for item in rec.doc["line_items"] if item["id"] in members]


class PackageOps:
    def __init__(self, store: OrderStore) -> None:
        self.store = store
        self.state = store.state

    # ---- lookups -----------------------------------------------------------------------
    def _order(self, shop_id: str, order_id: str) -> OrderRecord:
        rec = self.store.get_for_shop(shop_id, order_id)
        if rec is None:
            raise ApiError(ORDER_NOT_FOUND, f"The order {order_id} does not exist in this shop.")
        return rec

    def _package(self, shop_id: str, package_id: str) -> dict[str, Any]:
        pkg = self.store.packages.get(package_id)
        if pkg is None or pkg["shop_id"] != shop_id:
            raise ApiError(
                PACKAGE_NOT_FOUND, f"The package {package_id} does not exist in this shop."
            )
        return pkg

    def _refresh(self) -> int:
        """Apply due clock transitions first, so every operation sees the current status."""
        now = self.store.now()
        self.store.advance(float(now))
        return now

    # ---- mutations -----------------------------------------------------------------------
    def _move_packages(self, rec: OrderRecord, src: str, dst: str, now: int, text: str) -> None:
        """Move every package of the order in status `src` to `dst` (carrier progress)."""
        for pid in rec.package_ids:
            pkg = self.store.packages[pid]
            if pkg["package_status"] == src:
                pkg["package_status"] = dst
                pkg["update_time"] = now
                pkg["tracking"].append(tracking_event(now, text))
        members = {
            li: self.store.packages[p]["package_status"]
            for p in rec.package_ids
            for li in self.store.packages[p]["line_item_ids"]
        }
        for item in rec.doc["line_items"]:
            item["package_status"] = members.get(item["id"], item["package_status"])

    def _set_tracking(
        self,
        rec: OrderRecord,
        pkg: dict[str, Any],
        tracking: str,
        provider: dict[str, str],
        now: int,
    ) -> None:
        pkg.update(
            tracking_number=tracking,
            shipping_provider_id=provider["id"],
            shipping_provider_name=provider["name"],
            update_time=now,
        )
        for item in package_items(rec, pkg):
            item["tracking_number"] = tracking
            item["shipping_provider_id"] = provider["id"]
            item["shipping_provider_name"] = provider["name"]
        # The order-level fields show the latest shipment (one package in the common case).
        rec.doc.update(
            tracking_number=tracking,
            shipping_provider=provider["name"],
            shipping_provider_id=provider["id"],
        )

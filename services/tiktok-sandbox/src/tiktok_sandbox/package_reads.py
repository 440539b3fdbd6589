"""Seller reads of packages: package detail, package search, order tracking
("Get Package Detail 202309", "Search Package 202309", "Get Tracking 202309")."""

from __future__ import annotations

from typing import Any

from .order_query import Paging, paginate
from .package_ops import PackageOps, package_items


class PackageReads(PackageOps):
    def package_detail(self, shop_id: str, package_id: str) -> dict[str, Any]:
        with self.state.lock:
            self._refresh()
            pkg = self._package(shop_id, package_id)
            rec = self.store.orders[pkg["order_id"]]
            skus: dict[str, dict[str, Any]] = {}
            for li in package_items(rec, pkg):
                sku = skus.setdefault(
                    li["sku_id"],
                    {
                        "id": li["sku_id"],
                        "name": li["sku_name"],
                        "image_url": li["sku_image"],
                        "quantity": 0,
                    },
                )
                sku["quantity"] += 1  # repeated line items are the quantity
            return {
                "package_id": pkg["id"],
                "package_status": pkg["package_status"],
                "order_line_item_ids": list(pkg["line_item_ids"]),
                "orders": [{"id": rec.doc["id"], "skus": list(skus.values())}],
                "tracking_number": pkg["tracking_number"],
                "shipping_provider_id": pkg["shipping_provider_id"],
                "shipping_provider_name": pkg["shipping_provider_name"],
                "shipping_type": rec.doc["shipping_type"],
                "handover_method": pkg["handover_method"],
                "delivery_option_id": rec.doc["delivery_option_id"],
                "delivery_option_name": rec.doc["delivery_option_name"],
                "split_and_combine_tag": rec.doc["split_or_combine_tag"],
                "has_multi_skus": len(skus) > 1,
                "create_time": pkg["create_time"],
                "update_time": pkg["update_time"],
            }

    def order_tracking(self, shop_id: str, order_id: str) -> dict[str, Any]:
        with self.state.lock:
            self._refresh()
            rec = self._order(shop_id, order_id)
            events = [e for p in rec.package_ids for e in self.store.packages[p]["tracking"]]
            # Newest first; reversing before the stable sort keeps same-second events newest first.
            events = sorted(events[::-1], key=lambda e: e["update_time_millis"], reverse=True)
            return {"tracking": events}

    def search_packages(
        self, shop_id: str, filters: dict[str, Any], paging: Paging
    ) -> dict[str, Any]:
        with self.state.lock:
            self._refresh()
            status = filters.get("package_status")
            found = [
                p
                for p in self.store.packages.values()
                if p["shop_id"] == shop_id
                and (not status or p["package_status"] == status)
                and _in_range(p, "create_time", filters)
                and _in_range(p, "update_time", filters)
            ]
            page, token = paginate(found, paging)
            return {
                "next_page_token": token,
                "total_count": len(found),
                "packages": [
                    {
                        "id": p["id"],
                        "status": p["package_status"],
                        "orders": [{"id": p["order_id"]}],
                        "order_line_item_ids": list(p["line_item_ids"]),
                        "tracking_number": p["tracking_number"],
                        "shipping_provider_id": p["shipping_provider_id"],
                        "shipping_provider_name": p["shipping_provider_name"],
                        "create_time": p["create_time"],
                        "update_time": p["update_time"],
                    }
                    for p in page
                ],
            }


def _in_range(obj: dict[str, Any], name: str, filters: dict[str, Any]) -> bool:
    ge, lt = filters.get(f"{name}_ge"), filters.get(f"{name}_lt")
    return (ge is None or obj[name] >= ge) and (lt is None or obj[name] < lt)

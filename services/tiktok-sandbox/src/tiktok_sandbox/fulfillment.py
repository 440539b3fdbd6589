"""Fulfilment of seller-shipped orders and the carrier side of the flow (docs/sandbox-orders.md).

Seller writes: Ship Package (self_shipment), batch ship, Mark Package As Shipped and
update shipping info (72 h window). Reads are in package_reads.py, the carrier side
(admin: collect, deliver, complete) in carrier.py.

No public source gives the codes for shipping too early, a TikTok-fulfilled order,
an unknown provider etc., so the 2101100x codes below are [inferred] (documented in
docs/sandbox-orders.md). Missing body params reuse the documented
`36009004 "param body.<name> is missing"` pattern.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import ApiError
from .logistics_seed import TIKTOK_PROVIDER, market
from .orders import OrderRecord, refresh_display
from .package_ops import PackageOps, package_items, tracking_event
from .snowflake import new_id

ORDER_UNPAID = 21011003
ORDER_ON_HOLD = 21011004
ORDER_CANCELLED = 21011005
TIKTOK_FULFILLED = 21011006
ALREADY_SHIPPED = 21011007
INVALID_PROVIDER = 21011008
NOT_SHIPPED = 21011009
UPDATE_WINDOW_PASSED = 21011010
NOT_SELF_SHIPPED = 21011011
INVALID_LINE_ITEMS = 21011012
INVALID_TRACKING = 21011013
# Documented: Mark Package As Shipped is US/UK/ES/IE/IT/DE/FR/JP only; the code and message are
# quoted in github.com/EcomPHP/tiktokshop-php/issues/26.
REGION_NOT_SUPPORTED = 21008106
PARAM_ERROR = 36009004

UPDATE_WINDOW_SECONDS = 72 * 3600
MARK_AS_SHIPPED_REGIONS = frozenset({"US", "GB", "UK", "ES", "IE", "IT", "DE", "FR", "JP"})
HANDOVER_METHODS = ("PICKUP", "DROP_OFF")
MAX_BATCH = 50
_TRACKING_RE = re.compile(r"^[A-Za-z0-9-]{4,64}$")


def missing(name: str) -> ApiError:
    return ApiError(PARAM_ERROR, f"param body.{name} is missing")


class Fulfillment(PackageOps):
    """The seller's fulfilment writes over the packages held by the `OrderStore`."""

    # ---- checks ------------------------------------------------------------------------
    @staticmethod
    def check_shippable(rec: OrderRecord) -> None:
        """Why this order may not be shipped by the seller now, as a business error."""
        doc = rec.doc
        status = doc["status"]
        if doc["fulfillment_type"] == "FULFILLMENT_BY_TIKTOK":
            raise ApiError(
                TIKTOK_FULFILLED,
                "The order is fulfilled by TikTok (FULFILLMENT_BY_TIKTOK); the seller cannot ship it.",
            )
        if status == "CANCELLED":
            raise ApiError(ORDER_CANCELLED, "The order has been cancelled and cannot be shipped.")
        if status == "UNPAID":
            raise ApiError(
                ORDER_UNPAID, "The order is UNPAID and cannot be shipped before payment."
            )
        if status == "ON_HOLD":
            # The docs' own wording (LY, OAS); the hold lasts one hour after payment.
            raise ApiError(ORDER_ON_HOLD, "Not allow seller fulfill order under ON_HOLD status")
        if status not in ("AWAITING_SHIPMENT", "PARTIALLY_SHIPPING"):
            raise ApiError(ALREADY_SHIPPED, f"The order is {status}; it has already been shipped.")

    def _self_shipment(self, rec: OrderRecord, raw: Any) -> tuple[str, dict[str, str]]:
        if not isinstance(raw, dict):
            raise missing("self_shipment")
        return self._tracking_and_provider(rec, raw, prefix="self_shipment.")

    def _tracking_and_provider(
        self, rec: OrderRecord, body: dict[str, Any], prefix: str = ""
    ) -> tuple[str, dict[str, str]]:
        tracking = body.get("tracking_number")
        if not tracking:
            raise missing(f"{prefix}tracking_number")
        provider_id = body.get("shipping_provider_id")
        if not provider_id:
            raise missing(f"{prefix}shipping_provider_id")
        if not isinstance(tracking, str) or not _TRACKING_RE.match(tracking):
            raise ApiError(
                INVALID_TRACKING,
                "The tracking number is invalid: use 4-64 letters, digits or hyphens.",
            )
        logistics = market(self.state.shop(rec.shop_id)["region"])
        option_id = rec.doc["delivery_option_id"]
        provider = logistics.provider(str(provider_id))
        if provider is None or not logistics.provider_allowed(option_id, str(provider_id)):
            raise ApiError(
                INVALID_PROVIDER,
                f"The shipping provider {provider_id} is not available for the order's "
                f"delivery option {option_id}; list them with "
                f"GET /logistics/202309/delivery_options/{option_id}/shipping_providers.",
            )
        return tracking, provider

    # ---- seller operations -------------------------------------------------------------
    def ship_package(self, shop_id: str, package_id: str, body: dict[str, Any]) -> None:
        with self.state.lock:
            now = self._refresh()
            pkg = self._package(shop_id, package_id)
            rec = self.store.orders[pkg["order_id"]]
            self.check_shippable(rec)
            if pkg["package_status"] != "TO_FULFILL":
                raise ApiError(ALREADY_SHIPPED, "The package has already been shipped.")
            handover = body.get("handover_method") or "PICKUP"
            if handover not in HANDOVER_METHODS:
                raise ApiError(PARAM_ERROR, "param body.handover_method is invalid")
            if rec.doc["shipping_type"] == "SELLER":
                tracking, provider = self._self_shipment(rec, body.get("self_shipment"))
                self._mark_shipped(rec, pkg, tracking, provider, handover, now, self_shipped=True)
            else:
                # TikTok shipping label: TikTok assigns the carrier and the tracking number.
                tracking = f"TT{new_id()}"
                self._mark_shipped(
                    rec, pkg, tracking, TIKTOK_PROVIDER, handover, now, self_shipped=False
                )

    def batch_ship(self, shop_id: str, body: dict[str, Any]) -> dict[str, Any]:
        packages = body.get("packages")
        if not isinstance(packages, list) or not packages:
            raise missing("packages")
        if len(packages) > MAX_BATCH:
            raise ApiError(PARAM_ERROR, f"param body.packages exceeds the limit of {MAX_BATCH}")
        errors: list[dict[str, Any]] = []
        for item in packages:
            package_id = str(item.get("id", "")) if isinstance(item, dict) else ""
            try:
                if not package_id:
                    raise missing("packages.id")
                self.ship_package(shop_id, package_id, item)
            except ApiError as err:
                errors.append(
                    {"code": err.code, "message": err.message, "detail": {"package_id": package_id}}
                )
        return {"errors": errors}

    def mark_as_shipped(self, shop_id: str, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            now = self._refresh()
            region = str(self.state.shop(shop_id)["region"])
            if region not in MARK_AS_SHIPPED_REGIONS:
                raise ApiError(
                    REGION_NOT_SUPPORTED,
                    "This interface cannot be used in this region or this business type. "
                    "Please don't use the api.",
                )
            rec = self._order(shop_id, order_id)
            self.check_shippable(rec)
            if rec.doc["shipping_type"] != "SELLER":
                raise ApiError(
                    NOT_SELF_SHIPPED,
                    "The order ships with TikTok shipping (shipping_type TIKTOK); use Ship Package.",
                )
            tracking, provider = self._tracking_and_provider(rec, body)
            # At most one TO_FULFILL package exists: splits only ever carve out shipped items.
            source = next(
                (
                    self.store.packages[p]
                    for p in rec.package_ids
                    if self.store.packages[p]["package_status"] == "TO_FULFILL"
                ),
                None,
            )
            if source is None:
                raise ApiError(ALREADY_SHIPPED, "Every line item of the order has been shipped.")
            ids = body.get("order_line_item_ids") or list(source["line_item_ids"])
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise ApiError(PARAM_ERROR, "param body.order_line_item_ids is invalid")
            unknown = [i for i in ids if i not in source["line_item_ids"]]
            if unknown:
                raise ApiError(
                    INVALID_LINE_ITEMS,
                    f"order_line_item_ids {unknown} are not unshipped line items of order {order_id}.",
                )
            pkg = source
            if set(ids) != set(source["line_item_ids"]):
                pkg = self.store.split_package(rec, source, list(dict.fromkeys(ids)), now)
            self._mark_shipped(rec, pkg, tracking, provider, "DROP_OFF", now, self_shipped=True)
            return {
                "order_id": order_id,
                "order_line_item_ids": list(pkg["line_item_ids"]),
                "package_id": pkg["id"],
            }

    def update_shipping_info(
        self,
        shop_id: str,
        body: dict[str, Any],
        order_id: str | None = None,
        package_id: str | None = None,
    ) -> None:
        with self.state.lock:
            now = self._refresh()
            if package_id is not None:
                pkg = self._package(shop_id, package_id)
                rec = self.store.orders[pkg["order_id"]]
                targets = [pkg]
            else:
                rec = self._order(shop_id, str(order_id))
                targets = [
                    self.store.packages[p]
                    for p in rec.package_ids
                    if self.store.packages[p]["package_status"] not in ("TO_FULFILL", "CANCELLED")
                ]
            tracking, provider = self._tracking_and_provider(rec, body)
            if not targets or any(
                p["package_status"] in ("TO_FULFILL", "CANCELLED") for p in targets
            ):
                raise ApiError(NOT_SHIPPED, "The package has not been shipped; ship it first.")
            for pkg in targets:
                if not pkg["self_shipped"]:
                    raise ApiError(
                        NOT_SELF_SHIPPED,
                        "Only packages shipped by the seller (self_shipment) can be updated.",
                    )
                if (
                    pkg["package_status"] == "COMPLETED"
                    or now - pkg["shipped_time"] > UPDATE_WINDOW_SECONDS
                ):
                    raise ApiError(
                        UPDATE_WINDOW_PASSED,
                        "Shipping info can only be updated within 72 hours of shipping "
                        "and before delivery.",
                    )
            for pkg in targets:
                self._set_tracking(rec, pkg, tracking, provider, now)
                pkg["tracking"].append(
                    tracking_event(now, "Shipping information updated by the seller")
                )
            self.store.touch(rec, now)

    # ---- internals ---------------------------------------------------------------------
    def _mark_shipped(
        self,
        rec: OrderRecord,
        pkg: dict[str, Any],
        tracking: str,
        provider: dict[str, str],
        handover: str,
        now: int,
        self_shipped: bool,
    ) -> None:
        self._set_tracking(rec, pkg, tracking, provider, now)
        pkg.update(
            package_status="PROCESSING",
            handover_method=handover,
            shipped_time=now,
            self_shipped=self_shipped,
        )
        pkg["tracking"].append(
            tracking_event(now, f"Shipment information received by {provider['name']}")
        )
        for item in package_items(rec, pkg):
            item["package_status"] = "PROCESSING"
        rec.doc.setdefault("rts_time", now)
        open_items = [li for li in rec.doc["line_items"] if li["package_status"] == "TO_FULFILL"]
        target = "PARTIALLY_SHIPPING" if open_items else "AWAITING_COLLECTION"
        if rec.doc["status"] == target:
            self.store.touch(rec, now)
            refresh_display(rec.doc)
        else:
            self.store.set_status(rec, target, now)

"""Orders: the store and the status state machine.

CONTRACT (used by other sandbox modules; keep these signatures):
- `OrderStore(state)`: created once by `SandboxState`.
- `count_by_shop() -> dict[str, int]`: for `/sandbox/v1/stats`.
- `advance(now: float) -> None`: apply time-driven transitions (ON_HOLD ends after
  3600 s on the sandbox clock, ...). Called by the clock endpoint and lazily by reads.

Every status change goes through `set_status`, which checks the transition table,
stamps `update_time` and emits an ORDER_STATUS_CHANGE webhook, so no path can skip
the machine or forget the notification. Packages (fulfillment.py acts on them) are
stored here too, because an order and its packages change together under one lock.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError
from .order_build import ADMIN_CONFLICT, ADMIN_NOT_FOUND, build_order, resolve_lines
from .order_query import Paging, paginate
from .snowflake import new_id

HOLD_SECONDS = 3600

# Order status -> statuses it may move to (TikTok's order flow, docs/sandbox-orders.md;
# CANCELLED only before shipping).
TRANSITIONS: dict[str, frozenset[str]] = {
    "UNPAID": frozenset({"ON_HOLD", "CANCELLED"}),
    "ON_HOLD": frozenset({"AWAITING_SHIPMENT", "CANCELLED"}),
    "AWAITING_SHIPMENT": frozenset(
        {"AWAITING_COLLECTION", "PARTIALLY_SHIPPING", "IN_TRANSIT", "CANCELLED"}
    ),
    "PARTIALLY_SHIPPING": frozenset({"AWAITING_COLLECTION"}),
    "AWAITING_COLLECTION": frozenset({"IN_TRANSIT"}),
    "IN_TRANSIT": frozenset({"DELIVERED"}),
    "DELIVERED": frozenset({"COMPLETED"}),
    "COMPLETED": frozenset(),
    "CANCELLED": frozenset(),
}
STATUSES = tuple(TRANSITIONS)
# The address and buyer details are withheld during these statuses ("Get Order Detail 202309").
ADDRESS_WITHHELD = frozenset({"UNPAID", "ON_HOLD"})
CANCELLATION_INITIATORS = ("BUYER", "SELLER", "SYSTEM")


class InvalidTransition(ValueError):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"order status {current} cannot move to {target}")
        self.current = current
        self.target = target


def check_transition(current: str, target: str) -> None:
    """Raise `InvalidTransition` unless the machine allows `current -> target`."""
    if target not in TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(current, target)


@dataclass
class OrderRecord:
    shop_id: str
    doc: dict[str, Any]
    package_ids: list[str] = field(default_factory=list)


class OrderStore:
    def __init__(self, state: Any) -> None:
        self.state = state
        self.orders: dict[str, OrderRecord] = {}
        self.packages: dict[str, dict[str, Any]] = {}
        self._on_hold: set[str] = set()  # order ids whose hold end advance() must watch

    # ---- contract -------------------------------------------------------------------
    def count_by_shop(self) -> dict[str, int]:
        with self.state.lock:
            counts: dict[str, int] = {}
            for rec in self.orders.values():
                counts[rec.shop_id] = counts.get(rec.shop_id, 0) + 1
            return counts

    def advance(self, now: float) -> None:
        """End every hold whose hour has passed on the sandbox clock."""
        if not self._on_hold:  # cheap fast path: reads call this on every request
            return
        with self.state.lock:
            for order_id in list(self._on_hold):
                rec = self.orders[order_id]
                if rec.doc["status"] != "ON_HOLD":
                    self._on_hold.discard(order_id)
                elif rec.doc["paid_time"] + HOLD_SECONDS <= now:
                    self._on_hold.discard(order_id)
                    self.set_status(rec, "AWAITING_SHIPMENT", int(now), is_on_hold_order=False)

    # ---- the machine -------------------------------------------------------------------
    def now(self) -> int:
        return int(self.state.clock.now_int())

    def set_status(self, rec: OrderRecord, target: str, now: int, **fields: Any) -> None:
        """The only way an order changes status: checked, stamped, and notified."""
        doc = rec.doc
        check_transition(doc["status"], target)
        doc["status"] = target
        doc["update_time"] = now
        doc.update(fields)
        refresh_display(doc)
        self.emit_status(rec)

    def emit_status(self, rec: OrderRecord) -> None:
        doc = rec.doc
        self.state.webhooks.emit(
            rec.shop_id,
            "ORDER_STATUS_CHANGE",
            {
                "is_on_hold_order": doc["is_on_hold_order"],
                "order_id": doc["id"],
                "order_status": doc["status"],
                "update_time": doc["update_time"],
            },
        )

    def touch(self, rec: OrderRecord, now: int) -> None:
        """Record a change that is not a status change (tracking fix, split, ...)."""
        rec.doc["update_time"] = max(rec.doc["update_time"], now)

    # ---- admin operations --------------------------------------------------------------
    def place(self, shop: dict[str, Any], body: dict[str, Any]) -> OrderRecord:
        """Create an order (UNPAID, or ON_HOLD when `paid` is true, the default)."""
        lines = resolve_lines(self.state.products, shop["id"], body.get("line_items"))
        with self.state.lock:
            now = self.now()
            doc = build_order(shop, body, lines, now)
            rec = OrderRecord(shop["id"], doc)
            self._new_package(rec, [li["id"] for li in doc["line_items"]], now)
            self.orders[doc["id"]] = rec
            if body.get("paid", True):
                self._pay(rec, now)  # a paid order is born ON_HOLD: one webhook, no UNPAID
            else:
                self.emit_status(rec)
            return rec

    def pay(self, order_id: str) -> OrderRecord:
        with self.state.lock:
            rec = self.admin_get(order_id)
            self._admin_transition(rec, "ON_HOLD")
            self._pay(rec, self.now())
            return rec

    def _pay(self, rec: OrderRecord, now: int) -> None:
        due = now + HOLD_SECONDS
        self.set_status(
            rec,
            "ON_HOLD",
            now,
            paid_time=now,
            rts_sla_time=due + 2 * 86400,
            shipping_due_time=due + 3 * 86400,
            delivery_due_time=due + 10 * 86400,
            cancel_order_sla_time=due,
        )
        self._on_hold.add(rec.doc["id"])

    def cancel(self, order_id: str, body: dict[str, Any]) -> OrderRecord:
        initiator = str(body.get("cancellation_initiator", "BUYER")).upper()
        if initiator not in CANCELLATION_INITIATORS:
            raise ApiError(40000, "cancellation_initiator must be BUYER, SELLER or SYSTEM", 400)
        reason = str(body.get("cancel_reason", "No longer needed"))
        with self.state.lock:
            self.advance(float(self.now()))
            rec = self.admin_get(order_id)
            if initiator == "BUYER" and rec.doc["status"] not in ADDRESS_WITHHELD:
                # Buyers cancel freely only until the hold ends; afterwards they request it.
                raise ApiError(
                    ADMIN_CONFLICT,
                    f"a buyer can cancel only during UNPAID/ON_HOLD; the order is "
                    f"{rec.doc['status']} (use request_cancel, or initiator SELLER)",
                    409,
                )
            self._admin_transition(rec, "CANCELLED")
            now = self.now()
            self.set_status(
                rec,
                "CANCELLED",
                now,
                cancel_time=now,
                cancel_reason=reason,
                cancellation_initiator=initiator,
            )
            for item in rec.doc["line_items"]:
                item["package_status"] = "CANCELLED"
                item["display_status"] = "CANCELLED"
            for pid in rec.package_ids:
                self.packages[pid]["package_status"] = "CANCELLED"
                self.packages[pid]["update_time"] = now
            self._on_hold.discard(order_id)
            return rec

    def request_cancel(self, order_id: str) -> OrderRecord:
        """The buyer asks to cancel after the hold: only the flag changes."""
        with self.state.lock:
            rec = self.admin_get(order_id)
            if rec.doc["status"] in ("CANCELLED", "COMPLETED", "DELIVERED"):
                raise ApiError(ADMIN_CONFLICT, f"order is {rec.doc['status']}", 409)
            rec.doc["is_buyer_request_cancel"] = True
            self.touch(rec, self.now())
            return rec

    def admin_get(self, order_id: str) -> OrderRecord:
        rec = self.orders.get(order_id)
        if rec is None:
            raise ApiError(ADMIN_NOT_FOUND, f"order {order_id} not found", 404)
        return rec

    def _admin_transition(self, rec: OrderRecord, target: str) -> None:
        try:
            check_transition(rec.doc["status"], target)
        except InvalidTransition as exc:
            raise ApiError(ADMIN_CONFLICT, str(exc), 409) from None

    # ---- packages ------------------------------------------------------------------------
    def _new_package(self, rec: OrderRecord, line_item_ids: list[str], now: int) -> dict[str, Any]:
        package = {
            "id": new_id(),
            "shop_id": rec.shop_id,
            "order_id": rec.doc["id"],
            "line_item_ids": list(line_item_ids),
            "package_status": "TO_FULFILL",
            "tracking_number": "",
            "shipping_provider_id": "",
            "shipping_provider_name": "",
            "handover_method": "",
            "shipped_time": None,
            "self_shipped": False,
            "create_time": now,
            "update_time": now,
            "tracking": [],
        }
        self.packages[package["id"]] = package
        rec.package_ids.append(package["id"])
        rec.doc["packages"].append({"id": package["id"]})
        wanted = set(line_item_ids)
        for item in rec.doc["line_items"]:
            if item["id"] in wanted:
                item["package_id"] = package["id"]
        return package

    def split_package(
        self, rec: OrderRecord, source: dict[str, Any], ids: list[str], now: int
    ) -> dict[str, Any]:
        """Move `ids` out of `source` into a new package (Mark As Shipped of a subset)."""
        remaining = [i for i in source["line_item_ids"] if i not in set(ids)]
        source["line_item_ids"] = remaining
        source["update_time"] = now
        rec.doc["split_or_combine_tag"] = "SPLIT"
        package = self._new_package(rec, ids, now)
        self.touch(rec, now)
        self.state.webhooks.emit(
            rec.shop_id,
            "PACKAGE_UPDATE",
            {
                "sc_type": "SPLIT",
                "role_type": "SELLER",
                "package_list": [
                    {"package_id": pid, "order_id_list": [rec.doc["id"]]}
                    for pid in (source["id"], package["id"])
                ],
                "update_time": now,
            },
        )
        return package

    # ---- reads ---------------------------------------------------------------------------
    def get_for_shop(self, shop_id: str, order_id: str) -> OrderRecord | None:
        rec = self.orders.get(order_id)
        return rec if rec is not None and rec.shop_id == shop_id else None

    def render(self, rec: OrderRecord) -> dict[str, Any]:
        """The API view of an order: a copy, without the address while it is withheld."""
        doc = copy.deepcopy(rec.doc)
        if doc["status"] in ADDRESS_WITHHELD:
            doc.pop("recipient_address", None)
        return doc

    def detail(self, shop_id: str, ids: list[str]) -> list[dict[str, Any]]:
        self.advance(float(self.now()))
        with self.state.lock:
            found = (self.get_for_shop(shop_id, i) for i in ids)
            return [self.render(rec) for rec in found if rec is not None]

    def search(self, shop_id: str, filters: dict[str, Any], paging: Paging) -> dict[str, Any]:
        """Cursor paging over the shop's orders; the cursor is the last (sort value, id)."""
        self.advance(float(self.now()))
        with self.state.lock:
            matches = [
                rec.doc
                for rec in self.orders.values()
                if rec.shop_id == shop_id and _matches(rec.doc, filters)
            ]
            page, token = paginate(matches, paging)
            return {
                "next_page_token": token,
                "total_count": len(matches),
                "orders": [self.render(self.orders[d["id"]]) for d in page],
            }


# Line item package_status -> display_status once its package moved on [inferred].
_DISPLAY_BY_PACKAGE = {
    "PROCESSING": "AWAITING_COLLECTION",
    "FULFILLING": "IN_TRANSIT",
    "COMPLETED": "DELIVERED",
    "CANCELLED": "CANCELLED",
}


def refresh_display(doc: dict[str, Any]) -> None:
    """Derive each line item's display_status from its package and the order status."""
    for item in doc["line_items"]:
        shown = _DISPLAY_BY_PACKAGE.get(item["package_status"])
        if shown is None:  # TO_FULFILL: follows the order until shipped
            shown = doc["status"] if doc["status"] in ADDRESS_WITHHELD else "AWAITING_SHIPMENT"
        elif shown == "DELIVERED" and doc["status"] == "COMPLETED":
            shown = "COMPLETED"
        item["display_status"] = shown


def _matches(doc: dict[str, Any], f: dict[str, Any]) -> bool:
    if f.get("order_status") and doc["status"] != f["order_status"]:
        return False
    for name, op in (("create_time", "create_time"), ("update_time", "update_time")):
        ge, lt = f.get(f"{name}_ge"), f.get(f"{name}_lt")
        if ge is not None and doc[op] < ge:
            return False
        if lt is not None and doc[op] >= lt:
            return False
    if f.get("shipping_type") and doc["shipping_type"] != f["shipping_type"]:
        return False
    if f.get("buyer_user_id") and doc["user_id"] != f["buyer_user_id"]:
        return False
    flag = f.get("is_buyer_request_cancel")
    return flag is None or doc["is_buyer_request_cancel"] == flag

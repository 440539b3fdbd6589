"""The checks a shipment passes before any TikTok call (docs/shipments.md, "Checks").

Pure: the order as known, the shipment's line items, the clock. The carrier check needs the
delivery option's providers and lives in the sender; the hold is reported, not decided here
(a shipment that fails a check is rejected at once rather than held for an hour first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shipment_notifier.models import KnownOrder
from shipment_notifier.orders import CANCELLED, SELLER, hold_ends, line_item_ids, package_ids


@dataclass(frozen=True)
class Verdict:
    code: str | None = None  # set: rejected with `reason`
    reason: str = ""
    hold_until: datetime | None = None  # set: the order is still in its cancellation hold

    @property
    def rejected(self) -> bool:
        return self.code is not None


def check(order: KnownOrder, wanted_items: Sequence[str] | None) -> Verdict:
    oid = order.order_id
    if order.status == CANCELLED:
        return Verdict("cancelled", f"order {oid} is cancelled; nothing is sent to TikTok")
    shipping_type = order.data.get("shipping_type")
    if order.fulfillment_type != SELLER or shipping_type == "TIKTOK":
        return Verdict(
            "tiktok_fulfilled",
            f"order {oid} is {order.fulfillment_type or 'not seller-fulfilled'}"
            f"{' with TikTok shipping' if shipping_type == 'TIKTOK' else ''}: TikTok ships it, "
            "only self-shipped orders take tracking numbers",
        )
    packages = package_ids(order)
    tag = order.data.get("split_or_combine_tag")
    if tag or len(packages) != 1:
        return Verdict(
            "split_or_combined",
            f"order {oid} is in {len(packages)} packages{f' ({tag})' if tag else ''}: only an "
            "order shipped whole in one package is supported (no split, no combine)",
        )
    if wanted_items is not None:
        items = set(line_item_ids(order))
        given = set(wanted_items)
        unknown = sorted(given - items)
        missing = sorted(items - given)
        if unknown or missing:
            parts = []
            if missing:
                parts.append(f"leaves out line items {', '.join(missing)}")
            if unknown:
                parts.append(f"names line items not in the order: {', '.join(unknown)}")
            return Verdict(
                "partial_line_items",
                f"the shipment {' and '.join(parts)}: the whole order ships in one package",
            )
    return Verdict(hold_until=hold_ends(order))

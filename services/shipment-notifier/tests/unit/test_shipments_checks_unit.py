"""The checks before any TikTok call, and the hold's end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shipment_notifier.checks import check
from shipment_notifier.models import KnownOrder
from shipment_notifier.orders import hold_ends

PAID = 1_764_590_000


def _order(status: str = "AWAITING_SHIPMENT", **data: Any) -> KnownOrder:
    body: dict[str, Any] = {
        "id": "1",
        "packages": [{"id": "p1"}],
        "line_items": [{"id": "l1"}, {"id": "l2"}],
        "paid_time": PAID,
        "shipping_type": "SELLER",
    }
    body.update(data)
    return KnownOrder(
        order_id="1",
        connection_id="c",
        shop_id="s",
        status=status,
        update_time=datetime.now(UTC),
        cancellable_until=None,
        fulfillment_type=str(body.pop("fulfillment_type", "FULFILLMENT_BY_SELLER")),
        data=body,
    )


def test_a_seller_order_in_one_package_passes() -> None:
    verdict = check(_order(), ["l1", "l2"])
    assert not verdict.rejected and verdict.hold_until is None
    assert not check(_order(), None).rejected


def test_rejections_say_why() -> None:
    assert check(_order("CANCELLED"), None).code == "cancelled"
    assert check(_order(fulfillment_type="FULFILLMENT_BY_TIKTOK"), None).code == "tiktok_fulfilled"
    assert check(_order(shipping_type="TIKTOK"), None).code == "tiktok_fulfilled"
    assert check(_order(split_or_combine_tag="SPLIT"), None).code == "split_or_combined"
    assert check(_order(packages=[{"id": "p1"}, {"id": "p2"}]), None).code == "split_or_combined"
    partial = check(_order(), ["l1"])
    assert partial.code == "partial_line_items" and "l2" in partial.reason
    assert check(_order(), ["l1", "l2", "zz"]).code == "partial_line_items"


def test_the_hold_ends_an_hour_after_payment_or_at_cancellable_until() -> None:
    held = _order("ON_HOLD")
    assert check(held, None).hold_until == datetime.fromtimestamp(PAID, UTC) + timedelta(hours=1)
    until = datetime(2026, 12, 1, 12, tzinfo=UTC)
    held.cancellable_until = until
    assert hold_ends(held) == until
    # TikTok showing the order past ON_HOLD ends the hold whatever the clocks say.
    assert hold_ends(_order("AWAITING_SHIPMENT")) is None
    assert _order("UNPAID", paid_time=None, create_time=PAID).status == "UNPAID"
    assert hold_ends(_order("UNPAID", paid_time=None, create_time=PAID)) is not None

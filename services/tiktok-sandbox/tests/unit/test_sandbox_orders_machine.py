"""Order state machine, payment math, address withholding and cursor paging (no HTTP)."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from tiktok_sandbox.errors import ApiError
from tiktok_sandbox.order_query import Paging, decode_cursor, encode_cursor
from tiktok_sandbox.orders import (
    HOLD_SECONDS,
    TRANSITIONS,
    InvalidTransition,
    OrderRecord,
    check_transition,
)
from tiktok_sandbox.seed import UK_SHOP_ID, US_SHOP_ID
from tiktok_sandbox.settings import Settings
from tiktok_sandbox.state import SandboxState

SKUS = {
    "1001": {
        "product_id": "9001",
        "sku_id": "1001",
        "seller_sku": "MUG-RED",
        "product_name": "Mug",
        "sku_name": "Red",
        "price": "12.50",
        "currency": "USD",
        "image_url": "https://img.example/mug.png",
    },
    "1002": {
        "product_id": "9001",
        "sku_id": "1002",
        "seller_sku": "MUG-BLUE",
        "product_name": "Mug",
        "sku_name": "Blue",
        "price": "7.99",
        "currency": "USD",
        "image_url": "https://img.example/mug-blue.png",
    },
    "2001": {
        "product_id": "9101",
        "sku_id": "2001",
        "seller_sku": "TEA-1",
        "product_name": "Tea",
        "sku_name": "Default",
        "price": "3.10",
        "currency": "GBP",
        "image_url": "",
    },
}
SKU_SHOP = {"1001": US_SHOP_ID, "1002": US_SHOP_ID, "2001": UK_SHOP_ID}


class RecordingWebhooks:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def emit(self, shop_id: str, event_type: str, data: dict[str, Any]) -> None:
        self.events.append((shop_id, event_type, data))


@pytest.fixture
def state() -> SandboxState:
    st = SandboxState(Settings())

    def get_sku(shop_id: str, sku_id: str) -> dict[str, Any] | None:
        return SKUS.get(sku_id) if SKU_SHOP.get(sku_id) == shop_id else None

    def by_seller_sku(shop_id: str, seller_sku: str) -> dict[str, Any] | None:
        return next(
            (
                s
                for k, s in SKUS.items()
                if s["seller_sku"] == seller_sku and SKU_SHOP[k] == shop_id
            ),
            None,
        )

    st.products.get_sku = get_sku  # type: ignore[method-assign]
    st.products.find_by_seller_sku = by_seller_sku  # type: ignore[method-assign]
    st.webhooks = RecordingWebhooks()  # type: ignore[assignment]
    return st


def place(state: SandboxState, **body: Any) -> OrderRecord:
    shop = state.shop(body.pop("shop_id", US_SHOP_ID))
    assert shop is not None
    body.setdefault("line_items", [{"sku_id": "1001", "quantity": 1}])
    return state.orders.place(shop, body)


def statuses(state: SandboxState) -> list[str]:
    return [e[2]["order_status"] for e in state.webhooks.events]  # type: ignore[attr-defined]


# ---- the transition table ------------------------------------------------------------------


def test_documented_happy_path_is_allowed() -> None:
    path = [
        "UNPAID",
        "ON_HOLD",
        "AWAITING_SHIPMENT",
        "PARTIALLY_SHIPPING",
        "AWAITING_COLLECTION",
        "IN_TRANSIT",
        "DELIVERED",
        "COMPLETED",
    ]
    for current, target in itertools.pairwise(path):
        check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("UNPAID", "AWAITING_SHIPMENT"),  # the hold cannot be skipped
        ("ON_HOLD", "AWAITING_COLLECTION"),  # no shipping during the hold
        ("IN_TRANSIT", "CANCELLED"),  # cancellation only before shipping
        ("AWAITING_COLLECTION", "CANCELLED"),
        ("COMPLETED", "CANCELLED"),
        ("CANCELLED", "ON_HOLD"),
        ("DELIVERED", "IN_TRANSIT"),
    ],
)
def test_forbidden_transitions(current: str, target: str) -> None:
    with pytest.raises(InvalidTransition):
        check_transition(current, target)


def test_terminal_statuses_have_no_exit() -> None:
    assert TRANSITIONS["COMPLETED"] == frozenset()
    assert TRANSITIONS["CANCELLED"] == frozenset()


# ---- the store -------------------------------------------------------------------------------


def test_paid_order_is_on_hold_and_hold_ends_after_an_hour(state: SandboxState) -> None:
    rec = place(state)
    assert rec.doc["status"] == "ON_HOLD"
    assert rec.doc["is_on_hold_order"] is True
    paid = rec.doc["paid_time"]
    state.orders.advance(paid + HOLD_SECONDS - 1)
    assert rec.doc["status"] == "ON_HOLD"
    state.orders.advance(paid + HOLD_SECONDS)
    assert rec.doc["status"] == "AWAITING_SHIPMENT"
    assert rec.doc["is_on_hold_order"] is False
    assert statuses(state) == ["ON_HOLD", "AWAITING_SHIPMENT"]
    # The webhook data keys are the documented ones, in the documented order.
    assert list(state.webhooks.events[-1][2]) == [  # type: ignore[attr-defined]
        "is_on_hold_order",
        "order_id",
        "order_status",
        "update_time",
    ]


def test_unpaid_order_waits_for_payment(state: SandboxState) -> None:
    rec = place(state, paid=False)
    assert rec.doc["status"] == "UNPAID" and "paid_time" not in rec.doc
    state.orders.advance(state.clock.now() + 10 * HOLD_SECONDS)
    assert rec.doc["status"] == "UNPAID"  # no hold clock runs before payment
    state.orders.pay(rec.doc["id"])
    assert rec.doc["status"] == "ON_HOLD"
    assert statuses(state) == ["UNPAID", "ON_HOLD"]
    with pytest.raises(ApiError) as err:
        state.orders.pay(rec.doc["id"])
    assert err.value.http_status == 409


def test_buyer_cancels_during_hold_but_not_after(state: SandboxState) -> None:
    held = place(state)
    state.orders.cancel(held.doc["id"], {})
    assert held.doc["status"] == "CANCELLED"
    assert held.doc["cancellation_initiator"] == "BUYER"
    assert {li["package_status"] for li in held.doc["line_items"]} == {"CANCELLED"}
    # A cancelled order never leaves CANCELLED, even when its hour passes.
    state.orders.advance(state.clock.now() + 2 * HOLD_SECONDS)
    assert held.doc["status"] == "CANCELLED"

    later = place(state)
    state.orders.advance(later.doc["paid_time"] + HOLD_SECONDS)
    with pytest.raises(ApiError) as err:
        state.orders.cancel(later.doc["id"], {})
    assert err.value.http_status == 409 and "ON_HOLD" in err.value.message
    state.orders.cancel(later.doc["id"], {"cancellation_initiator": "SELLER"})
    assert later.doc["status"] == "CANCELLED"


def test_quantity_becomes_repeated_line_items_and_payment_adds_up(state: SandboxState) -> None:
    rec = place(
        state,
        line_items=[
            {
                "sku_id": "1001",
                "quantity": 3,
                "seller_discount": "1.00",
                "platform_discount": "0.25",
            },
            {"seller_sku": "MUG-BLUE", "quantity": 1},
        ],
        shipping_fee="4.00",
        shipping_fee_platform_discount="1.50",
        tax_rate="0.1",
        retail_delivery_fee="0.27",
    )
    items = rec.doc["line_items"]
    assert [li["sku_id"] for li in items] == ["1001", "1001", "1001", "1002"]
    assert len({li["id"] for li in items}) == 4
    assert items[0]["sale_price"] == "11.25" and items[3]["sale_price"] == "7.99"
    p = {k: Decimal(v) for k, v in rec.doc["payment"].items() if k != "currency"}
    assert p["original_total_product_price"] == Decimal("45.49")
    assert (
        p["sub_total"]
        == p["original_total_product_price"] - p["seller_discount"] - p["platform_discount"]
    )
    assert p["sub_total"] == sum(Decimal(li["sale_price"]) for li in items)
    assert p["shipping_fee"] == Decimal("2.50")
    assert (
        p["total_amount"]
        == p["sub_total"] + p["shipping_fee"] + p["tax"] + p["retail_delivery_fee"]
    )
    assert all(isinstance(v, str) for v in rec.doc["payment"].values())


def test_uk_orders_are_in_gbp_without_retail_delivery_fee(state: SandboxState) -> None:
    rec = place(state, shop_id=UK_SHOP_ID, line_items=[{"sku_id": "2001", "quantity": 2}])
    assert rec.doc["payment"]["currency"] == "GBP"
    assert "retail_delivery_fee" not in rec.doc["payment"]
    assert rec.doc["line_items"][0]["currency"] == "GBP"


@pytest.mark.parametrize(
    "body",
    [
        {"line_items": []},
        {"line_items": [{"sku_id": "1001", "quantity": 0}]},
        {"line_items": [{"sku_id": "2001"}]},  # a UK SKU is not in the US shop
        {"line_items": [{"quantity": 1}]},
        {"line_items": [{"sku_id": "1001", "seller_discount": "20.00"}]},
        {"fulfillment_type": "FULFILLMENT_BY_MARS"},
        {"delivery_option_id": "1"},
        {"shipping_fee": "-1"},
    ],
)
def test_bad_admin_bodies_are_rejected(state: SandboxState, body: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as err:
        place(state, **body)
    assert err.value.http_status in (400, 404)
    assert state.orders.count_by_shop() == {}


def test_address_is_withheld_until_the_hold_ends(state: SandboxState) -> None:
    rec = place(state)
    assert "recipient_address" not in state.orders.render(rec)
    state.orders.advance(rec.doc["paid_time"] + HOLD_SECONDS)
    address = state.orders.render(rec)["recipient_address"]
    assert address["region_code"] == "US"
    assert [d["address_level"] for d in address["district_info"]] == ["L0", "L1", "L2", "L3"]


def test_search_pages_with_a_cursor_and_counts_per_shop(state: SandboxState) -> None:
    ids = [place(state).doc["id"] for _ in range(5)]
    place(state, shop_id=UK_SHOP_ID, line_items=[{"sku_id": "2001"}])
    seen: list[str] = []
    token = ""
    while True:
        page = state.orders.search(US_SHOP_ID, {}, Paging(2, token, "create_time", True))
        assert page["total_count"] == 5
        seen += [o["id"] for o in page["orders"]]
        token = page["next_page_token"]
        if not token:
            break
    assert seen == sorted(ids, key=int, reverse=True)
    assert state.orders.count_by_shop() == {US_SHOP_ID: 5, UK_SHOP_ID: 1}


def test_cursor_round_trip_and_garbage_is_a_param_error() -> None:
    token = encode_cursor(1_718_305_585, 7_380_066_284_010_030_890)
    assert decode_cursor(token) == (1_718_305_585, 7_380_066_284_010_030_890)
    with pytest.raises(ApiError) as err:
        decode_cursor("not-a-token!")
    assert err.value.code == 36009004

"""An edit of a live product ("Edit Product 202309"): the approved content keeps selling
while the edit is audited beside it; the audit's result replaces it or is dropped.

The store is driven directly (no HTTP), with the webhooks recorded as they are emitted, so
"no status webhook" is an exact assertion rather than a wait.
"""

from __future__ import annotations

from typing import Any

import pytest
from tiktok_sandbox.catalog_seed import catalog
from tiktok_sandbox.errors import ApiError
from tiktok_sandbox.product_views import product_detail, search_item
from tiktok_sandbox.seed import US_SHOP_ID
from tiktok_sandbox.settings import Settings
from tiktok_sandbox.state import SandboxState

WAREHOUSE = "7068517275539719942"
SOFA = next(c.id for c in catalog().trees["US"].leaves() if c.local_name == "Sofas")
DELAY = 10.0
Events = list[tuple[str, dict[str, Any]]]


def body(seller_sku: str, **over: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "title": "Grey sofa",
        "description": "<p>ok</p>",
        "category_id": SOFA,
        "category_version": "v2",
        "main_images": [{"uri": "img-1"}],
        "product_attributes": [
            {"id": "101610", "values": [{"name": "Non-Foldable"}]},
            {"id": "100198", "values": [{"name": "Wood"}]},
        ],
        "skus": [
            {
                "seller_sku": seller_sku,
                "price": {"amount": "10.00", "currency": "USD"},
                "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 5}],
            }
        ],
        "package_weight": {"value": "1", "unit": "POUND"},
        "package_dimensions": {"length": "1", "width": "1", "height": "1", "unit": "INCH"},
    }
    b.update(over)
    return b


@pytest.fixture
def state() -> SandboxState:
    st = SandboxState(Settings(audit_delay_seconds=DELAY))
    st.products.add_image(
        {"uri": "img-1", "url": "http://img/1", "width": 600, "height": 600, "format": "png"}, b"x"
    )
    return st


@pytest.fixture
def events(state: SandboxState, monkeypatch: pytest.MonkeyPatch) -> Events:
    seen: Events = []
    monkeypatch.setattr(
        state.webhooks, "emit", lambda shop_id, event, data: seen.append((event, data))
    )
    return seen


def shop(state: SandboxState) -> dict[str, Any]:
    return state.shops[US_SHOP_ID]


def audit_passes(state: SandboxState) -> None:
    state.clock.advance(DELAY + 1)
    state.products.advance(state.clock.now())


def live_product(state: SandboxState, seller_sku: str) -> dict[str, Any]:
    product = state.products.create(shop(state), body(seller_sku))
    audit_passes(state)
    assert product["status"] == "ACTIVATE" and product["audit_status"] == "APPROVED"
    return product


def detail(state: SandboxState, product: dict[str, Any], under_review: bool = False) -> Any:
    return product_detail(state.products, product, under_review=under_review)


def test_the_live_version_sells_on_while_the_edit_is_audited(
    state: SandboxState, events: Events
) -> None:
    product = live_product(state, "LIVE")
    events.clear()
    state.products.edit(shop(state), product["id"], {"title": "Blue sofa"}, partial=True)
    live = detail(state, product)
    assert live["status"] == "ACTIVATE" and live["audit"] == {"status": "AUDITING"}
    assert live["title"] == "Grey sofa"
    review = detail(state, product, under_review=True)
    assert review["status"] == "ACTIVATE" and review["title"] == "Blue sofa"
    assert search_item(product, "US")["title"] == "Grey sofa"
    # Buyers still get the live SKU (the order side looks SKUs up this way).
    sku = state.products.find_by_seller_sku(US_SHOP_ID, "LIVE")
    assert sku is not None and sku["status"] == "ACTIVATE" and sku["product_name"] == "Grey sofa"
    assert events == []  # no status change at submission
    audit_passes(state)
    approved = detail(state, product)
    assert approved["title"] == "Blue sofa" and approved["status"] == "ACTIVATE"
    assert approved["audit"] == {"status": "APPROVED"} and "revision" not in product
    assert [(e, d["audit"]["status"]) for e, d in events] == [
        ("PRODUCT_AUDIT_STATUS_CHANGE", "APPROVED")
    ]


def test_a_rejected_edit_leaves_the_live_version(state: SandboxState, events: Events) -> None:
    product = live_product(state, "REJ")
    events.clear()
    title = "Sofa " + state.settings.audit_fail_keyword
    state.products.edit(shop(state), product["id"], {"title": title}, partial=True)
    audit_passes(state)
    live = detail(state, product)
    assert live["status"] == "ACTIVATE" and live["title"] == "Grey sofa"
    assert live["audit"] == {"status": "REJECTED"}
    assert live["audit_failed_reasons"][0]["position"] == "product"
    assert [(e, d["audit"]["status"]) for e, d in events] == [
        ("PRODUCT_AUDIT_STATUS_CHANGE", "REJECTED")
    ]
    # The next approved edit clears the reasons.
    state.products.edit(shop(state), product["id"], {"title": "Better sofa"}, partial=True)
    audit_passes(state)
    assert "audit_failed_reasons" not in detail(state, product)
    assert detail(state, product)["title"] == "Better sofa"


def test_price_and_stock_apply_to_the_live_version_and_survive_the_approval(
    state: SandboxState,
) -> None:
    product = live_product(state, "PRICE")
    sku_id = product["skus"][0]["id"]
    state.products.edit(shop(state), product["id"], {"title": "Renamed"}, partial=True)
    state.products.update_prices(
        shop(state), product["id"], [{"id": sku_id, "price": {"amount": "7.5", "currency": "USD"}}]
    )
    errors = state.products.update_inventory(
        shop(state),
        product["id"],
        [{"id": sku_id, "inventory": [{"warehouse_id": WAREHOUSE, "quantity": 42}]}],
    )
    assert errors == []
    for under_review in (False, True):
        (sku,) = detail(state, product, under_review)["skus"]
        assert sku["price"]["sale_price"] == "7.5" and sku["inventory"][0]["quantity"] == 42
    assert product["audit_status"] == "AUDITING"  # no new audit for price or stock
    audit_passes(state)
    (sku,) = detail(state, product)["skus"]
    assert detail(state, product)["title"] == "Renamed"
    assert sku["price"]["sale_price"] == "7.5" and sku["inventory"][0]["quantity"] == 42


def test_seller_skus_of_the_edit_are_reserved_but_not_for_sale_yet(state: SandboxState) -> None:
    product = live_product(state, "KEEP")
    edit = body("KEEP")
    edit["skus"] = [dict(edit["skus"][0], id=product["skus"][0]["id"])]
    edit["skus"].append(dict(edit["skus"][0], id=None, seller_sku="NEW"))
    edit["skus"][1]["sales_attributes"] = [{"name": "Color", "value_name": "Blue"}]
    edit["skus"][0]["sales_attributes"] = [{"name": "Color", "value_name": "Grey"}]
    state.products.edit(shop(state), product["id"], edit, partial=False)
    assert state.products.find_by_seller_sku(US_SHOP_ID, "NEW") is None
    with pytest.raises(ApiError) as taken:
        state.products.create(shop(state), body("NEW"))
    assert taken.value.code == 12052056
    audit_passes(state)
    found = state.products.find_by_seller_sku(US_SHOP_ID, "NEW")
    assert found is not None and found["product_id"] == product["id"]


def test_an_edit_during_review_builds_on_the_one_under_review(state: SandboxState) -> None:
    product = live_product(state, "TWICE")
    state.products.edit(shop(state), product["id"], {"title": "First"}, partial=True)
    first_due = product["audit_due"]
    state.clock.advance(DELAY / 2)
    state.products.edit(shop(state), product["id"], {"description": "<p>new</p>"}, partial=True)
    assert product["audit_due"] > first_due  # the review starts again
    review = detail(state, product, under_review=True)
    assert (review["title"], review["description"]) == ("First", "<p>new</p>")
    state.clock.advance(DELAY / 2 + 0.5)
    state.products.advance(state.clock.now())
    assert detail(state, product)["title"] == "Grey sofa"  # the first due time is gone
    audit_passes(state)
    assert detail(state, product)["title"] == "First"


def test_activating_again_audits_the_newest_content_as_a_whole(
    state: SandboxState, events: Events
) -> None:
    product = live_product(state, "FOLD")
    state.products.edit(shop(state), product["id"], {"title": "Edited"}, partial=True)
    assert state.products.batch(US_SHOP_ID, "deactivate", [product["id"]]) == []
    assert state.products.batch(US_SHOP_ID, "activate", [product["id"]]) == []
    assert product["status"] == "PENDING" and "revision" not in product
    assert detail(state, product)["title"] == "Edited"
    audit_passes(state)
    assert product["status"] == "ACTIVATE"
    statuses = [d["status"] for e, d in events if e == "PRODUCT_STATUS_CHANGE"]
    assert statuses[-3:] == ["SELLER_DEACTIVATED", "PENDING", "ACTIVATE"]


def test_an_edit_of_a_product_that_is_not_live_is_audited_as_a_whole(
    state: SandboxState, events: Events
) -> None:
    fail = body("NOTLIVE", title="Sofa " + state.settings.audit_fail_keyword)
    product = state.products.create(shop(state), fail)
    audit_passes(state)
    assert product["status"] == "FAILED"
    events.clear()
    state.products.edit(shop(state), product["id"], {"title": "Fixed sofa"}, partial=True)
    assert product["status"] == "PENDING" and "revision" not in product
    assert [d["status"] for e, d in events if e == "PRODUCT_STATUS_CHANGE"] == ["PENDING"]
    audit_passes(state)
    assert product["status"] == "ACTIVATE" and detail(state, product)["title"] == "Fixed sofa"

"""Pure rules of the order store: the hold, which version wins, personal data kept apart."""

from __future__ import annotations

from order_ingest.orders_api import decode_cursor, encode_cursor
from order_ingest.store import event_id, hold_of, is_newer, split_personal

T = 1_750_000_000


def test_an_on_hold_order_is_held_until_its_status_and_its_hour_both_say_so() -> None:
    order = {"status": "ON_HOLD", "create_time": T, "paid_time": T, "update_time": T}
    hold = hold_of(order, now=T + 10)
    assert hold.cancellable_until == T + 3600 and hold.ready_to_ship is False
    # Past the hour but TikTok still says ON_HOLD: still held.
    assert hold_of(order, now=T + 4000).ready_to_ship is False
    # TikTok moved it on, and its update_time proves TikTok's clock passed the hour.
    moved = {**order, "status": "AWAITING_SHIPMENT", "update_time": T + 3600}
    assert hold_of(moved, now=T + 5).ready_to_ship is True
    # Shippable status but less than an hour old (a market without ON_HOLD): held by time.
    young = {**order, "status": "AWAITING_SHIPMENT", "update_time": T + 60}
    assert hold_of(young, now=T + 60).ready_to_ship is False
    assert hold_of(young, now=T + 3600).ready_to_ship is True


def test_the_hour_runs_from_payment_when_the_order_was_paid_later() -> None:
    order = {"status": "ON_HOLD", "create_time": T, "paid_time": T + 600, "update_time": T + 600}
    assert hold_of(order, now=T).cancellable_until == T + 600 + 3600
    unpaid = {"status": "UNPAID", "create_time": T, "update_time": T}
    assert hold_of(unpaid, now=T + 99999).ready_to_ship is False


def test_cancelled_and_shipped_orders_are_not_ready_to_ship() -> None:
    for status in ("CANCELLED", "IN_TRANSIT", "COMPLETED"):
        order = {"status": status, "create_time": T, "update_time": T + 7200}
        assert hold_of(order, now=T + 7200).ready_to_ship is False


def test_an_older_or_equal_version_never_wins_but_a_later_status_of_the_same_second_does() -> None:
    prior = {"update_time": T, "status": "ON_HOLD", "ready_to_ship": False}
    assert is_newer(prior, "ON_HOLD", T + 1, False)
    assert not is_newer(prior, "AWAITING_SHIPMENT", T - 1, True)
    assert not is_newer(prior, "ON_HOLD", T, False)
    assert is_newer(prior, "CANCELLED", T, False)  # cancelled in the second it was placed
    assert not is_newer({**prior, "status": "CANCELLED"}, "ON_HOLD", T, False)
    assert is_newer(prior, "ON_HOLD", T, True)  # the hold ended by time alone


def test_event_ids_are_stable_per_version() -> None:
    a = event_id("1", T, "ON_HOLD", "order.received", False)
    assert a == event_id("1", T, "ON_HOLD", "order.received", False)
    assert a != event_id("1", T + 1, "ON_HOLD", "order.updated", False)


def test_personal_data_is_kept_apart_from_the_order_document() -> None:
    order = {
        "id": "1",
        "status": "AWAITING_SHIPMENT",
        "buyer_email": "b@example.com",
        "recipient_address": {"name": "Ann"},
        "buyer_message": "",
    }
    doc, personal = split_personal(order)
    assert doc == {"id": "1", "status": "AWAITING_SHIPMENT"}
    assert personal == {"buyer_email": "b@example.com", "recipient_address": {"name": "Ann"}}
    assert split_personal({"id": "2"})[1] is None


def test_the_cursor_round_trips_and_refuses_what_it_did_not_make() -> None:
    assert decode_cursor(encode_cursor(12345)) == 12345
    assert decode_cursor(None) == 0
    import pytest
    from tts_common.errors import BadRequest

    for bad in ("nonsense", encode_cursor(1)[:-2] + "!!", "czE6LTE"):
        with pytest.raises(BadRequest):
            decode_cursor(bad)

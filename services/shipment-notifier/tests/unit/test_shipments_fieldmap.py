"""Field mapping from the OMS's own payload to the shipment fields."""

from __future__ import annotations

from shipment_notifier.fieldmap import apply, validate_mapping


def test_dotted_paths_lists_and_identity() -> None:
    mapping = {
        "order_id": "order.ref",
        "tracking_number": "parcel.code",
        "line_item_ids": "lines[].tiktok.id",
    }
    payload = {
        "order": {"ref": 576461413038785752},
        "parcel": {"code": "TRK1"},
        "lines": [{"tiktok": {"id": "a"}}, {"tiktok": {"id": "b"}}, {"other": 1}],
        "carrier": "DPD",  # not mapped: read under its own name
        "shipped_at": "2026-12-01T10:00:00Z",
    }
    assert apply(mapping, payload) == {
        "order_id": "576461413038785752",  # a JSON number becomes the id string
        "tracking_number": "TRK1",
        "carrier": "DPD",
        "shipped_at": "2026-12-01T10:00:00Z",
        "line_item_ids": ["a", "b"],
    }


def test_missing_values_are_left_out_for_validation_to_name() -> None:
    assert apply({"tracking_number": "parcel.code"}, {"parcel": {}}) == {}
    assert apply({"line_item_ids": "lines[].id"}, {"lines": "nope"}) == {}


def test_mapping_problems() -> None:
    assert validate_mapping({"order_id": "a.b"}) == []
    problems = validate_mapping({"colour": "x", "tracking_number": " "})
    assert len(problems) == 2 and problems[0].startswith("colour")

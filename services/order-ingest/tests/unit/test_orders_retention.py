"""Retention's pure parts: which fields of TikTok's order object are personal."""

from __future__ import annotations

from order_ingest.retention import PERSONAL_FIELDS, RetentionSettings, purge_document


def test_purge_document_drops_the_buyers_personal_fields_only() -> None:
    order = {
        "id": "576",
        "status": "AWAITING_SHIPMENT",
        "recipient_address": {"name": "Jane Doe", "phone_number": "(+1)213*****67"},
        "buyer_email": "v2buyer0sandbox@scs.tiktokw.us",
        "buyer_message": "leave at the door",
        "line_items": [{"id": "1", "sku_id": "s"}],
    }
    purged = purge_document(order)
    assert purged == {
        "id": "576",
        "status": "AWAITING_SHIPMENT",
        "line_items": [{"id": "1", "sku_id": "s"}],
    }
    assert "buyer_email" in order  # a copy: the input is left alone
    assert {"recipient_address", "buyer_email", "buyer_message"} <= set(PERSONAL_FIELDS)


def test_retention_is_off_unless_set() -> None:
    assert RetentionSettings().pii_retention_days is None
    assert RetentionSettings(pii_retention_days=30).pii_retention_days == 30

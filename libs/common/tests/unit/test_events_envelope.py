"""CloudEvents envelope, event registry and data decoding."""

from __future__ import annotations

import inspect
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pydantic
import pytest
from tts_common import events as ev
from tts_common.fabric_errors import NonRetriableError, PoisonEvent, UnknownEventType

NOW = "2026-11-27T01:00:00Z"

SAMPLES: dict[str, dict[str, Any]] = {
    "product.upserted": {
        "feed_id": "f1",
        "product_id": "p1-red",
        "parent_id": "p1",
        "attributes": {"product_name": "Mug", "images": ["a.jpg", "b.jpg"], "sku.price": 9.5},
    },
    "product.deleted": {"feed_id": "f1", "product_id": "p1-red", "parent_id": "p1"},
    "product.synced": {
        "feed_id": "f1",
        "parent_id": "p1",
        "product_ids": ["p1-red"],
        "tiktok_product_id": "1729",
        "action": "create",
        "sku_ids": {"p1-red": "1730"},
    },
    "product.sync-failed": {
        "feed_id": "f1",
        "parent_id": "p1",
        "action": "edit",
        "errors": [{"code": 12052048, "message": "brand invalid", "request_id": "r1"}],
    },
    "order.received": {
        "connection_id": "c1",
        "shop_id": "s1",
        "order_id": "o1",
        "status": "AWAITING_SHIPMENT",
        "update_time": NOW,
        "cancellable_until": NOW,
        "fulfillment_type": "FULFILLMENT_BY_SELLER",
        "order": {"id": "o1", "line_items": [{"id": "li1"}]},
    },
    "order.updated": {
        "connection_id": "c1",
        "shop_id": "s1",
        "order_id": "o1",
        "status": "IN_TRANSIT",
        "update_time": NOW,
        "fulfillment_type": "FULFILLMENT_BY_SELLER",
        "previous_status": "AWAITING_SHIPMENT",
    },
    "order.cancelled": {
        "connection_id": "c1",
        "shop_id": "s1",
        "order_id": "o1",
        "status": "CANCELLED",
        "update_time": NOW,
        "fulfillment_type": "FULFILLMENT_BY_SELLER",
    },
    "shipment.created": {
        "order_id": "o1",
        "tracking_number": "1Z999",
        "carrier": "UPS",
        "shipped_at": NOW,
    },
    "shipment.notified": {
        "order_id": "o1",
        "tracking_number": "1Z999",
        "shipping_provider_id": "7117858858072016686",
        "notified_at": NOW,
    },
    "shipment.rejected": {
        "order_id": "o1",
        "tracking_number": "1Z999",
        "reason": "order is cancelled",
        "code": "order_cancelled",
    },
    "shipment.deferred": {"order_id": "o1", "tracking_number": "1Z999", "until": NOW},
    "connection.authorized": {"connection_id": "c1", "market": "US", "shop_ids": ["s1"]},
    "connection.expiring": {"connection_id": "c1", "market": "UK", "expires_at": NOW},
    "connection.expired": {"connection_id": "c1", "market": "UK", "reason": "refresh failed"},
    "connection.revoked": {"connection_id": "c1", "market": "US", "reason": "deauthorized"},
}


def test_samples_cover_every_registered_type() -> None:
    assert set(SAMPLES) == set(ev.EVENT_MODELS)


def test_every_topic_type_is_registered_and_every_type_has_a_topic() -> None:
    on_topics = {t for types in ev.TOPIC_TYPES.values() for t in types}
    assert on_topics == set(ev.EVENT_MODELS)
    assert set(ev.TOPIC_TYPES) == set(ev.ALL_TOPICS)
    assert ev.dlq_topic(ev.ORDER_RECEIVED) == "tiktok.order-received.v1.dlq"


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_round_trip_decodes_data_into_its_model(event_type: str) -> None:
    event = ev.make_event(event_type, "/test", "subj", SAMPLES[event_type], correlation_id="c-1")
    back = ev.decode(ev.encode(event))
    assert back == event
    data = ev.parse_data(back)
    assert type(data) is ev.EVENT_MODELS[event_type]
    # What was sent is what comes out (modulo JSON normalisation of datetimes).
    assert data.model_dump(mode="json", exclude_none=True) == back.data
    assert back.correlationid == "c-1"


def test_models_are_frozen_and_documented() -> None:
    for model in set(ev.EVENT_MODELS.values()):
        doc = inspect.getdoc(model) or ""
        assert doc.startswith("Sent when"), model.__name__
    data = ev.parse_data(ev.make_event("product.deleted", "/t", None, SAMPLES["product.deleted"]))
    with pytest.raises(pydantic.ValidationError):
        data.feed_id = "other"  # type: ignore[attr-defined]


def test_envelope_attributes_follow_cloudevents() -> None:
    before = datetime.now(UTC)
    event = ev.make_event("connection.revoked", "/auth-broker", "c1", SAMPLES["connection.revoked"])
    after = datetime.now(UTC)
    doc = orjson.loads(ev.encode(event))
    assert doc["specversion"] == "1.0"
    assert doc["datacontenttype"] == "application/json"
    assert uuid.UUID(doc["id"]).version == 4
    assert doc["time"].endswith("Z")  # RFC 3339, UTC
    # Stamped when made (the text may drop sub-millisecond digits).
    stamped = datetime.fromisoformat(doc["time"])
    assert before - timedelta(milliseconds=1) <= stamped <= after
    assert "correlationid" not in doc  # optional extension omitted when unset


def test_time_is_normalised_to_utc_and_naive_times_are_refused() -> None:
    plus2 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    event = ev.CloudEvent(source="/s", type="t", time=plus2)
    assert event.time.utcoffset() == timedelta(0) and event.time.hour == 10
    with pytest.raises(pydantic.ValidationError):
        ev.CloudEvent(source="/s", type="t", time=datetime(2026, 1, 1))


def test_unknown_extension_attributes_survive_a_round_trip() -> None:
    raw = orjson.dumps(
        {"specversion": "1.0", "id": "x-1", "source": "/pim", "type": "t", "traceparent": "00-ab"}
    )
    event = ev.decode(raw)
    assert orjson.loads(ev.encode(event))["traceparent"] == "00-ab"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff garbage",
        b"[1, 2]",
        b'{"specversion": "1.0", "source": "/s", "type": "t"}',  # no id
        b'{"specversion": "0.3", "id": "1", "source": "/s", "type": "t"}',
        b'{"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "time": "yesterday"}',
        b'{"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": "text"}',
    ],
)
def test_malformed_records_are_poison(raw: bytes) -> None:
    with pytest.raises(PoisonEvent) as info:
        ev.decode(raw)
    assert info.value.retriable is False
    assert isinstance(info.value, NonRetriableError)


def test_poison_messages_do_not_echo_the_input() -> None:
    secret = "shhh-access-token-value"
    raw = orjson.dumps(
        {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": secret}
    )
    with pytest.raises(PoisonEvent) as info:
        ev.decode(raw)
    assert secret not in str(info.value)
    event = ev.CloudEvent(source="/s", type="order.received", data={"order_id": secret})
    with pytest.raises(PoisonEvent) as info2:
        ev.parse_data(event)
    assert secret not in str(info2.value)
    assert "connection_id" in str(info2.value)


def test_unknown_type_is_a_non_retriable_error() -> None:
    event = ev.CloudEvent(source="/s", type="product.exploded", data={})
    with pytest.raises(UnknownEventType) as info:
        ev.parse_data(event)
    assert info.value.retriable is False


def test_make_event_validates_its_data() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        ev.make_event("nope", "/s", None, {})
    with pytest.raises(pydantic.ValidationError):
        ev.make_event("product.deleted", "/s", None, {"feed_id": "f"})
    wrong = ev.ProductDeleted(feed_id="f", product_id="p", parent_id="p")
    with pytest.raises(TypeError):
        ev.make_event("product.upserted", "/s", None, wrong)


def test_shipment_needs_a_carrier_or_a_provider_id() -> None:
    base = {k: v for k, v in SAMPLES["shipment.created"].items() if k != "carrier"}
    with pytest.raises(pydantic.ValidationError):
        ev.ShipmentCreated.model_validate(base)
    ok = ev.ShipmentCreated.model_validate({**base, "shipping_provider_id": "711"})
    assert ok.carrier is None


def test_newer_producers_may_add_fields() -> None:
    data = {**SAMPLES["connection.expired"], "added_in_a_later_release": True}
    event = ev.CloudEvent(source="/s", type="connection.expired", data=data)
    assert isinstance(ev.parse_data(event), ev.ConnectionExpired)

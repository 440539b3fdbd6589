"""Event contracts: the CloudEvents 1.0 envelope and every event ``data`` model.

Records on Kafka carry one CloudEvent in structured JSON mode (the whole
envelope is the record value). ``data`` models are frozen pydantic models; the
``type`` attribute of the envelope selects the model (see :func:`parse_data`).
Additive changes keep a topic's version; breaking ones get a new topic.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar, Union

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from tts_common.fabric_errors import PoisonEvent, UnknownEventType

# --- topics ---------------------------------------------------------------

PRODUCT_CHANGED = "tiktok.product-changed.v1"
PRODUCT_SYNCED = "tiktok.product-synced.v1"
ORDER_RECEIVED = "tiktok.order-received.v1"
SHIPMENT_CREATED = "tiktok.shipment-created.v1"
SHIPMENT_NOTIFIED = "tiktok.shipment-notified.v1"
CONNECTION_CHANGED = "tiktok.connection-changed.v1"

ALL_TOPICS: tuple[str, ...] = (
    PRODUCT_CHANGED,
    PRODUCT_SYNCED,
    ORDER_RECEIVED,
    SHIPMENT_CREATED,
    SHIPMENT_NOTIFIED,
    CONNECTION_CHANGED,
)
DLQ_SUFFIX = ".dlq"


def dlq_topic(topic: str) -> str:
    """The dead-letter twin of ``topic``."""
    return topic + DLQ_SUFFIX


# --- envelope -------------------------------------------------------------

SPECVERSION: Literal["1.0"] = "1.0"
CONTENT_TYPE_JSON: Literal["application/json"] = "application/json"
# Kafka protocol binding, structured mode: the record's content-type header.
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"


REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type")


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope (structured JSON mode)."""

    # Extension attributes other producers add must survive a round trip.
    model_config = ConfigDict(
        frozen=True, extra="allow", json_schema_extra={"required": list(REQUIRED_ATTRIBUTES)}
    )

    specversion: Literal["1.0"] = SPECVERSION
    id: str = Field(min_length=1, default_factory=lambda: str(uuid.uuid4()))
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None
    datacontenttype: Literal["application/json"] = CONTENT_TYPE_JSON
    data: dict[str, Any] = Field(default_factory=dict)
    correlationid: str | None = None

    @field_validator("time")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


def encode(event: CloudEvent) -> bytes:
    """Serialise an envelope to the bytes of a Kafka record value."""
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))


def _describe(exc: ValidationError, skip: int = 0) -> str:
    # Locations and messages only: the offending input may hold secrets.
    parts = [
        f"{'.'.join(str(p) for p in err['loc'][skip:]) or '<root>'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)[:5]
    ]
    return "; ".join(parts)


def decode(raw: bytes | None) -> CloudEvent:
    """Parse a record value; anything malformed raises :class:`PoisonEvent`."""
    if not raw:
        raise PoisonEvent("empty record value")
    try:
        # pydantic's own JSON parser: one pass, no intermediate dict (hot path).
        event = CloudEvent.model_validate_json(raw)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors(include_input=False)):
            raise PoisonEvent("record value is not JSON") from None
        raise PoisonEvent(f"invalid CloudEvent: {_describe(exc)}") from None
    # The model has defaults for building events; a received one must carry
    # them itself (a made-up id would defeat the consumers' deduplication).
    missing = [a for a in REQUIRED_ATTRIBUTES if a not in event.model_fields_set]
    if missing:
        raise PoisonEvent(f"invalid CloudEvent: missing {', '.join(missing)}")
    return event


# --- data models ----------------------------------------------------------


class EventData(BaseModel):
    """Base of every ``data`` payload; ``TYPES`` lists the CloudEvent types it serves."""

    # Unknown fields are ignored, not refused: additive changes keep the topic
    # version, so an older consumer must accept a newer producer's payload.
    model_config = ConfigDict(frozen=True, extra="ignore")
    TYPES: ClassVar[tuple[str, ...]] = ()


# product-changed / product-synced


class ProductUpserted(EventData):
    """Sent when a source product row (one variant) is created or changed in a feed."""

    TYPES = ("product.upserted",)
    feed_id: str
    product_id: str
    parent_id: str
    attributes: dict[str, JsonValue] = Field(default_factory=dict)


class ProductDeleted(EventData):
    """Sent when a product is deleted: from a feed's import (product-changed) or from TikTok (product-synced)."""

    TYPES = ("product.deleted",)
    feed_id: str
    product_id: str
    parent_id: str
    tiktok_product_id: str | None = None


class ProductSynced(EventData):
    """Sent when TikTok accepted a create, edit or adoption of a product."""

    TYPES = ("product.synced",)
    feed_id: str
    parent_id: str
    product_ids: list[str] = Field(default_factory=list)
    tiktok_product_id: str
    # price / inventory: the dedicated update calls (no re-audit).
    action: Literal["create", "edit", "adopt", "price", "inventory"]
    sku_ids: dict[str, str] = Field(default_factory=dict)  # product_id -> TikTok SKU id
    run_id: str | None = None


class SyncError(BaseModel):
    """One error TikTok (or local validation) reported for a product."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    code: int | str
    message: str
    request_id: str | None = None


class ProductSyncFailed(EventData):
    """Sent when sending a product to TikTok failed; ``errors`` holds TikTok's reasons."""

    TYPES = ("product.sync-failed",)
    feed_id: str
    parent_id: str
    product_ids: list[str] = Field(default_factory=list)
    # The action that failed, or (a product failing readiness, not sent) the one it needed.
    action: Literal["create", "edit", "delete", "adopt", "price", "inventory"]
    errors: list[SyncError] = Field(min_length=1)
    run_id: str | None = None


# order-received


class _OrderEvent(EventData):
    connection_id: str
    shop_id: str
    order_id: str
    status: str  # TikTok order status, e.g. AWAITING_SHIPMENT
    update_time: AwareDatetime
    cancellable_until: AwareDatetime | None = None  # end of the buyer-cancellation hold
    fulfillment_type: str  # e.g. FULFILLMENT_BY_SELLER
    order: dict[str, JsonValue] = Field(default_factory=dict)  # TikTok's order object


class OrderReceived(_OrderEvent):
    """Sent when order-ingest imports an order it has not seen before."""

    TYPES = ("order.received",)


class OrderUpdated(_OrderEvent):
    """Sent when a known order changed on TikTok (newer ``update_time``)."""

    TYPES = ("order.updated",)
    previous_status: str | None = None


class OrderCancelled(_OrderEvent):
    """Sent when a known order was cancelled on TikTok."""

    TYPES = ("order.cancelled",)
    cancel_reason: str | None = None


# shipment-created / shipment-notified


class ShipmentCreated(EventData):
    """Sent when the OMS shipped a self-fulfilled order and has its tracking number."""

    TYPES = ("shipment.created",)
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [{"required": ["carrier"]}, {"required": ["shipping_provider_id"]}]
        }
    )
    order_id: str
    tracking_number: str = Field(min_length=1)
    carrier: str | None = None  # carrier name, resolved to a TikTok provider
    shipping_provider_id: str | None = None  # TikTok shipping provider id
    shipped_at: AwareDatetime
    line_item_ids: list[str] | None = None  # must cover the whole order when given
    shipment_id: str | None = None  # the OMS's own reference

    @model_validator(mode="after")
    def _needs_carrier(self) -> ShipmentCreated:
        if not self.carrier and not self.shipping_provider_id:
            raise ValueError("one of carrier or shipping_provider_id is required")
        return self


class ShipmentNotified(EventData):
    """Sent when TikTok accepted the tracking information of a shipment."""

    TYPES = ("shipment.notified",)
    order_id: str
    tracking_number: str
    shipping_provider_id: str
    package_id: str | None = None
    action: Literal["ship", "update"] = "ship"
    notified_at: AwareDatetime


class ShipmentRejected(EventData):
    """Sent when a shipment cannot be sent to TikTok (failed check or TikTok refusal)."""

    TYPES = ("shipment.rejected",)
    order_id: str
    tracking_number: str
    reason: str
    code: str  # local check name or TikTok error code
    request_id: str | None = None


class ShipmentDeferred(EventData):
    """Sent when a shipment waits for the end of the order's cancellation hold."""

    TYPES = ("shipment.deferred",)
    order_id: str
    tracking_number: str
    until: AwareDatetime
    reason: str = "cancellation_hold"


# connection-changed


class _ConnectionEvent(EventData):
    connection_id: str
    market: Literal["US", "UK"]
    shop_ids: list[str] = Field(default_factory=list)
    reason: str | None = None


class ConnectionAuthorized(_ConnectionEvent):
    """Sent when a seller authorized (or re-authorized) a connection."""

    TYPES = ("connection.authorized",)
    access_token_expires_at: AwareDatetime | None = None


class ConnectionExpiring(_ConnectionEvent):
    """Sent when a connection's authorization will expire soon and needs the seller."""

    TYPES = ("connection.expiring",)
    expires_at: AwareDatetime | None = None


class ConnectionExpired(_ConnectionEvent):
    """Sent when a connection can no longer obtain tokens (refresh failed or expired)."""

    TYPES = ("connection.expired",)


class ConnectionRevoked(_ConnectionEvent):
    """Sent when the seller deauthorized the app or the connection was deleted."""

    TYPES = ("connection.revoked",)


# --- registry -------------------------------------------------------------

EVENT_MODELS: dict[str, type[EventData]] = {
    t: model
    for model in (
        ProductUpserted,
        ProductDeleted,
        ProductSynced,
        ProductSyncFailed,
        OrderReceived,
        OrderUpdated,
        OrderCancelled,
        ShipmentCreated,
        ShipmentNotified,
        ShipmentRejected,
        ShipmentDeferred,
        ConnectionAuthorized,
        ConnectionExpiring,
        ConnectionExpired,
        ConnectionRevoked,
    )
    for t in model.TYPES
}

TOPIC_TYPES: dict[str, tuple[str, ...]] = {
    PRODUCT_CHANGED: ("product.upserted", "product.deleted"),
    PRODUCT_SYNCED: ("product.synced", "product.sync-failed", "product.deleted"),
    ORDER_RECEIVED: ("order.received", "order.updated", "order.cancelled"),
    SHIPMENT_CREATED: ("shipment.created",),
    SHIPMENT_NOTIFIED: ("shipment.notified", "shipment.rejected", "shipment.deferred"),
    CONNECTION_CHANGED: (
        "connection.authorized",
        "connection.expiring",
        "connection.expired",
        "connection.revoked",
    ),
}

T = TypeVar("T")
D = TypeVar("D", bound=EventData)


class _Typed(BaseModel, Generic[T, D]):
    """(type, data) pair; a union of these, discriminated on ``type``, decodes ``data``."""

    model_config = ConfigDict(frozen=True)
    type: T
    data: D


_TYPED_UNION: Any = Annotated[
    Union[tuple(_Typed[Literal[t], m] for t, m in EVENT_MODELS.items())],  # type: ignore[valid-type]  # noqa: UP007
    Field(discriminator="type"),
]
_DATA_ADAPTER: TypeAdapter[Any] = TypeAdapter(_TYPED_UNION)


def parse_data(event: CloudEvent) -> EventData:
    """Decode ``event.data`` into the model registered for ``event.type``.

    Unknown types raise :class:`UnknownEventType`, invalid data :class:`PoisonEvent`;
    both are non-retriable (the consumer runner dead-letters them).
    """
    if event.type not in EVENT_MODELS:
        raise UnknownEventType(f"unknown event type {event.type!r}")
    try:
        typed = _DATA_ADAPTER.validate_python({"type": event.type, "data": event.data})
    except ValidationError as exc:
        raise PoisonEvent(f"invalid data for {event.type}: {_describe(exc, skip=2)}") from None
    data: EventData = typed.data
    return data


def make_event(
    type: str,
    source: str,
    subject: str | None,
    data: EventData | dict[str, Any],
    correlation_id: str | None = None,
) -> CloudEvent:
    """Build an envelope for a registered ``type``; ``data`` is validated against its model."""
    model = EVENT_MODELS.get(type)
    if model is None:
        raise ValueError(f"unknown event type {type!r}")
    if isinstance(data, dict):
        data = model.model_validate(data)
    elif not isinstance(data, model):
        raise TypeError(f"{type} takes {model.__name__}, not {data.__class__.__name__}")
    return CloudEvent(
        source=source,
        type=type,
        subject=subject,
        data=data.model_dump(mode="json", exclude_none=True),
        correlationid=correlation_id,
    )

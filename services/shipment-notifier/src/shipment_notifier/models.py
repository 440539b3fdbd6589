"""Tables of shipment-notifier (created by alembic migrations, never `create_all`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Integer, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ShipmentExport(Base):
    """A "TikTok Shop - Shipment Notifications" export: connection, switches, mappings."""

    __tablename__ = "shipment_exports"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[str] = mapped_column(UUID(as_uuid=False), primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    connection_id: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    feedback_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    carriers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    field_mapping: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class KnownOrder(Base):
    """An order as its events (or a Get Order Detail read) last showed it."""

    __tablename__ = "orders"

    order_id: Mapped[str] = mapped_column(Text, primary_key=True)
    connection_id: Mapped[str] = mapped_column(Text)
    shop_id: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    update_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cancellable_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fulfillment_type: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Shipment(Base):
    """One (order, tracking number) and where it stands (migration 0002 explains `status`)."""

    __tablename__ = "shipments"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[str] = mapped_column(UUID(as_uuid=False), primary_key=True)
    order_id: Mapped[str] = mapped_column(Text)
    tracking_number: Mapped[str] = mapped_column(Text)
    carrier: Mapped[str | None] = mapped_column(Text)
    shipping_provider_id: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(Text)
    shipped_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    line_item_ids: Mapped[list[str] | None] = mapped_column(JSONB)
    external_id: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text)
    export_id: Mapped[str | None] = mapped_column(UUID(as_uuid=False))
    connection_id: Mapped[str | None] = mapped_column(Text)
    package_id: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default="queued")
    action: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    deferred_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reconcile: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Feedback(Base):
    """One outcome of one shipment, for its export's feedback file."""

    __tablename__ = "shipment_feedback"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    shipment_id: Mapped[str] = mapped_column(UUID(as_uuid=False))
    export_id: Mapped[str | None] = mapped_column(UUID(as_uuid=False))
    order_id: Mapped[str] = mapped_column(Text)
    tracking_number: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text)
    action: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

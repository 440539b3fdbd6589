"""Tables of auth-broker (created by alembic migrations, never `create_all`)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Market(enum.StrEnum):
    US = "US"
    UK = "UK"


class Status(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    REVOKED = "revoked"


# Statuses in which the broker holds working tokens and hands out leases.
LEASABLE = (Status.ACTIVE, Status.EXPIRING)


class Connection(Base):
    """One seller authorization (US or Non-US), shared by every feed, import and export."""

    __tablename__ = "connections"
    # Fetch server-side defaults (created_at, updated_at) on flush: no lazy load in async code.
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[str] = mapped_column(UUID(as_uuid=False), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    market: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, default=Status.PENDING)
    status_reason: Mapped[str | None] = mapped_column(Text)
    seller_name: Mapped[str | None] = mapped_column(Text)
    seller_base_region: Mapped[str | None] = mapped_column(Text)
    open_id: Mapped[str | None] = mapped_column(Text)
    granted_scopes: Mapped[list[str]] = mapped_column(JSONB, default=list)
    # Fernet ciphertexts bound to (id, kind); see crypto.py. NULL once erased.
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    access_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    refresh_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Bumped on every grant/refresh: lets a lease tell "someone refreshed meanwhile".
    token_generation: Mapped[int] = mapped_column(Integer, default=0)
    last_refreshed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    authorization_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    authorized_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    shops: Mapped[list[Shop]] = relationship(
        back_populates="connection",
        lazy="raise",
        order_by="Shop.shop_id",
        cascade="all, delete-orphan",
    )


class Shop(Base):
    """A shop the connection's authorization covers (from Get Authorized Shops)."""

    __tablename__ = "connection_shops"

    connection_id: Mapped[str] = mapped_column(
        UUID(as_uuid=False), ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    shop_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(Text)
    seller_type: Mapped[str | None] = mapped_column(Text)
    cipher: Mapped[str] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(Text)

    connection: Mapped[Connection] = relationship(back_populates="shops", lazy="raise")


class OAuthState(Base):
    """A single-use, expiring `state` bound to one connection; only its hash is stored."""

    __tablename__ = "oauth_states"

    state_hash: Mapped[str] = mapped_column(Text, primary_key=True)
    connection_id: Mapped[str] = mapped_column(
        UUID(as_uuid=False), ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class WebhookReceipt(Base):
    """TikTok retries webhooks; a notification id seen before is acknowledged and skipped."""

    __tablename__ = "webhook_receipts"

    notification_id: Mapped[str] = mapped_column(Text, primary_key=True)
    event_type: Mapped[int] = mapped_column(Integer)
    shop_id: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

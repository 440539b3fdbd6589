"""Tables of catalog-sync (created by alembic migrations, never `create_all`).

`source_products`, `dirty_parents` and `uploads` are written set-based by `intake.py` with
SQL of its own; the ORM maps the configuration tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Integer, Text, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Source(Base):
    """A product catalogue as uploaded; several feeds (e.g. US and UK) may read one source."""

    __tablename__ = "sources"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    # How uploads of this source are read (catalog_sync.sources.SourceOptions).
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Feed(Base):
    """A Productsup "site" with its TikTok Shop export: market, connection, dataflow, lists."""

    __tablename__ = "feeds"
    __mapper_args__ = {"eager_defaults": True}

    id: Mapped[str] = mapped_column(UUID(as_uuid=False), primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    market: Mapped[str] = mapped_column(Text)
    connection_id: Mapped[str | None] = mapped_column(UUID(as_uuid=False))
    source_id: Mapped[str] = mapped_column(Text, ForeignKey("sources.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    log_api_calls: Mapped[bool] = mapped_column(Boolean, default=False)
    log_api_headers: Mapped[bool] = mapped_column(Boolean, default=False)
    feedback_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    schedule: Mapped[str | None] = mapped_column(Text)
    max_delete_share: Mapped[float] = mapped_column(Float, default=0.5)
    adopt_existing: Mapped[bool] = mapped_column(Boolean, default=False)
    event_driven: Mapped[bool] = mapped_column(Boolean, default=False)
    warehouse_id: Mapped[str | None] = mapped_column(Text)
    # Set while the feed cannot export (its connection expired or was revoked), with why.
    paused_reason: Mapped[str | None] = mapped_column(Text)
    events_synced_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # The configuration stamp the event-driven mode last evaluated every product with (NULL:
    # never); another stamp means a full run (catalog_sync.workers, `_CONFIG_STAMP`).
    events_config: Mapped[str | None] = mapped_column(Text)
    last_scheduled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    optimization: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    dataflow: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    lists: Mapped[list[MappingList]] = relationship(
        back_populates="feed",
        lazy="raise",
        order_by="MappingList.name",
        cascade="all, delete-orphan",
    )


class MappingList(Base):
    """A Partner Taxonomy Mapping list: a TikTok taxonomy + the import attribute it maps."""

    __tablename__ = "mapping_lists"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    feed_id: Mapped[str] = mapped_column(
        UUID(as_uuid=False), ForeignKey("feeds.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(Text)
    taxonomy: Mapped[str] = mapped_column(Text)
    attribute: Mapped[str] = mapped_column(Text)
    accept_above_score: Mapped[float | None] = mapped_column(Float)

    feed: Mapped[Feed] = relationship(back_populates="lists", lazy="raise")

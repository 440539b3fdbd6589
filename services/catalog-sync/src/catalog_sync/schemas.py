"""HTTP request and response bodies of catalog-sync."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from catalog_sync import cron
from catalog_sync.models import Feed

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,99}$"
# Five cron fields (minute hour day month weekday), e.g. "0 */6 * * *".
_CRON_FIELD = r"[0-9*/,\-]+"
_CRON = re.compile(rf"^{_CRON_FIELD}( {_CRON_FIELD}){{4}}$")


def has_nul(value: Any) -> bool:
    """Does a JSON-like value hold text PostgreSQL cannot store: a NUL or a lone surrogate?

    (JSON may escape either, `\\u0000` or `\\ud800`; neither is valid UTF-8 text.)
    """
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


class NoNul(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if has_nul(data):
            raise ValueError("text may not contain NUL characters or lone surrogates")
        try:  # what PostgreSQL's JSONB cannot take, e.g. integers beyond 64 bits
            orjson.dumps(data)
        except TypeError as exc:
            raise ValueError(f"not storable as JSON: {exc}") from None
        return data


def check_cron(v: str | None) -> str | None:
    if v is None:
        return v
    if not _CRON.match(v.strip()):
        raise ValueError('must be 5 cron fields (minute hour day month weekday), e.g. "0 6 * * *"')
    try:
        cron.parse(v.strip())
    except ValueError as exc:
        raise ValueError(f"not a valid schedule: {exc}") from None
    return v.strip()


class FeedSettings(NoNul):
    """A feed's settings (everything but its dataflow, optimization and lists)."""

    model_config = ConfigDict(extra="forbid")

    market: Literal["US", "UK"] = Field(description="the TikTok Shop market the feed exports to")
    connection_id: uuid.UUID | None = Field(
        default=None, description="the auth-broker connection whose shop receives the products"
    )
    active: bool = Field(
        default=False,
        description="an inactive feed exports nothing (no product calls to TikTok); its "
        "taxonomies can still be read to set it up",
    )
    log_api_calls: bool = Field(default=False, description="keep a log of every TikTok call")
    log_api_headers: bool = Field(
        default=False, description="include request headers in that log (tokens always redacted)"
    )
    feedback_enabled: bool = Field(default=True, description="keep per-product TikTok feedback")
    schedule: str | None = Field(
        default=None, description='cron schedule of full runs, e.g. "0 */6 * * *"; null: none'
    )
    max_delete_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="a snapshot deleting more than this share of the stored products is refused "
        "unless force=true (the mass-deletion guard)",
    )

    adopt_existing: bool = Field(
        default=False,
        description="link TikTok listings whose seller SKUs match instead of creating new ones",
    )
    event_driven: bool = Field(
        default=False,
        description="sync the parents touched by uploads and product-changed events within "
        "seconds (micro-batched runs), besides scheduled and manual runs",
    )
    warehouse_id: str | None = Field(
        default=None,
        max_length=64,
        description="the TikTok warehouse stock is sent to (default: the shop's default one)",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return check_cron(v)


class FeedIn(FeedSettings):
    name: str = Field(pattern=NAME_PATTERN, description="unique; lower case, digits, . _ -")
    source_id: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="the product source it reads (created when new); default: the feed's name. "
        "Give two feeds the same source to send one catalogue to US and UK",
    )
    optimization: dict[str, Any] = Field(default_factory=dict)
    dataflow: dict[str, Any] = Field(default_factory=dict)


class FeedPatch(NoNul):
    model_config = ConfigDict(extra="forbid")

    market: Literal["US", "UK"] | None = None
    connection_id: uuid.UUID | None = None
    active: bool | None = None
    log_api_calls: bool | None = None
    log_api_headers: bool | None = None
    feedback_enabled: bool | None = None
    schedule: str | None = None
    max_delete_share: float | None = Field(default=None, ge=0, le=1)
    adopt_existing: bool | None = None
    event_driven: bool | None = None
    warehouse_id: str | None = Field(default=None, max_length=64)
    optimization: dict[str, Any] | None = None
    dataflow: dict[str, Any] | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return check_cron(v)


class FeedOut(BaseModel):
    id: str
    name: str
    source_id: str
    market: str
    connection_id: str | None
    active: bool
    log_api_calls: bool
    log_api_headers: bool
    feedback_enabled: bool
    schedule: str | None
    max_delete_share: float
    adopt_existing: bool
    event_driven: bool
    warehouse_id: str | None
    paused_reason: str | None
    optimization: dict[str, Any]
    dataflow: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, feed: Feed) -> FeedOut:
        return cls(
            id=feed.id,
            name=feed.name,
            source_id=feed.source_id,
            market=feed.market,
            connection_id=feed.connection_id,
            active=feed.active,
            log_api_calls=feed.log_api_calls,
            log_api_headers=feed.log_api_headers,
            feedback_enabled=feed.feedback_enabled,
            schedule=feed.schedule,
            max_delete_share=feed.max_delete_share,
            adopt_existing=feed.adopt_existing,
            event_driven=feed.event_driven,
            warehouse_id=feed.warehouse_id,
            paused_reason=feed.paused_reason,
            optimization=feed.optimization,
            dataflow=feed.dataflow,
            version=feed.version,
            created_at=feed.created_at,
            updated_at=feed.updated_at,
        )


class ProblemOut(BaseModel):
    line: int
    reason: str
    product_id: str | None = None


class UploadOut(BaseModel):
    upload_id: str
    source_id: str
    kind: Literal["snapshot", "upsert"]
    format: str
    status: Literal["applied", "refused"]
    rows_read: int
    new: int
    changed: int
    unchanged: int
    deleted: int
    refused: int
    refused_by_reason: dict[str, int]
    problems: list[ProblemOut]
    problems_truncated: bool
    duration_s: float


class ProductOut(BaseModel):
    source_id: str
    product_id: str
    parent_id: str
    data: dict[str, str]
    updated_at: datetime

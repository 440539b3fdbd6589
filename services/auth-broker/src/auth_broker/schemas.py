"""API request and response bodies. No response model has a field that can hold a token."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from auth_broker.models import Connection, Market


class CreateConnection(BaseModel):
    # Trimmed before the length check, so a blank name is refused rather than stored.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    market: Market

    @field_validator("name")
    @classmethod
    def _printable(cls, v: str) -> str:
        # PostgreSQL text cannot hold NUL (it would be a 500), and control characters in a
        # name only garble listings and logs.
        if any(unicodedata.category(ch) == "Cc" for ch in v):
            raise ValueError("name must not contain control characters (tabs, newlines, NUL)")
        return v


class ShopOut(BaseModel):
    id: str
    name: str
    region: str
    seller_type: str | None = None


class ConnectionOut(BaseModel):
    id: str
    name: str
    market: str
    status: str
    status_reason: str | None
    seller_name: str | None
    seller_base_region: str | None
    shops: list[ShopOut]
    granted_scopes: list[str]
    access_token_expires_at: datetime | None
    refresh_token_expires_at: datetime | None
    authorization_expires_at: datetime | None
    authorized_at: datetime | None
    last_refreshed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, conn: Connection) -> ConnectionOut:
        return cls(
            id=conn.id,
            name=conn.name,
            market=conn.market,
            status=conn.status,
            status_reason=conn.status_reason,
            seller_name=conn.seller_name,
            seller_base_region=conn.seller_base_region,
            shops=[
                ShopOut(id=s.shop_id, name=s.name, region=s.region, seller_type=s.seller_type)
                for s in conn.shops
            ],
            granted_scopes=list(conn.granted_scopes or []),
            access_token_expires_at=conn.access_expires_at,
            refresh_token_expires_at=conn.refresh_expires_at,
            authorization_expires_at=conn.authorization_expires_at,
            authorized_at=conn.authorized_at,
            last_refreshed_at=conn.last_refreshed_at,
            created_at=conn.created_at,
            updated_at=conn.updated_at,
        )


class ConnectionCreated(ConnectionOut):
    authorize_url: str
    authorize_url_expires_at: datetime


class AuthorizeLink(BaseModel):
    connection_id: str
    authorize_url: str
    authorize_url_expires_at: datetime


class LeaseRequest(BaseModel):
    """Optional lease body: report a token TikTok rejected as expired (by its SHA-256)."""

    model_config = ConfigDict(extra="forbid")

    stale_token_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")


class LeasedShop(BaseModel):
    id: str
    name: str
    region: str
    cipher: str


class TokenLease(BaseModel):
    """The one response that carries a token: internal API, service credentials only."""

    connection_id: str
    market: str
    access_token: str
    # Absolute Unix seconds, as TikTok reports it.
    expires_at: int
    shop_ciphers: dict[str, str]
    shops: list[LeasedShop]

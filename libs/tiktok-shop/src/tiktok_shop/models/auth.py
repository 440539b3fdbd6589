"""OAuth token grant ("Authorization overview") and authorized shops ("Get Authorized Shops")."""

from __future__ import annotations

from pydantic import Field

from .common import Id, TikTokModel


class TokenGrant(TikTokModel):
    """`data` of /api/v2/token/get and /refresh. Expiry fields are ABSOLUTE Unix times."""

    access_token: str = Field(repr=False)
    access_token_expire_in: int
    refresh_token: str = Field(repr=False)
    refresh_token_expire_in: int
    open_id: str | None = None
    seller_name: str | None = None
    seller_base_region: str | None = None
    user_type: int | None = None
    granted_scopes: list[str] = []


class Shop(TikTokModel):
    id: Id
    name: str | None = None
    region: str | None = None
    seller_type: str | None = None
    cipher: str = Field(repr=False)
    code: str | None = None


class AuthorizedShops(TikTokModel):
    shops: list[Shop] = []

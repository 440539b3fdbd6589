"""The slice of TikTok the broker needs, as a port: authorize URL, token get/refresh, shops.

The service layer depends on `TikTokAuthPort`; `clients/tiktok_client.py` implements it
over the `tiktok_shop` library (the composition root wires it), tests may wire a fake.
Failures arrive as `TikTokAuthError`, whose message never contains a token or code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from tts_common.logging import MIN_SECRET_LENGTH, REDACTED, redact_text


@dataclass(frozen=True)
class TokenGrant:
    """Answer of `/api/v2/token/get` or `/refresh` (expiry times are absolute Unix seconds)."""

    access_token: str = field(repr=False)
    access_token_expire_in: int
    refresh_token: str = field(repr=False)
    refresh_token_expire_in: int
    open_id: str = ""
    seller_name: str = ""
    seller_base_region: str = ""
    granted_scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AuthorizedShop:
    id: str
    name: str
    region: str
    cipher: str
    seller_type: str | None = None
    code: str | None = None


class TikTokAuthError(Exception):
    """TikTok refused or failed a call.

    `retriable` is True for failures that say nothing about the credential (network,
    5xx, rate limit); False when TikTok refused the code or refresh token itself.
    """

    def __init__(self, message: str, *, code: int | None = None, retriable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.retriable = retriable

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code is not None else self.message


def describe(err: TikTokAuthError, *sent: str) -> str:
    """TikTok's code and message for a stored reason or a page, minus any credential in it.

    The reason is shown by the API and the callback page, which the log scrubber does not
    cover, and TikTok's message may quote back the code or refresh token it was sent. Only
    values long enough to be a credential are cut (the scrubber's own minimum): a caller's
    `code=0` must not turn TikTok's `[36004004] ...` into `[36[REDACTED][REDACTED]4...]`.
    """
    text = str(err)
    for value in sent:
        if value and len(value) >= MIN_SECRET_LENGTH:
            text = text.replace(value, REDACTED)
    return redact_text(text)


class TikTokAuthPort(Protocol):
    def authorize_url(self, market: str, state: str) -> str:
        """US market → US authorize host; every other market → the global host."""
        ...

    async def exchange_code(self, auth_code: str) -> TokenGrant: ...

    async def refresh(self, refresh_token: str) -> TokenGrant: ...

    async def authorized_shops(self, access_token: str) -> list[AuthorizedShop]: ...

    async def subscribe_webhook(
        self, access_token: str, shop: AuthorizedShop, event_type: str, address: str
    ) -> None:
        """Point `event_type` webhooks of `shop` at `address`."""
        ...

    async def aclose(self) -> None: ...

"""Typed exceptions for TikTok's envelope errors, and the mapping from (HTTP status, code).

Every error carries `code`, `message`, `request_id`, `http_status` and `retriable`.
`retriable` answers "may the *same* request be sent again as is?"; the client still
never repeats a non-idempotent write on its own after an ambiguous failure.
Codes and messages: TikTok's "Common errors" page (docv2/page/common-errors) and the
product validation codes of "Create Product 202309".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ItemError:
    """One per-item failure: from `data.errors[]` of a batch write or a validation error."""

    code: int
    message: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def item_id(self) -> str | None:
        """The id the error is about (product, SKU or package), when TikTok names one."""
        for key in ("product_id", "sku_id", "package_id", "order_id"):
            value = self.detail.get(key)
            if value is not None:
                return str(value)
        return None


class TikTokError(Exception):
    """Base of every error raised by this library."""

    retriable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
        retriable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.request_id = request_id
        self.http_status = http_status
        if retriable is not None:
            self.retriable = retriable

    def __str__(self) -> str:
        parts = [self.message]
        if self.code is not None:
            parts.insert(0, f"[{self.code}]")
        if self.request_id:
            parts.append(f"(request_id={self.request_id})")
        return " ".join(parts)


class CredentialsError(TikTokError):
    """App credentials, token or timestamp were refused (bad app_key, IP allow list, ...)."""


class SignatureError(CredentialsError):
    """The `sign` was missing or did not verify (106001)."""


class TimestampError(CredentialsError):
    """The `timestamp` was outside TikTok's window (too old or too far ahead): check the clock."""


class TokenInvalidError(CredentialsError):
    """The `x-tts-access-token` is not a token TikTok knows."""


class TokenExpiredError(CredentialsError):
    """The access token has expired (105002): get a fresh one and repeat once."""


class AuthorizationExpiredError(CredentialsError):
    """The seller's authorization itself ended (105001): the seller must re-authorize."""


class ScopeError(TikTokError):
    """The token lacks the scope the operation needs (105005)."""


class InvalidRequestError(TikTokError):
    """The request is malformed (missing/unexpected params, wrong region for the API...)."""


class ShopCipherError(InvalidRequestError):
    """`shop_cipher` missing where required (106013) or sent where forbidden (36009004)."""


class ValidationError(InvalidRequestError):
    """TikTok rejected the content; `errors` holds the per-item details when given."""

    def __init__(self, message: str, *, errors: list[ItemError] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.errors: list[ItemError] = errors or []


class NotFoundError(TikTokError):
    """The resource (product, order, package, path...) does not exist for this shop."""


class RateLimitedError(TikTokError):
    """HTTP 429 / 36009002: slow down; the request was not executed."""

    retriable = True


class ServerError(TikTokError):
    """TikTok failed (36009003 or HTTP 5xx)."""

    retriable = True


class NetworkError(TikTokError):
    """The connection failed or the answer was lost on an idempotent call.

    `sent` is False when the request certainly never reached TikTok (connect failure,
    pool timeout): only then may even a non-idempotent write be repeated.
    """

    retriable = True

    def __init__(self, message: str, *, sent: bool, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.sent = sent


class OutcomeUnknownError(TikTokError):
    """A non-idempotent write was sent but no answer came back: it may or may not have happened.

    Never retried by the client; the caller must reconcile (e.g. search by seller SKU)
    before deciding to send it again.
    """

    retriable = False

    def __init__(self, message: str, *, operation: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.operation = operation


# Common codes, from TikTok's "Common errors" page (docv2/page/common-errors).
_CODE_MAP: dict[int, type[TikTokError]] = {
    106001: SignatureError,
    105002: TokenExpiredError,
    105001: AuthorizationExpiredError,
    105005: ScopeError,
    106013: ShopCipherError,
    36009002: RateLimitedError,
    36009003: ServerError,
    36009009: NotFoundError,
    36009033: CredentialsError,
    21008106: InvalidRequestError,
    # Product: does not exist / not this shop's product.
    12019150: NotFoundError,
    12052048: NotFoundError,
}

# 36009004 is overloaded: branch on the message ("Common errors": bad app_key, missing sign,
# timestamp out of window, bad x-tts-access-token, unexpected shop_cipher).
_36009004_BRANCHES: tuple[tuple[str, type[TikTokError]], ...] = (
    ("app_key", CredentialsError),
    ("signature", SignatureError),
    ("timestamp", TimestampError),
    ("x-tts-access-token", TokenInvalidError),
    ("shop_cipher", ShopCipherError),
)

# Product validation codes live in the 12052xxx / 12019xxx ranges ("Create Product 202309").
_VALIDATION_PREFIXES = ("12052", "12019")


def parse_item_errors(data: Any) -> list[ItemError]:
    """Per-item errors from `data.errors[]` (batch writes and validation failures)."""
    if not isinstance(data, dict):
        return []
    raw = data.get("errors")
    if not isinstance(raw, list):
        return []
    out: list[ItemError] = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        try:
            code = int(item.get("code") or 0)
        except (TypeError, ValueError):
            code = 0
        detail = item.get("detail")
        out.append(
            ItemError(
                code=code,
                message=str(item.get("message") or ""),
                detail=dict(detail) if isinstance(detail, dict) else {},
            )
        )
    return out


def _class_for(http_status: int, code: int | None, message: str) -> type[TikTokError]:
    if code == 36009004:
        lowered = message.lower()
        for needle, cls in _36009004_BRANCHES:
            if needle in lowered:
                return cls
        return InvalidRequestError
    if code is not None and code in _CODE_MAP:
        return _CODE_MAP[code]
    if code is not None and str(code).startswith(_VALIDATION_PREFIXES):
        return ValidationError
    # 105xxx is the token/authorization family (105001/105002/105005 above; the PHP SDK
    # treats the whole range as token errors): an undocumented one is no bad request.
    if code is not None and str(code).startswith("105"):
        return CredentialsError
    # Unknown code: fall back on the HTTP status.
    if http_status == 429:
        return RateLimitedError
    if http_status >= 500:
        return ServerError
    if http_status == 401:
        return CredentialsError
    if http_status == 403:
        return ScopeError
    if http_status == 404:
        return NotFoundError
    if http_status == 400 or code is not None:
        return InvalidRequestError
    return TikTokError


def error_from_response(
    http_status: int,
    code: int | None,
    message: str,
    request_id: str | None,
    data: Any = None,
) -> TikTokError:
    """Build the typed exception for a failed envelope (or a non-envelope HTTP error)."""
    cls = _class_for(http_status, code, message)
    kw: dict[str, Any] = {"code": code, "request_id": request_id, "http_status": http_status}
    if cls is ValidationError:
        items = parse_item_errors(data) or (
            [ItemError(code=code, message=message)] if code is not None else []
        )
        return ValidationError(message, errors=items, **kw)
    return cls(message, **kw)

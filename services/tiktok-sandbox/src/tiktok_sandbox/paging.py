"""Opaque page tokens and page_size parsing shared by the list endpoints.

Tokens are standard base64 that deliberately contains `+` and `/` (like TikTok's), so
a client that forgets to percent-encode them, or signs them encoded, fails here too.
"""

from __future__ import annotations

import base64
import binascii

import orjson

from .errors import ApiError

_MAGIC = b"\xfb\xff"  # encodes to "+/" at the start of every token
INVALID_TOKEN = "param page_token is invalid"


def encode_token(kind: str, offset: int) -> str:
    return base64.b64encode(_MAGIC + orjson.dumps({"k": kind, "o": offset})).decode()


def decode_token(kind: str, token: str | None) -> int:
    """Offset of a token from `encode_token(kind, ...)`; empty token = first page."""
    if not token:
        return 0
    try:
        raw = base64.b64decode(token, validate=True)
        if not raw.startswith(_MAGIC):
            raise ValueError("bad prefix")
        payload = orjson.loads(raw[len(_MAGIC) :])
        if payload.get("k") != kind or not isinstance(payload.get("o"), int) or payload["o"] < 0:
            raise ValueError("wrong kind")
        return int(payload["o"])
    except (binascii.Error, ValueError, orjson.JSONDecodeError, AttributeError):
        raise ApiError(36009004, INVALID_TOKEN) from None


def page_size(raw: str | int | None, default: int = 20, maximum: int = 100) -> int:
    if raw is None or raw == "":
        return default
    try:
        size = int(raw)
    except (TypeError, ValueError):
        raise ApiError(36009004, "param page_size is invalid") from None
    if not 1 <= size <= maximum:
        raise ApiError(36009004, f"param page_size must be between 1 and {maximum}")
    return size

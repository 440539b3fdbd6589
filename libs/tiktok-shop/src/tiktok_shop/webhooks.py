"""TikTok webhook verification (reference §6).

`Authorization` header = lowercase hex(HMAC-SHA256(key=app_secret, msg=app_key + raw_body)),
no "Bearer" prefix. Always hash the raw body bytes as received: re-serialising parsed
JSON changes the bytes and breaks the signature.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict


def webhook_signature(app_key: str, app_secret: str, raw_body: bytes) -> str:
    """The signature TikTok puts in `Authorization` for this body."""
    return hmac.new(app_secret.encode(), app_key.encode() + raw_body, hashlib.sha256).hexdigest()


def verify_webhook(
    app_key: str, app_secret: str, raw_body: bytes, authorization: str | None
) -> bool:
    """Constant-time check of the `Authorization` header against the raw body."""
    if not authorization:
        return False
    expected = webhook_signature(app_key, app_secret, raw_body)
    return hmac.compare_digest(expected.encode(), authorization.strip().lower().encode())


class WebhookEvent(BaseModel):
    """A webhook payload; `data` depends on `type` (1 ORDER_STATUS_CHANGE, 5 PRODUCT_STATUS...)."""

    model_config = ConfigDict(extra="allow")

    type: int
    tts_notification_id: str
    shop_id: str
    timestamp: int
    data: dict[str, Any] = {}


def parse_webhook(raw_body: bytes) -> WebhookEvent:
    """Parse a verified payload; ids that TikTok may send as JSON numbers become strings."""
    payload = orjson.loads(raw_body)
    for key in ("tts_notification_id", "shop_id"):
        if isinstance(payload.get(key), int):
            payload[key] = str(payload[key])
    return WebhookEvent.model_validate(payload)

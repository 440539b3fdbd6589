"""Webhook payloads and their signature, exactly as TikTok Shop sends them
("TikTok Shop webhooks overview", docv2/page/tts-webhooks-overview).

The `Authorization` header (no "Bearer") carries
`lowercase hex(HMAC-SHA256(key=app_secret, msg=app_key + raw_body))`. The body is
serialised once per notification and the same bytes are re-sent on every retry, so the
signature and `tts_notification_id` stay stable across retries.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson

# Official `type` numbers of the webhook payload ("TikTok Shop webhooks overview").
EVENT_TYPES: dict[str, int] = {
    "ORDER_STATUS_CHANGE": 1,
    "REVERSE_STATUS_UPDATE": 2,
    "RECIPIENT_ADDRESS_UPDATE": 3,
    "PACKAGE_UPDATE": 4,
    "PRODUCT_STATUS_CHANGE": 5,
    "SELLER_DEAUTHORIZATION": 6,
    "UPCOMING_AUTHORIZATION_EXPIRATION": 7,
    "CANCELLATION_STATUS_CHANGE": 11,
    "RETURN_STATUS_CHANGE": 12,
    "PRODUCT_INFORMATION_CHANGE": 15,
    "PRODUCT_CREATION": 16,
    "PRODUCT_AUDIT_STATUS_CHANGE": 37,
}


def sign_webhook(app_key: str, app_secret: str, raw_body: bytes) -> str:
    """The value of the `Authorization` header for a delivery of `raw_body`."""
    return hmac.new(app_secret.encode(), app_key.encode() + raw_body, hashlib.sha256).hexdigest()


def verify_webhook(app_key: str, app_secret: str, raw_body: bytes, authorization: str) -> bool:
    """Constant-time check of a received `Authorization` header (what a receiver does)."""
    return hmac.compare_digest(sign_webhook(app_key, app_secret, raw_body), authorization.strip())


def encode_payload(
    event_type: str, notification_id: str, shop_id: str, timestamp: int, data: dict[str, Any]
) -> bytes:
    """Serialise the delivery body with the documented key order and compact separators."""
    payload = {
        "type": EVENT_TYPES[event_type],
        "tts_notification_id": notification_id,
        "shop_id": shop_id,
        "timestamp": timestamp,
        "data": data,
    }
    return orjson.dumps(payload)

"""TikTok webhook verification ("TikTok Shop webhooks overview", docv2/page/tts-webhooks-overview).

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


def _is_id_key(key: str) -> bool:
    return key == "id" or key.endswith(("_id", "_ids", "_id_list"))


def _ids_to_str(value: Any, is_id: bool = False) -> Any:
    """Ids (`*_id`, `*_ids`, `*_id_list`, at any depth) that arrive as JSON numbers -> strings.

    orjson parses integers exactly, so a 19-digit product id keeps every digit; times and
    counts (`update_time`, ...) are left as numbers.
    """
    if isinstance(value, dict):
        return {k: _ids_to_str(v, _is_id_key(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_ids_to_str(v, is_id) for v in value]
    if is_id and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def parse_webhook(raw_body: bytes) -> WebhookEvent:
    """Parse a verified payload; ids that TikTok may send as JSON numbers become strings.

    PRODUCT_STATUS_CHANGE can carry `product_id` as a JSON number (seen in TikTok's samples).
    """
    payload = orjson.loads(raw_body)
    if isinstance(payload, dict):
        for key in ("tts_notification_id", "shop_id"):
            if isinstance(payload.get(key), int):
                payload[key] = str(payload[key])
        if isinstance(payload.get("data"), dict):
            payload["data"] = _ids_to_str(payload["data"])
    return WebhookEvent.model_validate(payload)

"""TikTok's product webhooks (public: authenticated by TikTok's signature, not an API key).

`POST /v1/webhooks/tiktok` takes PRODUCT_STATUS_CHANGE (type 5) and PRODUCT_AUDIT_STATUS_CHANGE
(type 37) for the products the feeds sent (`catalog_sync.audit`). The signature ("TikTok Shop
webhooks overview": `Authorization` = hex HMAC-SHA256(app secret, app key + raw body)) is
checked over the raw body before anything is parsed: 401 when it does not verify, so an
unauthenticated caller changes nothing. A notification is one conditional UPDATE — TikTok's
retries and late deliveries are no-ops (an older `update_time` never overwrites a newer one) —
so it is applied before the 200 and nothing is stored per delivery.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import ValidationError
from tiktok_shop.webhooks import WebhookEvent, parse_webhook, verify_webhook
from tts_common.deps import SessionDep
from tts_common.errors import BadRequest, Unauthorized
from tts_common.openapi import error_responses

from catalog_sync import audit
from catalog_sync.config import Settings

log = logging.getLogger(__name__)
public = APIRouter(tags=["webhooks"])


@public.post(
    "/v1/webhooks/tiktok",
    summary="TikTok product webhooks (signature verified): audit and status changes",
    responses=error_responses(
        described={
            400: "Signed, but not a TikTok notification (`bad_webhook`)",
            401: "The signature does not verify (`bad_signature`)",
        }
    ),
    # Read raw (the signature covers the exact bytes), so FastAPI cannot infer the body.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": WebhookEvent.model_json_schema()}},
        }
    },
)
async def tiktok_webhook(
    request: Request,
    session: SessionDep,
    authorization: Annotated[str | None, Header()] = None,
) -> dict[str, str]:
    settings: Settings = request.app.state.runtime.settings
    raw = await request.body()
    if not verify_webhook(
        settings.tiktok_app_key,
        settings.tiktok_app_secret.get_secret_value(),
        raw,
        authorization,
    ):
        raise Unauthorized("webhook signature does not verify", code="bad_signature")
    try:
        hook = parse_webhook(raw)
    # AttributeError: a JSON array, string or number (parse_webhook expects an object).
    except (ValueError, ValidationError, AttributeError):
        raise BadRequest("webhook body is not a TikTok notification", code="bad_webhook") from None
    change = audit.from_webhook(hook.type, hook.data, hook.timestamp)
    if change is None:
        return {"result": "ignored"}
    changed = await audit.apply(session, **change)
    log.info(
        "tiktok product webhook applied",
        extra={"webhook_type": hook.type, "shop_id": hook.shop_id, "changed": changed},
    )
    return {"result": "applied" if changed else "nothing to change"}

"""Webhook entry checks that need no database: signature (official vector), parsing, ignored types."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest
from auth_broker.config import Settings
from auth_broker.context import BrokerContext
from auth_broker.crypto import TokenCipher
from auth_broker.webhooks import MAX_DELIVERY_AGE, WebhookHandler, parse_expiration
from auth_broker.workers import RECEIPT_RETENTION
from pydantic import SecretStr
from tts_common.errors import BadRequest, Unauthorized

# Official vector of "TikTok Shop webhooks overview" (docv2/page/tts-webhooks-overview).
APP_KEY, APP_SECRET = "abcdef", "123"
BODY = (
    b'{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507",'
    b'"timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178",'
    b'"order_status":"UNPAID","update_time":1718305585}}'
)
SIGNATURE = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"


class NoDatabase:
    """Any use of the session (or factory) fails the test: these paths must not touch the DB."""

    def __call__(self) -> Any:
        raise AssertionError("the database was used")

    def __getattr__(self, name: str) -> Any:
        raise AssertionError("the database was used")


NO_DB = cast(Any, NoDatabase())


@pytest.fixture
def handler() -> WebhookHandler:
    settings = Settings(tiktok_app_key=APP_KEY, tiktok_app_secret=SecretStr(APP_SECRET))
    ctx = BrokerContext(
        sessions=cast(Any, NoDatabase()),
        cipher=TokenCipher(settings.fernet_keys()),
        tiktok=cast(Any, None),
        settings=settings,
    )
    return WebhookHandler(ctx)


async def test_official_vector_verifies_and_order_events_are_ignored(
    handler: WebhookHandler,
) -> None:
    assert await handler.handle(NO_DB, BODY, SIGNATURE) == "ignored"


async def test_signature_over_other_bytes_is_refused(handler: WebhookHandler) -> None:
    with pytest.raises(Unauthorized):
        await handler.handle(NO_DB, BODY.replace(b"UNPAID", b"PAID"), SIGNATURE)


async def test_missing_signature_is_refused(handler: WebhookHandler) -> None:
    with pytest.raises(Unauthorized):
        await handler.handle(NO_DB, BODY, None)


async def test_signed_garbage_is_a_bad_request(handler: WebhookHandler) -> None:
    from tiktok_shop.webhooks import webhook_signature

    body = b'{"not": "a notification"}'
    with pytest.raises(BadRequest):
        await handler.handle(NO_DB, body, webhook_signature(APP_KEY, APP_SECRET, body))


@pytest.mark.parametrize("body", [b"[]", b"null", b'"text"', b"6", b"", b"{"])
async def test_signed_body_that_is_not_an_object_is_a_bad_request(
    handler: WebhookHandler, body: bytes
) -> None:
    # Signed by the app secret but not a JSON object: 400, not an unhandled 500.
    from tiktok_shop.webhooks import webhook_signature

    with pytest.raises(BadRequest):
        await handler.handle(NO_DB, body, webhook_signature(APP_KEY, APP_SECRET, body))


def _deauthorization(timestamp: int) -> bytes:
    return (
        b'{"type":6,"tts_notification_id":"7380066284010030891","shop_id":"7495540735365777507",'
        b'"timestamp":%d,"data":{"message":"deauthorized"}}' % timestamp
    )


async def test_replayed_old_deauthorization_is_acknowledged_not_applied(
    handler: WebhookHandler,
) -> None:
    # Validly signed, but older than any TikTok retry and than the receipts kept for
    # deduplication: a replay, which must not revoke a connection authorized since.
    from tiktok_shop.webhooks import webhook_signature

    body = _deauthorization(int(time.time()) - 4 * 86400)
    assert (
        await handler.handle(NO_DB, body, webhook_signature(APP_KEY, APP_SECRET, body)) == "stale"
    )


async def test_recent_deauthorization_goes_to_the_database(handler: WebhookHandler) -> None:
    from tiktok_shop.webhooks import webhook_signature

    # TikTok's last retry comes 12 h after the first attempt: still applied.
    body = _deauthorization(int(time.time()) - 13 * 3600)
    with pytest.raises(AssertionError, match="the database was used"):
        await handler.handle(NO_DB, body, webhook_signature(APP_KEY, APP_SECRET, body))


def test_expiration_time_parsing() -> None:
    assert parse_expiration("1718305585") is not None
    assert parse_expiration(1718305585) == parse_expiration("1718305585")
    assert parse_expiration("soon") is None
    assert parse_expiration(None) is None


def test_receipts_outlive_the_accepted_delivery_age() -> None:
    # Every delivery still accepted has its receipt, so a replay of it is a duplicate.
    assert RECEIPT_RETENTION > MAX_DELIVERY_AGE

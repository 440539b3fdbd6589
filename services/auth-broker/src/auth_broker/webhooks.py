"""TikTok webhooks the broker acts on: SELLER_DEAUTHORIZATION (6), UPCOMING_AUTHORIZATION_EXPIRATION (7).

The signature is checked over the raw body before anything is parsed. TikTok retries
deliveries, so each `tts_notification_id` is applied once (receipt row in the same
transaction as the status change and the event). `handle` takes the request's session and
only flushes; the route's `SessionDep` commits (docs/architecture.md, "The transaction rule").
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from tiktok_shop.webhooks import WebhookEvent, parse_webhook, verify_webhook
from tts_common.errors import BadRequest, Unauthorized

from auth_broker import repository as repo
from auth_broker import transitions
from auth_broker.context import BrokerContext
from auth_broker.models import Connection
from auth_broker.notify import queue

log = logging.getLogger(__name__)

SELLER_DEAUTHORIZATION = 6
UPCOMING_AUTHORIZATION_EXPIRATION = 7
DEAUTHORIZED_REASON = transitions.SELLER_DEAUTHORIZED
# TikTok's last retry comes 12 h after the first attempt. An older delivery is a replay:
# its receipt may already be purged (workers.RECEIPT_RETENTION, which must stay longer
# than this), so it could not be deduplicated and would revoke a later authorization.
MAX_DELIVERY_AGE = timedelta(days=2)
# A webhook sent this long before a connection's current authorization is about an older
# one (the seller re-authorized while TikTok was still retrying it). The slack covers clock
# skew and TikTok's whole-second timestamps: within it, the event is applied.
AUTHORIZATION_SLACK = timedelta(seconds=60)


def predates(conn: Connection, sent: datetime) -> bool:
    """Was this webhook sent before `conn`'s current authorization (so it is not about it)?"""
    return conn.authorized_at is not None and sent < conn.authorized_at - AUTHORIZATION_SLACK


def parse_expiration(value: object) -> datetime | None:
    """`expiration_time` arrives as a string of Unix seconds (sometimes a number)."""
    try:
        seconds = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, UTC)


class WebhookHandler:
    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx

    async def handle(
        self, session: AsyncSession, raw_body: bytes, authorization: str | None
    ) -> str:
        """Verify and apply one delivery; returns what happened (for the 2xx reply and the log)."""
        checked = self.verify(raw_body, authorization)
        if isinstance(checked, str):
            return checked
        return await self.apply(session, checked)

    def verify(self, raw_body: bytes, authorization: str | None) -> WebhookEvent | str:
        """The signed notification to apply, or why there is nothing to apply (no database).

        Raises 401 for a bad signature, 400 for a body that is not a TikTok notification.
        """
        settings = self.ctx.settings
        if not verify_webhook(
            settings.tiktok_app_key,
            settings.tiktok_app_secret.get_secret_value(),
            raw_body,
            authorization,
        ):
            raise Unauthorized("webhook signature does not verify", code="bad_signature")
        try:
            hook = parse_webhook(raw_body)
        # AttributeError: a JSON array, string or number (parse_webhook expects an object).
        except (ValueError, ValidationError, AttributeError):
            raise BadRequest(
                "webhook body is not a TikTok notification", code="bad_webhook"
            ) from None
        if hook.type not in (SELLER_DEAUTHORIZATION, UPCOMING_AUTHORIZATION_EXPIRATION):
            return "ignored"
        sent = datetime.fromtimestamp(hook.timestamp, UTC)
        if sent < self.ctx.clock() - MAX_DELIVERY_AGE:
            # Acknowledged (2xx) so a genuine sender stops retrying, but not applied.
            log.warning(
                "stale tiktok webhook ignored",
                extra={
                    "webhook_type": hook.type,
                    "shop_id": hook.shop_id,
                    "sent": sent.isoformat(),
                },
            )
            return "stale"
        return hook

    async def apply(self, session: AsyncSession, hook: WebhookEvent) -> str:
        """Apply a verified delivery once per `tts_notification_id` (flush only)."""
        sent = datetime.fromtimestamp(hook.timestamp, UTC)
        if not await repo.record_webhook(
            session, hook.tts_notification_id, hook.type, hook.shop_id
        ):
            return "duplicate"
        conns = await repo.connections_for_shop(session, hook.shop_id)
        changed = 0
        for conn in conns:
            if predates(conn, sent):
                continue
            if hook.type == SELLER_DEAUTHORIZATION:
                changed += await self._revoke(session, conn)
            else:
                changed += await self._expiring(
                    session, conn, parse_expiration(hook.data.get("expiration_time"))
                )
        await session.flush()
        log.info(
            "tiktok webhook applied",
            extra={
                "webhook_type": hook.type,
                "shop_id": hook.shop_id,
                "connections": len(conns),
                "changed": changed,
            },
        )
        return "applied" if changed else "nothing to change"

    async def _revoke(self, session: AsyncSession, conn: Connection) -> int:
        event = transitions.revoke(conn, DEAUTHORIZED_REASON)
        if event is None:
            return 0
        await repo.drop_unused_states(session, conn.id)
        await queue(session, event)
        return 1

    async def _expiring(
        self, session: AsyncSession, conn: Connection, expires_at: datetime | None
    ) -> int:
        when = expires_at.isoformat() if expires_at else "soon"
        reason = f"the seller's authorization expires {when}; the seller must re-authorize"
        event = transitions.flag_expiring(conn, reason, expires_at)
        if event is None:  # TikTok repeats this daily for 30 days: emit only on a change
            return 0
        await queue(session, event)
        return 1

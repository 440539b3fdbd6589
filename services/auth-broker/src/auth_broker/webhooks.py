"""TikTok webhooks the broker acts on: SELLER_DEAUTHORIZATION (6), UPCOMING_AUTHORIZATION_EXPIRATION (7).

The signature is checked over the raw body before anything is parsed. TikTok retries
deliveries, so each `tts_notification_id` is applied once (receipt row in the same
transaction as the status change and the event).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from tiktok_shop.webhooks import parse_webhook, verify_webhook
from tts_common.db import session_scope
from tts_common.errors import BadRequest, Unauthorized

from auth_broker import repository as repo
from auth_broker.context import BrokerContext
from auth_broker.models import Connection, Status
from auth_broker.notify import emit
from auth_broker.service import erase_tokens

log = logging.getLogger(__name__)

SELLER_DEAUTHORIZATION = 6
UPCOMING_AUTHORIZATION_EXPIRATION = 7
DEAUTHORIZED_REASON = "the seller deauthorized the app in TikTok Shop"
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

    async def handle(self, raw_body: bytes, authorization: str | None) -> str:
        """Apply one delivery; returns what happened (for the 2xx reply and the log)."""
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
        async with session_scope(self.ctx.sessions) as session:
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
        if conn.status == Status.REVOKED:
            return 0
        erase_tokens(conn)
        conn.status = Status.REVOKED
        conn.status_reason = DEAUTHORIZED_REASON
        await repo.drop_unused_states(session, conn.id)
        await emit(session, conn, "connection.revoked", DEAUTHORIZED_REASON)
        return 1

    async def _expiring(
        self, session: AsyncSession, conn: Connection, expires_at: datetime | None
    ) -> int:
        if conn.status not in (Status.ACTIVE, Status.EXPIRING):
            return 0
        # TikTok repeats this daily for 30 days: emit only when something changed.
        if conn.status == Status.EXPIRING and conn.authorization_expires_at == expires_at:
            return 0
        when = expires_at.isoformat() if expires_at else "soon"
        reason = f"the seller's authorization expires {when}; the seller must re-authorize"
        conn.status = Status.EXPIRING
        conn.status_reason = reason
        conn.authorization_expires_at = expires_at
        await emit(session, conn, "connection.expiring", reason, expires_at=expires_at)
        return 1

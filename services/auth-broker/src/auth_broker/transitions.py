"""Connection status transitions: the one home of status, reason, token erasure and event.

Each named transition changes a `Connection` in memory and returns the `connection.*` event
that announces it (or None when nothing changed, so a repeated webhook or DELETE emits
nothing). The caller queues the event in the outbox of the same session (`notify.queue`), so
the change and its announcement commit together. No database here: unit-tested on plain
objects.

    pending ──authorize──► active ──flag_expiring──► expiring ──authorize──► active
       │                    │  ▲                        │
       └──────revoke────────┴──┼───────────────────────┴──► revoked (tokens erased)
                            expire (refresh refused) ──► expired (tokens erased)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tts_common.events import CloudEvent, make_event
from tts_common.logging import correlation_id

from auth_broker.models import Connection, Status

SOURCE = "/auth-broker"

OPERATOR_DELETED = "deleted by an operator"
SELLER_DEAUTHORIZED = "the seller deauthorized the app in TikTok Shop"


def erase_tokens(conn: Connection) -> None:
    """Forget both tokens; the generation moves on so no lease can hand out the old ones."""
    conn.access_token_enc = None
    conn.refresh_token_enc = None
    conn.access_expires_at = None
    conn.refresh_expires_at = None
    conn.token_generation = (conn.token_generation or 0) + 1


def announce(
    conn: Connection, event_type: str, reason: str | None = None, **extra: datetime | None
) -> CloudEvent:
    """The `connection.*` event for `conn` as it is now (subject = connection id)."""
    data: dict[str, Any] = {
        "connection_id": conn.id,
        "market": conn.market,
        "shop_ids": [s.shop_id for s in conn.shops],
        "reason": reason,
        **{k: v for k, v in extra.items() if v is not None},
    }
    return make_event(event_type, SOURCE, conn.id, data, correlation_id=correlation_id.get())


def authorize(
    conn: Connection,
    *,
    now: datetime,
    seller_name: str | None,
    seller_base_region: str | None,
    open_id: str | None,
    granted_scopes: list[str],
) -> CloudEvent:
    """A grant was stored (tokens already on `conn`): active, reason cleared."""
    conn.status = Status.ACTIVE
    conn.status_reason = None
    conn.seller_name = seller_name or None
    conn.seller_base_region = seller_base_region or None
    conn.open_id = open_id or None
    conn.granted_scopes = list(granted_scopes)
    conn.authorized_at = now
    conn.authorization_expires_at = None
    return announce(conn, "connection.authorized", access_token_expires_at=conn.access_expires_at)


def authorization_failed(conn: Connection, reason: str) -> None:
    """TikTok refused or the wrong seller approved: the status stays, the reason says why."""
    conn.status_reason = reason


def revoke(conn: Connection, reason: str) -> CloudEvent | None:
    """Revoked (operator DELETE or SELLER_DEAUTHORIZATION): tokens erased; once only."""
    if conn.status == Status.REVOKED:
        return None
    erase_tokens(conn)
    conn.status = Status.REVOKED
    conn.status_reason = reason
    return announce(conn, "connection.revoked", reason)


def expire(conn: Connection, reason: str) -> CloudEvent:
    """TikTok refused the refresh token (and nobody rotated it): tokens erased."""
    erase_tokens(conn)
    conn.status = Status.EXPIRED
    conn.status_reason = reason
    return announce(conn, "connection.expired", reason)


def flag_expiring(conn: Connection, reason: str, expires_at: datetime | None) -> CloudEvent | None:
    """The seller's authorization ends soon: expiring (from active, or a new end date).

    None when the connection is not active/expiring, or nothing changed (TikTok repeats its
    UPCOMING_AUTHORIZATION_EXPIRATION webhook daily for 30 days).
    """
    if conn.status not in (Status.ACTIVE, Status.EXPIRING):
        return None
    if conn.status == Status.EXPIRING and conn.authorization_expires_at == expires_at:
        return None
    conn.status = Status.EXPIRING
    conn.status_reason = reason
    conn.authorization_expires_at = expires_at
    return announce(conn, "connection.expiring", reason, expires_at=expires_at)

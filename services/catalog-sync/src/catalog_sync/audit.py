"""TikTok's review of the products a feed sent: the audit result in the feedback.

TikTok reviews every created product and every edit ("Create Product 202309", "Edit Product
202509"): a new product is PENDING until the audit ends in ACTIVATE or FAILED; an edited live
product keeps selling while its new version is AUDITING. TikTok announces the end with the
webhooks PRODUCT_AUDIT_STATUS_CHANGE (type 37: `audit.status` APPROVED / REJECTED) and
PRODUCT_STATUS_CHANGE (type 5: `status`), see "TikTok Shop webhooks overview". A lost webhook
must not leave a product "under review" for ever: the polling safety net reads the products
still AUDITING after `audit_poll_seconds` with "Get Product 202309", which also names the
rejection's reasons (`audit_failed_reasons`).

Ordering: each status carries TikTok's `update_time`; an older one never overwrites a newer
one, so a retried or late webhook (TikTok retries for 12 h) changes nothing. A create or edit
marks the product AUDITING unless a webhook about it arrived while the call was in flight.
Flush only: the webhook route's `SessionDep` or the poll's loop body commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

PRODUCT_STATUS_CHANGE = 5
PRODUCT_AUDIT_STATUS_CHANGE = 37
UNDER_REVIEW = "AUDITING"

_APPLY = text(
    "UPDATE tiktok_products SET"
    " audit_status = coalesce(CAST(:audit AS TEXT), audit_status),"
    " tiktok_status = coalesce(CAST(:status AS TEXT), tiktok_status),"
    " audit_reasons = CASE WHEN CAST(:audit AS TEXT) IS NULL THEN audit_reasons"
    " ELSE :reasons END,"
    " audit_time = :at, audit_checked_at = now()"
    " WHERE tiktok_product_id = :product AND (audit_time IS NULL OR audit_time <= :at)"
).bindparams(bindparam("reasons", type_=JSONB))
_UNDER_REVIEW = text(
    "UPDATE tiktok_products SET audit_status = 'AUDITING', audit_reasons = NULL,"
    " audit_checked_at = now()"
    " WHERE feed_id = :feed AND parent_id = :parent"
    " AND (audit_checked_at IS NULL OR audit_checked_at < :since)"
)
# Claimed by moving their check time (committed before TikTok is asked): another process's
# poll skips them, and a product TikTok does not answer for is asked again an interval later.
_CLAIM = text(
    "UPDATE tiktok_products t SET audit_checked_at = now() FROM feeds f"
    " WHERE f.id = t.feed_id AND (t.feed_id, t.parent_id) IN ("
    "  SELECT t2.feed_id, t2.parent_id FROM tiktok_products t2 JOIN feeds f2"
    "  ON f2.id = t2.feed_id WHERE t2.status = 'live' AND t2.audit_status = 'AUDITING'"
    "  AND t2.audit_checked_at < now() - make_interval(secs => :after)"
    "  AND f2.connection_id IS NOT NULL AND f2.paused_reason IS NULL"
    "  ORDER BY t2.audit_checked_at LIMIT :n FOR UPDATE OF t2 SKIP LOCKED)"
    " RETURNING t.feed_id, t.parent_id, t.tiktok_product_id, f.connection_id"
)


async def apply(
    session: AsyncSession,
    tiktok_product_id: str,
    at: int,
    *,
    audit_status: str | None = None,
    status: str | None = None,
    reasons: list[dict[str, Any]] | None = None,
) -> int:
    """Apply one status TikTok reported at `at` (its update_time); the rows changed."""
    result = await session.execute(
        _APPLY,
        {
            "product": tiktok_product_id,
            "at": at,
            "audit": audit_status,
            "status": status,
            "reasons": reasons or None,
        },
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def from_webhook(event_type: int, data: dict[str, Any], timestamp: int) -> dict[str, Any] | None:
    """`apply`'s arguments for a product webhook, or None for any other type (or no product)."""
    product_id = str(data.get("product_id") or "")
    if not product_id:
        return None
    at = int(data.get("update_time") or timestamp)
    if event_type == PRODUCT_AUDIT_STATUS_CHANGE:
        audit = data.get("audit") or {}
        status = audit.get("status") if isinstance(audit, dict) else None
        if not status:
            return None
        return {"tiktok_product_id": product_id, "at": at, "audit_status": str(status)}
    if event_type == PRODUCT_STATUS_CHANGE and data.get("status"):
        return {"tiktok_product_id": product_id, "at": at, "status": str(data["status"])}
    return None


def from_product(product: Any) -> dict[str, Any]:
    """`apply`'s arguments from a "Get Product 202309" answer (the polling safety net)."""
    audit = product.audit.status if product.audit is not None else None
    return {
        "tiktok_product_id": str(product.id),
        "at": int(product.update_time or 0),
        "audit_status": audit,
        "status": product.status,
        "reasons": list(product.audit_failed_reasons) if audit == "REJECTED" else None,
    }


async def under_review(
    session: AsyncSession, feed_id: str, parent_id: str, since: datetime
) -> None:
    """TikTok accepted a create or edit sent at `since`: its review is pending — unless a
    status about it already arrived meanwhile (a fast audit's webhook can beat our commit)."""
    await session.execute(*under_review_op(feed_id, parent_id, since))


def under_review_op(feed_id: str, parent_id: str, since: datetime) -> tuple[Any, dict[str, Any]]:
    """`under_review` as a statement and its parameters (the run's group commit)."""
    return _UNDER_REVIEW, {"feed": feed_id, "parent": parent_id, "since": since}


async def claim_due(session: AsyncSession, after_seconds: float, limit: int) -> list[Any]:
    """Products still under review and not heard of for `after_seconds`, claimed for one poll
    (commit before asking TikTok: no transaction is held while it answers)."""
    return list(await session.execute(_CLAIM, {"after": after_seconds, "n": limit}))

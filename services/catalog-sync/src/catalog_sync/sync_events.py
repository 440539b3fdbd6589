"""The events a product's run result announces: `product.synced`, `product.sync-failed`,
`product.deleted` on `tiktok.product-synced.v1` (docs/feeds.md, "Events").

Queued in the outbox in the same transaction as the product's feedback and history
(docs/architecture.md, "The transaction rule"), so a result and its event commit together or
not at all. One event per product per run, keyed by feed and parent: a consumer sees one
product's events in order.

- any action failed (or the product failed readiness and was not sent) → `product.sync-failed`
  with TikTok's codes, or the readiness issues (`code: "not_ready"`);
- otherwise a delete that TikTok accepted → `product.deleted`;
- otherwise a create, edit, adoption, price or inventory update TikTok accepted →
  `product.synced` (the most significant action of the product's run: create, adopt, edit,
  price, inventory);
- nothing for a skipped, deferred (listing cap), planned (dry run) or reconcile-only product.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.events import (
    PRODUCT_SYNCED,
    ProductDeleted,
    ProductSynced,
    ProductSyncFailed,
    SyncError,
    make_event,
)
from tts_common.outbox import add_event, add_events

from catalog_sync.state import Outcome

SOURCE = "/catalog-sync"
SYNCED = ("create", "adopt", "edit", "price", "inventory")  # most significant first
FAILED = ("failed", "not_ready")
_ROW = text(
    "SELECT status, tiktok_product_id, skus FROM tiktok_products"
    " WHERE feed_id = :feed AND parent_id = :parent"
)
_ROWS = text(
    "SELECT parent_id, status, tiktok_product_id, skus FROM tiktok_products"
    " WHERE feed_id = :feed AND parent_id = ANY(:parents)"
)


def _errors(outcome: Outcome) -> list[SyncError]:
    if outcome.outcome == "not_ready":
        return [
            SyncError(
                code="not_ready",
                message=(
                    f"{e['attribute']}: {e.get('message', '')}"
                    if e.get("attribute")
                    else e.get("message", "")
                ),
            )
            for e in outcome.errors
        ] or [SyncError(code="not_ready", message=outcome.message or "not ready")]
    return [
        SyncError(
            code=outcome.code if outcome.code is not None else outcome.action,
            message=outcome.message or f"{outcome.action} failed",
            request_id=outcome.request_id,
        )
    ]


def event_for(
    feed_id: str,
    parent_id: str,
    run_id: str,
    outcomes: Sequence[Outcome],
    row: Any | None,
    product_ids: Sequence[str] = (),
) -> tuple[str, Any] | None:
    """(CloudEvents type, data) for one product's outcomes in a run, or None.

    `row` is the product's `tiktok_products` row after the outcomes were recorded (None when
    TikTok has never had it); `product_ids` the variants' ids when the run read them."""
    ids = list(product_ids) or sorted((row.skus or {}) if row is not None else ())
    tiktok_id = row.tiktok_product_id if row is not None else None
    failed = [o for o in outcomes if o.outcome in FAILED]
    if failed:
        first = failed[0]
        action = first.action
        if action not in ("create", "edit", "delete", "adopt", "price", "inventory"):
            # not sent (readiness, images, preparation): the action it needed
            action = "edit" if row is not None and row.status == "live" else "create"
        errors = [e for o in failed for e in _errors(o)]
        return "product.sync-failed", ProductSyncFailed(
            feed_id=feed_id,
            parent_id=parent_id,
            product_ids=ids,
            action=action,
            errors=errors,
            run_id=run_id,
        )
    ok = {o.action for o in outcomes if o.outcome == "ok"}
    if "delete" in ok:
        return "product.deleted", ProductDeleted(
            feed_id=feed_id, product_id=parent_id, parent_id=parent_id, tiktok_product_id=tiktok_id
        )
    synced = next((a for a in SYNCED if a in ok), None)
    if synced is None or tiktok_id is None:
        return None
    skus = (row.skus or {}) if row is not None else {}
    return "product.synced", ProductSynced(
        feed_id=feed_id,
        parent_id=parent_id,
        product_ids=ids,
        tiktok_product_id=tiktok_id,
        action=synced,  # type: ignore[arg-type]  # one of SYNCED
        sku_ids={s: str(v["sku_id"]) for s, v in skus.items() if v.get("sku_id")},
        run_id=run_id,
    )


async def queue(
    session: AsyncSession,
    feed_id: str,
    parent_id: str,
    run_id: str,
    outcomes: Sequence[Outcome],
    product_ids: Sequence[str] = (),
) -> None:
    """Queue the product's event (if any) in `session`'s transaction; flush only."""
    row = (await session.execute(_ROW, {"feed": feed_id, "parent": parent_id})).first()
    found = event_for(feed_id, parent_id, run_id, outcomes, row, product_ids)
    if found is None:
        return
    event_type, data = found
    event = make_event(event_type, SOURCE, f"{feed_id}/{parent_id}", data)
    await add_event(session, PRODUCT_SYNCED, f"{feed_id}:{parent_id}", event)


async def queue_many(
    session: AsyncSession,
    feed_id: str,
    run_id: str,
    results: Sequence[tuple[str, Sequence[Outcome], Sequence[str]]],
) -> None:
    """`queue` for several products (parent id, outcomes, variant ids) of one feed: their
    rows read in one query, their events queued in one statement; flush only."""
    if not results:
        return
    found = await session.execute(_ROWS, {"feed": feed_id, "parents": [r[0] for r in results]})
    rows = {row.parent_id: row for row in found}
    events = []
    for parent_id, outcomes, product_ids in results:
        made = event_for(feed_id, parent_id, run_id, outcomes, rows.get(parent_id), product_ids)
        if made is None:
            continue
        event_type, data = made
        event = make_event(event_type, SOURCE, f"{feed_id}/{parent_id}", data)
        events.append((PRODUCT_SYNCED, f"{feed_id}:{parent_id}", event))
    await add_events(session, events)

"""The export's memory per product: what TikTok accepted, the feedback, the history.

`tiktok_products` holds, per feed and parent, the TikTok product id, the status (creating /
unknown / live / failed / deleted), the canonical hashes of the last accepted payload and the
SKU ids; `feedback` the last action's outcome and TikTok's answer (the feedback file);
`product_history` every attempt. Flush only: the run commits the results of the products in
flight together, one transaction per batch (`catalog_sync.batching`; docs/architecture.md,
"The transaction rule"), so the writes come as statements with their parameters (`Op`) and
set-based functions (`apply`, `record_many`) as well as one product at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_sync.delta import Stored, StoredSku

_LOAD = text(
    "SELECT parent_id, status, tiktok_product_id, content_hash, skus, payload"
    " FROM tiktok_products WHERE feed_id = :feed AND parent_id = ANY(:parents)"
)
_SAVE = text(
    "INSERT INTO tiktok_products (feed_id, parent_id, status, tiktok_product_id, content_hash,"
    " skus, payload, updated_at)"
    " VALUES (:feed, :parent, :status, :product, :content, :skus, :payload, now())"
    " ON CONFLICT (feed_id, parent_id) DO UPDATE SET status = EXCLUDED.status,"
    " tiktok_product_id = EXCLUDED.tiktok_product_id, content_hash = EXCLUDED.content_hash,"
    " skus = EXCLUDED.skus, payload = EXCLUDED.payload, updated_at = now(),"
    " source_fingerprint = NULL"
).bindparams(bindparam("skus", type_=JSONB), bindparam("payload", type_=JSONB))
_STATUS = text(
    "UPDATE tiktok_products SET status = :status, updated_at = now(), source_fingerprint = NULL"
    " WHERE feed_id = :feed AND parent_id = :parent"
)
_FEEDBACK = text(
    "INSERT INTO feedback (feed_id, parent_id, action, outcome, code, message, request_id,"
    " errors, run_id, at)"
    " VALUES (:feed, :parent, :action, :outcome, :code, :message, :request_id, :errors, :run, now())"
    " ON CONFLICT (feed_id, parent_id) DO UPDATE SET action = EXCLUDED.action,"
    " outcome = EXCLUDED.outcome, code = EXCLUDED.code, message = EXCLUDED.message,"
    " request_id = EXCLUDED.request_id, errors = EXCLUDED.errors, run_id = EXCLUDED.run_id,"
    " at = now()"
).bindparams(bindparam("errors", type_=JSONB))
_HISTORY = text(
    "INSERT INTO product_history (feed_id, parent_id, run_id, action, outcome, payload_hash,"
    " changed_fields, response)"
    " VALUES (:feed, :parent, :run, :action, :outcome, :hash, :changed, :response)"
).bindparams(bindparam("changed", type_=JSONB), bindparam("response", type_=JSONB))


# One statement and its parameters: a product's state change, written later with others.
Op = tuple[TextClause, dict[str, Any]]


@dataclass(frozen=True)
class Record:
    """A `tiktok_products` row: the planner's `Stored` plus the last accepted payload."""

    stored: Stored
    payload: dict[str, Any] | None


def _stored(row: Any) -> Record:
    skus = {
        seller_sku: StoredSku(v.get("price_hash", ""), v.get("inventory_hash", ""), v.get("sku_id"))
        for seller_sku, v in (row.skus or {}).items()
    }
    return Record(Stored(row.status, row.tiktok_product_id, row.content_hash, skus), row.payload)


async def load(session: AsyncSession, feed_id: str, parents: Sequence[str]) -> dict[str, Record]:
    if not parents:
        return {}
    result = await session.execute(_LOAD, {"feed": feed_id, "parents": list(parents)})
    return {row.parent_id: _stored(row) for row in result}


def save_op(
    feed_id: str,
    parent_id: str,
    *,
    status: str,
    tiktok_product_id: str | None,
    content_hash: str | None,
    skus: Mapping[str, StoredSku],
    payload: dict[str, Any] | None,
) -> Op:
    return _SAVE, {
        "feed": feed_id,
        "parent": parent_id,
        "status": status,
        "product": tiktok_product_id,
        "content": content_hash,
        "skus": {
            s: {"price_hash": v.price_hash, "inventory_hash": v.inventory_hash, "sku_id": v.sku_id}
            for s, v in skus.items()
        },
        "payload": payload,
    }


async def save(
    session: AsyncSession,
    feed_id: str,
    parent_id: str,
    *,
    status: str,
    tiktok_product_id: str | None,
    content_hash: str | None,
    skus: Mapping[str, StoredSku],
    payload: dict[str, Any] | None,
) -> None:
    stmt, params = save_op(
        feed_id,
        parent_id,
        status=status,
        tiktok_product_id=tiktok_product_id,
        content_hash=content_hash,
        skus=skus,
        payload=payload,
    )
    await session.execute(stmt, params)


def status_op(feed_id: str, parent_id: str, status: str) -> Op:
    return _STATUS, {"feed": feed_id, "parent": parent_id, "status": status}


async def set_status(session: AsyncSession, feed_id: str, parent_id: str, status: str) -> None:
    await session.execute(*status_op(feed_id, parent_id, status))


async def apply(session: AsyncSession, sequences: Sequence[Sequence[Op]]) -> None:
    """Several products' ops (one sequence each, in its order) set-based: the i-th ops of all
    sequences go together, one executemany per statement. Products are independent rows, so
    only each sequence's own order has to hold."""
    depth = max((len(ops) for ops in sequences), default=0)
    for i in range(depth):
        grouped: dict[TextClause, list[dict[str, Any]]] = {}
        for ops in sequences:
            if i < len(ops):
                stmt, params = ops[i]
                grouped.setdefault(stmt, []).append(params)
        for stmt, rows in grouped.items():
            await session.execute(stmt, rows)


@dataclass(frozen=True)
class Outcome:
    """One product's result in a run: what the feedback file shows."""

    action: str
    outcome: str  # ok | failed | skipped | not_ready | deferred | planned
    code: int | None = None
    message: str | None = None
    request_id: str | None = None
    errors: tuple[dict[str, str], ...] = ()


def _feedback_row(feed_id: str, parent_id: str, run_id: str, outcome: Outcome) -> dict[str, Any]:
    return {
        "feed": feed_id,
        "parent": parent_id,
        "action": outcome.action,
        "outcome": outcome.outcome,
        "code": outcome.code,
        "message": outcome.message,
        "request_id": outcome.request_id,
        "errors": list(outcome.errors),
        "run": run_id,
    }


def _history_row(
    feed_id: str,
    parent_id: str,
    run_id: str,
    outcome: Outcome,
    payload_hash: str | None = None,
    changed: list[str] | None = None,
    response: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "feed": feed_id,
        "parent": parent_id,
        "run": run_id,
        "action": outcome.action,
        "outcome": outcome.outcome,
        "hash": payload_hash,
        "changed": changed,
        "response": response,
    }


async def record(
    session: AsyncSession,
    feed_id: str,
    parent_id: str,
    run_id: str,
    outcome: Outcome,
    *,
    payload_hash: str | None = None,
    changed: list[str] | None = None,
    response: dict[str, Any] | None = None,
    feedback_enabled: bool = True,
) -> None:
    """The product's feedback row (when enabled) and one history entry."""
    if feedback_enabled:
        await session.execute(_FEEDBACK, _feedback_row(feed_id, parent_id, run_id, outcome))
    await session.execute(
        _HISTORY,
        _history_row(feed_id, parent_id, run_id, outcome, payload_hash, changed, response),
    )


async def record_many(
    session: AsyncSession,
    feed_id: str,
    run_id: str,
    results: Sequence[tuple[str, Sequence[Outcome]]],
    *,
    feedback_enabled: bool = True,
) -> None:
    """`record` for several products' outcomes (parent id, outcomes): a history entry per
    outcome, the feedback of each product's last one; one executemany per table."""
    history = [
        _history_row(feed_id, parent_id, run_id, outcome)
        for parent_id, outcomes in results
        for outcome in outcomes
    ]
    if feedback_enabled:
        feedback = [
            _feedback_row(feed_id, parent_id, run_id, outcomes[-1])
            for parent_id, outcomes in results
            if outcomes
        ]
        if feedback:
            await session.execute(_FEEDBACK, feedback)
    if history:
        await session.execute(_HISTORY, history)


async def uncertain_parents(session: AsyncSession, feed_id: str) -> dict[str, Record]:
    """The feed's products whose last create or edit has no known outcome."""
    result = await session.execute(
        text(
            "SELECT parent_id, status, tiktok_product_id, content_hash, skus, payload"
            " FROM tiktok_products WHERE feed_id = :feed AND status IN ('creating', 'unknown')"
        ),
        {"feed": feed_id},
    )
    return {row.parent_id: _stored(row) for row in result}


async def live_parents(session: AsyncSession, feed_id: str) -> dict[str, str]:
    """parent id -> TikTok product id of every product TikTok has for the feed."""
    result = await session.execute(
        text(
            "SELECT parent_id, tiktok_product_id FROM tiktok_products"
            " WHERE feed_id = :feed AND status IN ('live', 'failed')"
            " AND tiktok_product_id IS NOT NULL"
        ),
        {"feed": feed_id},
    )
    return {r.parent_id: r.tiktok_product_id for r in result}

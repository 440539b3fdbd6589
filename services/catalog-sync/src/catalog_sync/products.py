"""Single products of a source: read, upsert, delete — by HTTP or `product-changed` events.

Each function flushes only: the route's `SessionDep` or the consumer runner commits (for an
event, in the same transaction as its inbox row, so a redelivered event changes nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.errors import NotFound
from tts_common.events import ProductDeleted, ProductUpserted
from tts_common.fabric_errors import NonRetriableError

from catalog_sync import feeds
from catalog_sync.intake import row_hash
from catalog_sync.schemas import has_nul

log = logging.getLogger(__name__)

_UPSERT_ONE = text(
    "WITH old AS (SELECT parent_id FROM source_products"
    "   WHERE source_id = :source AND product_id = :product),"
    # A new variant goes after its parent's others (the first row is the main product).
    " up AS (INSERT INTO source_products (source_id, product_id, parent_id, seq, data, hash)"
    "   VALUES (:source, :product, :parent, (SELECT coalesce(max(seq) + 1, 0)"
    "     FROM source_products WHERE source_id = :source AND parent_id = :parent), :data, :hash)"
    "   ON CONFLICT (source_id, product_id) DO UPDATE SET parent_id = EXCLUDED.parent_id,"
    "   data = EXCLUDED.data, hash = EXCLUDED.hash, updated_at = now()"
    "   WHERE source_products.hash <> EXCLUDED.hash RETURNING 1)"
    " INSERT INTO dirty_parents (source_id, parent_id)"
    " SELECT :source, p FROM (SELECT :parent AS p UNION SELECT parent_id FROM old) ps"
    " WHERE EXISTS (SELECT 1 FROM up)"
    " ON CONFLICT (source_id, parent_id) DO UPDATE SET marked_at = clock_timestamp()"
    " RETURNING 1"
).bindparams(bindparam("data", type_=JSONB))
_DELETE_ONE = text(
    "WITH gone AS (DELETE FROM source_products WHERE source_id = :source AND product_id = :product"
    "   RETURNING parent_id)"
    " INSERT INTO dirty_parents (source_id, parent_id) SELECT :source, parent_id FROM gone"
    " ON CONFLICT (source_id, parent_id) DO UPDATE SET marked_at = clock_timestamp()"
    " RETURNING parent_id"
)
_GET_ONE = text(
    "SELECT product_id, parent_id, data, updated_at FROM source_products"
    " WHERE source_id = :source AND product_id = :product"
)


def as_row(attributes: Mapping[str, Any], product_id: str, parent_id: str) -> dict[str, str]:
    """An event's or JSON body's attributes as a source row (every value a string).

    Lists become `#`-joined multi-values, numbers their JSON text, null the empty string.
    """
    row: dict[str, str] = {}
    for key, value in attributes.items():
        if value is None:
            row[key] = ""
        elif isinstance(value, str):
            row[key] = value
        elif isinstance(value, bool):
            row[key] = "true" if value else "false"
        elif isinstance(value, list):
            row[key] = "#".join("" if v is None else str(v) for v in value)
        elif isinstance(value, int | float):
            row[key] = str(value)
        else:
            row[key] = orjson.dumps(value).decode()
    row["product_id"] = product_id
    row["parent_id"] = parent_id or product_id
    return row


async def upsert_one(session: AsyncSession, source_id: str, row: dict[str, str]) -> bool:
    """Store one variant row; True when it was new or changed (False: identical)."""
    product_id, parent_id = row["product_id"], row.get("parent_id") or row["product_id"]
    result = await session.execute(
        _UPSERT_ONE,
        {
            "source": source_id,
            "product": product_id,
            "parent": parent_id,
            "data": row,
            "hash": row_hash(parent_id, row),
        },
    )
    return result.first() is not None


async def delete_one(session: AsyncSession, source_id: str, product_id: str) -> bool:
    """Delete one variant row; False when there was none."""
    result = await session.execute(_DELETE_ONE, {"source": source_id, "product": product_id})
    return result.first() is not None


async def get_one(session: AsyncSession, source_id: str, product_id: str) -> dict[str, Any]:
    row = (await session.execute(_GET_ONE, {"source": source_id, "product": product_id})).first()
    if row is None:
        raise NotFound(f"product {product_id} is not in source {source_id}")
    return {
        "source_id": source_id,
        "product_id": row.product_id,
        "parent_id": row.parent_id,
        "data": row.data,
        "updated_at": row.updated_at,
    }


async def rows_of_parent(
    session: AsyncSession, source_id: str, parent_id: str
) -> list[dict[str, str]]:
    """The variant rows of one parent, in a stable order (the first is the main product)."""
    result = await session.execute(
        text(
            "SELECT data FROM source_products WHERE source_id = :source AND parent_id = :parent"
            " ORDER BY seq, product_id"
        ),
        {"source": source_id, "parent": parent_id},
    )
    return [dict(r.data) for r in result]


# --- product-changed events from outside producers (the PIM) ------------------------------


async def on_product_upserted(session: AsyncSession, data: ProductUpserted) -> None:
    feed = await feeds.get_feed(session, data.feed_id)  # unknown feed → NotFound → DLQ
    row = as_row(data.attributes, data.product_id, data.parent_id)
    if has_nul(row):
        raise NonRetriableError("an attribute holds a NUL character or a lone surrogate")
    await upsert_one(session, feed.source_id, row)


async def on_product_deleted(session: AsyncSession, data: ProductDeleted) -> None:
    feed = await feeds.get_feed(session, data.feed_id)
    await delete_one(session, feed.source_id, data.product_id)

"""Feeds and their sources: create, read, update, delete (flush only; the entrypoint commits)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from tts_common.errors import Conflict, NotFound

from catalog_sync.models import Feed, Source
from catalog_sync.schemas import FeedIn, FeedPatch

log = logging.getLogger(__name__)

NULLABLE = frozenset({"connection_id", "schedule", "warehouse_id"})


async def ensure_source(session: AsyncSession, source_id: str, name: str | None = None) -> Source:
    source = await session.get(Source, source_id)
    if source is None:
        source = Source(id=source_id, name=name or source_id)
        session.add(source)
        await session.flush()
    return source


async def get_feed(session: AsyncSession, feed_id: str) -> Feed:
    try:
        uuid.UUID(feed_id)
    except ValueError:
        raise NotFound(f"feed {feed_id} does not exist") from None
    feed = await session.scalar(
        select(Feed)
        .where(Feed.id == feed_id)
        .options(selectinload(Feed.lists))
        .execution_options(populate_existing=True)
    )
    if feed is None:
        raise NotFound(f"feed {feed_id} does not exist")
    return feed


async def feed_by_name(session: AsyncSession, name: str) -> Feed | None:
    return await session.scalar(
        select(Feed)
        .where(Feed.name == name)
        .options(selectinload(Feed.lists))
        .execution_options(populate_existing=True)
    )


async def list_feeds(session: AsyncSession) -> Sequence[Feed]:
    result = await session.scalars(
        select(Feed).options(selectinload(Feed.lists)).order_by(Feed.name)
    )
    return result.all()


async def create_feed(session: AsyncSession, body: FeedIn) -> Feed:
    if await feed_by_name(session, body.name) is not None:
        raise Conflict(f"a feed named {body.name!r} exists already", code="feed_exists")
    source_id = body.source_id or body.name
    await ensure_source(session, source_id)
    feed = Feed(
        id=str(uuid.uuid4()),
        name=body.name,
        source_id=source_id,
        **_settings(body.model_dump(exclude={"name", "source_id"})),
    )
    session.add(feed)
    await session.flush()
    log.info("feed created", extra={"feed_id": feed.id, "feed": feed.name, "market": feed.market})
    return await get_feed(session, feed.id)


def _settings(values: dict[str, Any]) -> dict[str, Any]:
    if values.get("connection_id") is not None:
        values["connection_id"] = str(values["connection_id"])
    return values


async def update_feed(session: AsyncSession, feed_id: str, patch: FeedPatch) -> Feed:
    feed = await get_feed(session, feed_id)
    # null clears what may be empty (the connection, the schedule); for anything else it
    # means "unchanged", like an absent field.
    changes = _settings(
        {
            k: v
            for k, v in patch.model_dump(exclude_unset=True).items()
            if v is not None or k in NULLABLE
        }
    )
    changed = False
    for key, value in changes.items():
        if getattr(feed, key) != value:
            setattr(feed, key, value)
            changed = True
    if changed:
        feed.version += 1
        await session.flush()
    return await get_feed(session, feed_id)


async def delete_feed(session: AsyncSession, feed_id: str) -> Feed:
    """Delete a feed (its lists go with it; its source stays for the other feeds)."""
    feed = await get_feed(session, feed_id)
    await session.delete(feed)
    await session.flush()
    log.info("feed deleted", extra={"feed_id": feed_id})
    return feed


async def feeds_of_source(session: AsyncSession, source_id: str) -> Sequence[Feed]:
    result = await session.scalars(
        select(Feed).where(Feed.source_id == source_id).options(selectinload(Feed.lists))
    )
    return result.all()


async def product_count(session: AsyncSession, source_id: str) -> int:
    return int(
        (
            await session.execute(
                text("SELECT count(*) FROM source_products WHERE source_id = :s"), {"s": source_id}
            )
        ).scalar_one()
    )


async def source_exists(session: AsyncSession, source_id: str) -> bool:
    return bool(await session.scalar(select(func.count()).where(Source.id == source_id)))

"""The feed file's "accept above score X": suggestions applied without a confirmation.

A list that declares `accept_above_score` gets, after each upload and each feed-file apply,
the best text suggestion of every unmapped value applied when it scores at least X (never an
invite-only category). Text similarity only, over the taxonomy cache (no TikTok call on the
upload path; `POST …/suggestions:accept` adds TikTok's recommend-category call on demand).
Lists without the declaration are never changed here: suggestions wait for a confirmation.
Flush only; the entrypoint commits.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from catalog_sync import lists, taxonomy_cache
from catalog_sync.models import Feed, MappingList
from catalog_sync.suggest import SuggestionIndex, accept_suggestions, suggest_text

log = logging.getLogger(__name__)

_CATEGORY_MARKETS = {"tiktok_us_categories": "US", "tiktok_uk_categories": "UK"}


async def _index(session: AsyncSession, feed: Feed, lst: MappingList) -> SuggestionIndex | None:
    market = _CATEGORY_MARKETS.get(lst.taxonomy)
    if market is not None:
        categories = await taxonomy_cache.cached_categories(session, market)
        return SuggestionIndex.for_categories(categories.values()) if categories else None
    if lst.taxonomy == "tiktok_brands" and feed.connection_id:
        brands = await taxonomy_cache.cached_brands(session, feed.market, feed.connection_id)
        return SuggestionIndex.for_brands(brands.values()) if brands else None
    return None  # predefined values: chosen per category attribute, not by text


async def apply_declared(session: AsyncSession, feed: Feed) -> int:
    """Apply the suggestions each list's `accept_above_score` accepts; how many were set."""
    applied = 0
    for lst in feed.lists:
        threshold = lst.accept_above_score
        if threshold is None or threshold <= 0:
            continue
        index = await _index(session, feed, lst)
        if index is None:
            continue  # nothing cached yet: the next upload after a taxonomy refresh tries again
        values = [v for v, _ in await lists.rows(session, lst, unmapped_only=True)]
        if not values:
            continue
        chosen = accept_suggestions(
            suggest_text(values, index, limit=1, min_score=threshold), min_score=threshold
        )
        applied += await lists.set_mappings(session, lst, chosen)
        if chosen:
            log.info(
                "suggestions accepted above the declared score",
                extra={"feed_id": feed.id, "list": lst.name, "accepted": len(chosen)},
            )
    return applied

"""TikTok taxonomies cached in PostgreSQL (`taxonomy_cache`), refreshed after a TTL or on demand.

What is cached, keyed `(market, kind, key)` (docs/feeds.md, "Taxonomies over HTTP"):

| kind | key | payload | TikTok operation |
|---|---|---|---|
| `categories` | the market's category version (`v1` UK, `v2` US) | `[TaxonomyCategory]` | "Get Categories 202309" |
| `brands` | `<connection id>/<category id or *>` | `[TaxonomyBrand]` | "Get Brands 202309", every page |
| `attributes` | category id | `[CategoryAttribute]` | "Get Attributes 202309" |
| `rules` | category id | `CategoryRuleSummary` | "Get Category Rules 202309" |

Categories, attributes and rules are the market's (any shop of the market sees the same
tree); brands carry the shop's authorization status, so they are cached per connection.
Payloads are the models of `catalog_sync.taxonomy` as `model_dump(mode="json")`: reading one
back validates it, it never calls TikTok. An entry younger than the TTL is served as is; an
older one is fetched again through the feed's connection. Without a connection (or when
TikTok or the broker is unavailable, 503) a stale entry is still served, marked `stale`.

Freshness is judged by PostgreSQL's clock (`now()`), so every replica agrees. Writes only
flush: the request that fetched commits them. Two requests finding the same entry stale both
fetch it (reads of TikTok are idempotent); the last write wins.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import pydantic
from sqlalchemy import Column, DateTime, MetaData, Table, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from tiktok_shop import TikTokError
from tiktok_shop.catalog import CatalogApi
from tts_common.errors import AppError, Conflict, Unavailable

from catalog_sync.classify import SchemaAttribute, schema_for
from catalog_sync.models import Feed
from catalog_sync.readiness import ReadinessAnalyzer
from catalog_sync.taxonomy import (
    CategoryAttribute,
    CategoryRuleSummary,
    TaxonomyBrand,
    TaxonomyCategory,
    category_version,
    fetch_attributes,
    fetch_brands,
    fetch_categories,
    fetch_rules,
)
from catalog_sync.tiktok import NO_CONNECTION, TikTok, translate

log = logging.getLogger(__name__)

T = TypeVar("T")

CATEGORIES = "categories"
BRANDS = "brands"
ATTRIBUTES = "attributes"
RULES = "rules"
ALL_CATEGORIES = "*"  # brand key of the shop's brands whatever the category
# TikTok calls a refresh makes at once (the client paces them per shop and operation).
REFRESH_CONCURRENCY = 4
# Answers saying a cached category is gone from TikTok's tree (tiktok.translate's codes).
_GONE = frozenset({"category_not_found", "category_not_leaf"})

_metadata = MetaData()
cache_table = Table(
    "taxonomy_cache",
    _metadata,
    Column("market", Text, primary_key=True),
    Column("kind", Text, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("payload", JSONB, nullable=False),
    Column("fetched_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

_CATEGORY_LIST = pydantic.TypeAdapter(list[TaxonomyCategory])
_BRAND_LIST = pydantic.TypeAdapter(list[TaxonomyBrand])
_ATTRIBUTE_LIST = pydantic.TypeAdapter(list[CategoryAttribute])
_RULES = pydantic.TypeAdapter(CategoryRuleSummary)
ADAPTERS: dict[str, pydantic.TypeAdapter[Any]] = {
    CATEGORIES: _CATEGORY_LIST,
    BRANDS: _BRAND_LIST,
    ATTRIBUTES: _ATTRIBUTE_LIST,
    RULES: _RULES,
}


Call = Callable[[CatalogApi], Awaitable[T]]


def _categories_call(market: str) -> Call[list[TaxonomyCategory]]:
    return lambda api: fetch_categories(api, market)


def _brands_call(market: str, category_id: str | None) -> Call[list[TaxonomyBrand]]:
    return lambda api: fetch_brands(api, market, category_id=category_id)


def _attributes_call(market: str, category_id: str) -> Call[list[CategoryAttribute]]:
    return lambda api: fetch_attributes(api, market, category_id)


def _rules_call(market: str, category_id: str) -> Call[CategoryRuleSummary]:
    return lambda api: fetch_rules(api, market, category_id)


def brand_key(connection_id: str, category_id: str | None) -> str:
    return f"{connection_id}/{category_id or ALL_CATEGORIES}"


@dataclass(frozen=True)
class Cached(Generic[T]):
    """A taxonomy as served: its value, when TikTok answered it, and how it was served."""

    value: T
    fetched_at: datetime
    from_cache: bool  # served without calling TikTok
    stale: bool = False  # older than the TTL (or refresh asked) and served anyway


@dataclass(frozen=True)
class _Row:
    payload: Any
    fetched_at: datetime
    fresh: bool


# --- the table ----------------------------------------------------------------------------

_LOAD = text(
    "SELECT payload, fetched_at, fetched_at > now() - make_interval(secs => :ttl) AS fresh"
    " FROM taxonomy_cache WHERE market = :market AND kind = :kind AND key = :key"
)


async def _load(
    session: AsyncSession, market: str, kind: str, key: str, ttl_seconds: float
) -> _Row | None:
    row = (
        await session.execute(
            _LOAD, {"market": market, "kind": kind, "key": key, "ttl": float(ttl_seconds)}
        )
    ).first()
    return None if row is None else _Row(row.payload, row.fetched_at, bool(row.fresh))


async def _save(session: AsyncSession, market: str, kind: str, key: str, payload: Any) -> datetime:
    insert = pg_insert(cache_table).values(market=market, kind=kind, key=key, payload=payload)
    upsert = insert.on_conflict_do_update(
        index_elements=["market", "kind", "key"],
        set_={"payload": insert.excluded.payload, "fetched_at": func.now()},
    ).returning(cache_table.c.fetched_at)
    fetched_at: datetime = (await session.execute(upsert)).scalar_one()
    return fetched_at


async def _store(session: AsyncSession, market: str, kind: str, key: str, value: Any) -> datetime:
    """Write one entry as TikTok answered it: its models as JSON, fetched now."""
    return await _save(session, market, kind, key, ADAPTERS[kind].dump_python(value, mode="json"))


def _parse(kind: str, market: str, key: str, payload: Any) -> Any | None:
    """A stored payload as its models; None (refetch) for one an older version wrote."""
    try:
        return ADAPTERS[kind].validate_python(payload)
    except pydantic.ValidationError:
        log.warning(
            "taxonomy cache entry unreadable, fetching it again",
            extra={"market": market, "kind": kind, "key": key},
        )
        return None


async def _keys(session: AsyncSession, market: str, kind: str, key_prefix: str = "") -> list[str]:
    rows = await session.execute(
        text(
            "SELECT key FROM taxonomy_cache WHERE market = :market AND kind = :kind"
            " AND starts_with(key, :prefix) ORDER BY key"
        ),
        {"market": market, "kind": kind, "prefix": key_prefix},
    )
    return [str(r.key) for r in rows]


async def _entries(
    session: AsyncSession, market: str, kind: str, key_prefix: str = ""
) -> list[tuple[str, Any]]:
    rows = await session.execute(
        text(
            "SELECT key, payload FROM taxonomy_cache WHERE market = :market AND kind = :kind"
            " AND starts_with(key, :prefix) ORDER BY key"
        ),
        {"market": market, "kind": kind, "prefix": key_prefix},
    )
    return [(r.key, r.payload) for r in rows]


# --- what other modules read without TikTok ---------------------------------------------------


async def cached_categories(session: AsyncSession, market: str) -> dict[str, TaxonomyCategory]:
    """The market's cached category tree by id (empty when none is cached)."""
    row = await _load(session, market, CATEGORIES, category_version(market), 0)
    value = _parse(CATEGORIES, market, "", row.payload) if row else None
    return {c.id: c for c in value or ()}


async def cached_brands(
    session: AsyncSession, market: str, connection_id: str
) -> dict[str, TaxonomyBrand]:
    """The connection's cached brands by id (whatever the category; empty when not cached)."""
    key = brand_key(connection_id, None)
    row = await _load(session, market, BRANDS, key, 0)
    value = _parse(BRANDS, market, key, row.payload) if row else None
    return {b.id: b for b in value or ()}


async def readiness_analyzer(session: AsyncSession, feed: Feed) -> ReadinessAnalyzer:
    """The Analyzer for `feed` over what the cache holds: the category schemas, the market's
    categories (invite-only, leaf) and the feed connection's brands (authorization)."""
    brands = (
        await cached_brands(session, feed.market, feed.connection_id) if feed.connection_id else {}
    )
    return ReadinessAnalyzer(
        await cached_schemas(session, feed.market),
        market=feed.market,
        categories=await cached_categories(session, feed.market) or None,
        brands=brands or None,
    )


async def cached_schemas(
    session: AsyncSession, market: str
) -> Mapping[str, Sequence[SchemaAttribute]]:
    """category id -> export schema, for every category whose attributes are cached."""
    rules: dict[str, CategoryRuleSummary] = {}
    for key, payload in await _entries(session, market, RULES):
        parsed = _parse(RULES, market, key, payload)
        if parsed is not None:
            rules[key] = parsed
    out: dict[str, Sequence[SchemaAttribute]] = {}
    for key, payload in await _entries(session, market, ATTRIBUTES):
        attrs = _parse(ATTRIBUTES, market, key, payload)
        if attrs is not None:
            out[key] = schema_for(attrs, market=market, rules=rules.get(key))
    return out


# --- entries stored without TikTok ------------------------------------------------------------
# What a fetch or a refresh writes, for taxonomies obtained otherwise: a test's synthetic
# taxonomy (`catalog_sync.testing`), or one loaded offline. Flush only: the caller commits.


async def store_categories(
    session: AsyncSession, market: str, categories: Iterable[TaxonomyCategory]
) -> None:
    """The market's category tree, as "Get Categories 202309" would have answered it."""
    await _store(session, market, CATEGORIES, category_version(market), list(categories))


async def store_attributes(
    session: AsyncSession, market: str, category_id: str, attributes: Iterable[CategoryAttribute]
) -> None:
    """A category's attributes ("Get Attributes 202309"): its schema for `cached_schemas`."""
    await _store(session, market, ATTRIBUTES, category_id, list(attributes))


async def store_rules(
    session: AsyncSession, market: str, category_id: str, rules: CategoryRuleSummary
) -> None:
    """A category's rules ("Get Category Rules 202309"), applied to its cached schema."""
    await _store(session, market, RULES, category_id, rules)


async def store_brands(
    session: AsyncSession,
    market: str,
    connection_id: str,
    brands: Iterable[TaxonomyBrand],
    *,
    category_id: str | None = None,
) -> None:
    """A connection's brands ("Get Brands 202309"), whatever the category unless one is named."""
    await _store(session, market, BRANDS, brand_key(connection_id, category_id), list(brands))


# --- a feed's taxonomies ------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshReport:
    categories: int  # categories in the market's tree (leaves and parents)
    brand_lists: int  # brand lists fetched: the shop's, and per category as cached before
    attribute_lists: int  # categories whose attributes (and rules) were fetched
    dropped: tuple[str, ...]  # cached categories TikTok no longer has as leaves (entries removed)


@dataclass(frozen=True)
class _Job:
    kind: str
    key: str
    what: str
    call: Callable[[CatalogApi], Awaitable[Any]]
    category_id: str | None = None
    asked: bool = True  # named by the caller (a failure fails the refresh)


class FeedTaxonomies:
    """The taxonomies a feed sees: its market's, through its connection (docs/feeds.md).

    `market` may name another market than the feed's (a list of the other market's
    categories): then only what is cached can be served, this connection's shop being of
    the feed's market.
    """

    def __init__(
        self,
        session: AsyncSession,
        feed: Feed,
        tiktok: TikTok | None,
        *,
        ttl_seconds: float,
        market: str | None = None,
    ) -> None:
        self.session = session
        self.feed = feed
        self.market = market or feed.market
        self.version = category_version(self.market)
        self.connection_id = feed.connection_id
        self.ttl_seconds = ttl_seconds
        self._tiktok = tiktok
        self.calls = 0

    @property
    def can_fetch(self) -> bool:
        return (
            self._tiktok is not None
            and self.connection_id is not None
            and self.market == self.feed.market
        )

    def catalog(self) -> CatalogApi:
        """The feed's shop's catalogue API (409 without a connection)."""
        if self._tiktok is None or self.connection_id is None:
            raise self._cannot_fetch()
        return self._tiktok.shop(self.connection_id).catalog

    def translate(self, exc: TikTokError, what: str) -> AppError:
        assert self.connection_id is not None
        return translate(exc, self.connection_id, what=what, tiktok=self._tiktok)

    def _cannot_fetch(self) -> AppError:
        if self.market != self.feed.market:
            return Conflict(
                f"nothing cached for the {self.market} taxonomy, and feed {self.feed.name}'s "
                f"connection is a {self.feed.market} shop: read it through a {self.market} feed",
                code="other_market",
            )
        if self.connection_id is None:
            return Conflict(NO_CONNECTION, code="no_connection")
        return Unavailable("the TikTok client is not running", code="tiktok_not_configured")

    async def _call(
        self, what: str, call: Callable[[CatalogApi], Awaitable[T]], category_id: str | None
    ) -> T:
        if not self.can_fetch:
            raise self._cannot_fetch()
        assert self.connection_id is not None
        self.calls += 1
        try:
            return await call(self.catalog())
        except TikTokError as exc:
            raise translate(
                exc, self.connection_id, what=what, category_id=category_id, tiktok=self._tiktok
            ) from None

    async def _read(
        self,
        kind: str,
        key: str,
        what: str,
        call: Callable[[CatalogApi], Awaitable[T]],
        *,
        category_id: str | None = None,
        force: bool = False,
    ) -> Cached[T]:
        row = await _load(self.session, self.market, kind, key, self.ttl_seconds)
        value: T | None = _parse(kind, self.market, key, row.payload) if row else None
        if row is not None and value is not None and row.fresh and not force:
            return Cached(value, row.fetched_at, from_cache=True)
        stale = (
            Cached(value, row.fetched_at, from_cache=True, stale=True)
            if row is not None and value is not None
            else None
        )
        if not self.can_fetch:
            if stale is not None and not force:
                return stale
            raise self._cannot_fetch()
        try:
            fetched = await self._call(what, call, category_id)
        except AppError as exc:
            if stale is not None and not force and exc.status_code == 503:
                log.warning(
                    "TikTok unavailable, serving a stale taxonomy",
                    extra={"market": self.market, "kind": kind, "key": key, "error": exc.code},
                )
                return stale
            raise
        fetched_at = await _store(self.session, self.market, kind, key, fetched)
        return Cached(fetched, fetched_at, from_cache=False)

    async def categories(self, *, force: bool = False) -> Cached[list[TaxonomyCategory]]:
        return await self._read(
            CATEGORIES, self.version, "Get Categories", _categories_call(self.market), force=force
        )

    async def brands(
        self, category_id: str | None = None, *, force: bool = False
    ) -> Cached[list[TaxonomyBrand]]:
        if self.connection_id is None:
            raise self._cannot_fetch()  # brands are the shop's: none without a connection
        return await self._read(
            BRANDS,
            brand_key(self.connection_id, category_id),
            "Get Brands",
            _brands_call(self.market, category_id),
            category_id=category_id,
            force=force,
        )

    async def attributes(
        self, category_id: str, *, force: bool = False
    ) -> Cached[list[CategoryAttribute]]:
        return await self._read(
            ATTRIBUTES,
            category_id,
            "Get Attributes",
            _attributes_call(self.market, category_id),
            category_id=category_id,
            force=force,
        )

    async def rules(self, category_id: str, *, force: bool = False) -> Cached[CategoryRuleSummary]:
        return await self._read(
            RULES,
            category_id,
            "Get Category Rules",
            _rules_call(self.market, category_id),
            category_id=category_id,
            force=force,
        )

    async def refresh(self, category_ids: Iterable[str] = ()) -> RefreshReport:
        """Fetch again, now, the market's categories, the shop's brands and every entry this
        connection may fetch that is cached (attributes and rules of the market's cached
        categories, the shop's brands per category), plus `category_ids`' attributes and rules.

        TikTok is asked up to `REFRESH_CONCURRENCY` at once; the entries are written after
        every answer arrived, so a failure changes nothing.
        """
        if not self.can_fetch:
            raise self._cannot_fetch()
        assert self.connection_id is not None
        market, connection = self.market, self.connection_id
        asked = set(category_ids)
        cached = set(await _keys(self.session, market, ATTRIBUTES))
        cached |= set(await _keys(self.session, market, RULES))
        brand_categories: set[str | None] = {None}
        for key in await _keys(self.session, market, BRANDS, f"{connection}/"):
            part = key.split("/", 1)[1]
            brand_categories.add(None if part == ALL_CATEGORIES else part)

        jobs = [_Job(CATEGORIES, self.version, "Get Categories", _categories_call(market))]
        for scope in sorted(brand_categories, key=lambda c: c or ""):
            jobs.append(
                _Job(
                    BRANDS,
                    brand_key(connection, scope),
                    "Get Brands",
                    _brands_call(market, scope),
                    scope,
                    asked=scope is None,
                )
            )
        for cid in sorted(asked | cached):
            jobs.append(
                _Job(
                    ATTRIBUTES,
                    cid,
                    "Get Attributes",
                    _attributes_call(market, cid),
                    cid,
                    asked=cid in asked,
                )
            )
            jobs.append(
                _Job(RULES, cid, "Get Category Rules", _rules_call(market, cid), cid, cid in asked)
            )

        gate = asyncio.Semaphore(REFRESH_CONCURRENCY)

        async def run(job: _Job) -> Any:
            async with gate:
                return await self._call(job.what, job.call, job.category_id)

        results = await asyncio.gather(*(run(job) for job in jobs), return_exceptions=True)
        dropped: set[str] = set()
        for job, result in zip(jobs, results, strict=True):
            if not isinstance(result, BaseException):
                continue
            gone = isinstance(result, AppError) and result.code in _GONE
            if gone and not job.asked and job.category_id is not None:
                dropped.add(job.category_id)  # TikTok removed the category (or its leaf)
                continue
            raise result
        values: list[Any] = list(results)
        lists = {CATEGORIES: 0, BRANDS: 0, ATTRIBUTES: 0, RULES: 0}
        categories = 0
        for job, value in zip(jobs, values, strict=True):
            if job.category_id in dropped:
                continue
            await _store(self.session, market, job.kind, job.key, value)
            lists[job.kind] += 1
            if job.kind == CATEGORIES:
                categories = len(value)
        if dropped:
            await self.session.execute(
                text(
                    "DELETE FROM taxonomy_cache WHERE market = :market AND ("
                    "(kind IN ('attributes', 'rules') AND key = ANY(:ids))"
                    " OR (kind = 'brands' AND key = ANY(:brand_keys)))"
                ),
                {
                    "market": market,
                    "ids": sorted(dropped),
                    "brand_keys": [brand_key(connection, c) for c in sorted(dropped)],
                },
            )
        log.info(
            "taxonomies refreshed",
            extra={"feed_id": self.feed.id, "market": market, "dropped": len(dropped), **lists},
        )
        return RefreshReport(
            categories=categories,
            brand_lists=lists[BRANDS],
            attribute_lists=lists[ATTRIBUTES],
            dropped=tuple(sorted(dropped)),
        )

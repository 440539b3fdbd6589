"""HTTP API of a feed's TikTok taxonomies, category schemas and mapping suggestions.

Reads need the scope `catalog:read`, changes (refresh, accepting suggestions)
`catalog:write`. Taxonomies come from the cache (`catalog_sync.taxonomy_cache`), fetched
through the feed's auth-broker connection when missing or older than
`TTS_TAXONOMY_TTL_SECONDS` (docs/feeds.md, "Taxonomies over HTTP"). TikTok's and the
broker's failures are answered 409 (the connection cannot be used), 502 (TikTok refused)
or 503 (retry later), never 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from tiktok_shop import CredentialsError, ScopeError, TikTokError, TokenLeaseError
from tiktok_shop.catalog import CatalogApi
from tts_common.api_auth import require_scope
from tts_common.deps import SessionDep
from tts_common.errors import BadRequest
from tts_common.openapi import error_responses

from catalog_sync import feeds, lists
from catalog_sync import tiktok as tt
from catalog_sync.classify import SchemaAttribute, common_schema, schema_for
from catalog_sync.models import Feed, MappingList
from catalog_sync.suggest import (
    Suggestion,
    SuggestionIndex,
    accept_suggestions,
    suggest,
    suggest_text,
)
from catalog_sync.taxonomy import (
    AttributeValue,
    CategoryAttribute,
    TaxonomyBrand,
    TaxonomyCategory,
    TaxonomyKind,
    category_version,
    fetch_recommendation,
    value_term,
)
from catalog_sync.taxonomy_cache import Cached, FeedTaxonomies, cached_schemas

log = logging.getLogger(__name__)

READ = [Depends(require_scope("catalog:read"))]
WRITE = [Depends(require_scope("catalog:write"))]
DIGITS = r"^[0-9]{1,20}$"
DEFAULT_TTL_SECONDS = 24 * 3600
DEFAULT_MAX_RECOMMEND_CALLS = 50
MAX_REFRESH_CATEGORIES = 50

router = APIRouter(tags=["taxonomies"])

_TIKTOK = {
    409: "The feed has no connection (and nothing is cached), or its connection cannot be "
    "used (revoked, expired, unknown, or refused by TikTok): the seller must authorize again",
    502: "TikTok Shop or the auth-broker refused the call (their message is in `detail`)",
    503: "TikTok Shop or the auth-broker did not answer; retry later",
}


def _errors(*statuses: int, described: Mapping[int, str] | None = None) -> dict[int | str, Any]:
    """Documented errors; every route may answer 403 (an API key without the scope), 404 (no
    such feed) and the TikTok failures."""
    texts = {**_TIKTOK, **(described or {})}
    return error_responses(403, 404, 409, 502, 503, *statuses, described=texts)


def _tiktok(request: Request) -> tt.TikTok | None:
    tiktok: tt.TikTok | None = request.app.state.runtime.extras.get(tt.EXTRA)
    return tiktok


TikTokDep = Annotated[tt.TikTok | None, Depends(_tiktok)]


def _setting(request: Request, name: str, default: int) -> int:
    return int(getattr(request.app.state.runtime.settings, name, default))


def _taxonomies(
    request: Request,
    session: AsyncSession,
    feed: Feed,
    tiktok: tt.TikTok | None,
    market: str | None = None,
) -> FeedTaxonomies:
    ttl = _setting(request, "taxonomy_ttl_seconds", DEFAULT_TTL_SECONDS)
    return FeedTaxonomies(session, feed, tiktok, ttl_seconds=ttl, market=market)


# --- bodies -------------------------------------------------------------------------------


class Served(BaseModel):
    """How a taxonomy was served."""

    market: str
    fetched_at: datetime = Field(description="when TikTok answered what is served")
    from_cache: bool = Field(description="served from the cache, without calling TikTok")
    stale: bool = Field(
        description="older than the TTL, served because it could not be fetched again "
        "(no connection, or TikTok unavailable)"
    )

    @staticmethod
    def of(market: str, cached: Cached[Any]) -> dict[str, Any]:
        return {
            "market": market,
            "fetched_at": cached.fetched_at,
            "from_cache": cached.from_cache,
            "stale": cached.stale,
        }


class CategoryOut(BaseModel):
    id: str
    parent_id: str = Field(description='"0" for a top-level category')
    name: str
    path: str = Field(description="names root first, joined with >")
    level: int
    is_leaf: bool
    permission_statuses: list[str]
    invite_only: bool = Field(description="listing needs TikTok's approval first")
    term: str = Field(description="the replacement term of a category list: <id>|<path>")

    @classmethod
    def of(cls, c: TaxonomyCategory) -> CategoryOut:
        return cls(
            id=c.id,
            parent_id=c.parent_id,
            name=c.name,
            path=c.path,
            level=c.level,
            is_leaf=c.is_leaf,
            permission_statuses=list(c.permission_statuses),
            invite_only=c.invite_only,
            term=c.term,
        )


class CategoriesOut(Served):
    category_version: str
    total: int = Field(description="categories matching the filters (before paging)")
    offset: int
    limit: int
    items: list[CategoryOut]


class BrandOut(BaseModel):
    id: str
    name: str
    authorized_status: str | None = Field(description="AUTHORIZED | UNAUTHORIEZD (sic)")
    brand_status: str | None = Field(description="AVAILABLE | UNAVAILABLE")
    is_t1_brand: bool
    authorized: bool = Field(description="the shop may list products of this brand")
    available: bool
    term: str = Field(description="the replacement term of a brand list: <id>|<name>")

    @classmethod
    def of(cls, b: TaxonomyBrand) -> BrandOut:
        return cls(
            id=b.id,
            name=b.name,
            authorized_status=b.authorized_status,
            brand_status=b.brand_status,
            is_t1_brand=b.is_t1_brand,
            authorized=b.authorized,
            available=b.available,
            term=b.term,
        )


class BrandsOut(Served):
    connection_id: str
    category_id: str | None
    total: int
    offset: int
    limit: int
    items: list[BrandOut]


class AttributesOut(Served):
    category_id: str
    items: list[CategoryAttribute]


class ValueOut(BaseModel):
    attribute_id: str
    attribute: str = Field(description="TikTok's name of the attribute")
    id: str = Field(description="the value id")
    name: str
    categories: int = Field(description="categories looked at whose attribute offers the value")
    term: str = Field(
        description="the replacement term of a values list: <attribute>|<Value>:::::<value id>"
    )


class ValuesOut(BaseModel):
    market: str
    category_id: str | None = Field(description="null: every category whose attributes are cached")
    categories: int = Field(description="categories whose attributes were looked at")
    total: int = Field(description="values matching the filters (before paging)")
    offset: int
    limit: int
    items: list[ValueOut]


class SchemaOut(BaseModel):
    market: str
    category_id: str | None = Field(description="null: the common attributes only")
    fetched_at: datetime | None = Field(description="when TikTok answered the attributes")
    stale: bool
    attributes: list[SchemaAttribute]


class RefreshOut(BaseModel):
    market: str
    categories: int = Field(description="categories in the market's tree (leaves and parents)")
    brand_lists: int = Field(description="brand lists fetched (the shop's, and per category)")
    attribute_lists: int = Field(description="categories whose attributes and rules were fetched")
    dropped: list[str] = Field(
        description="cached categories TikTok no longer has as leaves (their entries removed)"
    )


class RecommendOut(BaseModel):
    """What TikTok's "Recommend Category 202309" contributed."""

    asked: int
    picked: int
    failed: int
    skipped_because: str | None = Field(
        default=None, description="why TikTok was not (or no longer) asked"
    )


class ValueSuggestionsOut(BaseModel):
    value: str
    suggestions: list[Suggestion]


class SuggestionsOut(BaseModel):
    name: str
    taxonomy: str
    market: str
    fetched_at: datetime = Field(description="when TikTok answered the taxonomy used")
    stale: bool
    unmapped: int = Field(description="values of the list without a replacement")
    tiktok: RecommendOut
    values: list[ValueSuggestionsOut]


class AcceptedOut(BaseModel):
    name: str
    min_score: float
    accepted: int
    mappings: dict[str, str] = Field(description="source value -> replacement term applied")
    left_unmapped: int


# --- taxonomies ---------------------------------------------------------------------------


def _page(items: Sequence[Any], offset: int, limit: int) -> list[Any]:
    return list(items[offset : offset + limit])


@router.get(
    "/v1/feeds/{feed_id}/taxonomies/categories",
    dependencies=READ,
    summary="TikTok's categories of the feed's market (leaves by default), paged",
    description="Served from the cache; fetched through the feed's connection when missing or "
    "older than the TTL. `q` keeps the categories whose path contains it (case-insensitive) "
    "or whose id it is.",
    responses=_errors(),
)
async def get_categories(
    feed_id: str,
    request: Request,
    session: SessionDep,
    tiktok: TikTokDep,
    leaf: bool = True,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> CategoriesOut:
    feed = await feeds.get_feed(session, feed_id)
    cached = await _taxonomies(request, session, feed, tiktok).categories()
    found: list[TaxonomyCategory] = [c for c in cached.value if c.is_leaf or not leaf]
    if q:
        needle = q.strip().casefold()
        found = [c for c in found if needle in c.path.casefold() or c.id == needle]
    return CategoriesOut(
        **Served.of(feed.market, cached),
        category_version=category_version(feed.market),
        total=len(found),
        offset=offset,
        limit=limit,
        items=[CategoryOut.of(c) for c in _page(found, offset, limit)],
    )


@router.get(
    "/v1/feeds/{feed_id}/taxonomies/brands",
    dependencies=READ,
    summary="The brands the feed's shop sees, with their authorization, paged",
    description="Per connection (authorization differs per shop) and, with `category_id`, "
    "the brands TikTok offers for that category. `q` keeps the brands whose name contains it.",
    responses=_errors(400, described={400: "`category_id` is not a leaf category"}),
)
async def get_brands(
    feed_id: str,
    request: Request,
    session: SessionDep,
    tiktok: TikTokDep,
    category_id: Annotated[str | None, Query(pattern=DIGITS)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    authorized_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> BrandsOut:
    feed = await feeds.get_feed(session, feed_id)
    cached = await _taxonomies(request, session, feed, tiktok).brands(category_id)
    found = [b for b in cached.value if b.authorized or not authorized_only]
    if q:
        needle = q.strip().casefold()
        found = [b for b in found if needle in b.name.casefold()]
    return BrandsOut(
        **Served.of(feed.market, cached),
        connection_id=str(feed.connection_id),
        category_id=category_id,
        total=len(found),
        offset=offset,
        limit=limit,
        items=[BrandOut.of(b) for b in _page(found, offset, limit)],
    )


@router.get(
    "/v1/feeds/{feed_id}/taxonomies/categories/{category_id}/attributes",
    dependencies=READ,
    summary="A leaf category's attributes: required, predefined values with ids, multi-select",
    responses=_errors(
        400, described={400: "the category is not a leaf", 404: "no such feed or category"}
    ),
)
async def get_attributes(
    feed_id: str,
    category_id: Annotated[str, Path(pattern=DIGITS)],
    request: Request,
    session: SessionDep,
    tiktok: TikTokDep,
) -> AttributesOut:
    feed = await feeds.get_feed(session, feed_id)
    cached = await _taxonomies(request, session, feed, tiktok).attributes(category_id)
    return AttributesOut(
        **Served.of(feed.market, cached), category_id=category_id, items=cached.value
    )


# (attribute id, TikTok's attribute name, its predefined values) of one category attribute.
_Offered = tuple[str, str, Sequence[AttributeValue]]


def _values(
    by_category: Mapping[str, Sequence[_Offered]],
    *,
    attribute_id: str | None,
    words: Sequence[str],
) -> list[ValueOut]:
    """Each (attribute, value) pair once, however many categories offer it (attribute and
    value ids are global at TikTok), filtered, sorted by attribute then value name."""
    found: dict[tuple[str, str], ValueOut] = {}
    for attrs in by_category.values():
        for attr_id, attr_name, values in attrs:
            if attribute_id is not None and attr_id != attribute_id:
                continue
            for v in values:
                label = f"{attr_name} {v.name}".casefold()
                if not all(w in label or w == v.id for w in words):
                    continue
                key = (attr_id, v.id)
                if key in found:
                    found[key].categories += 1
                    continue
                found[key] = ValueOut(
                    attribute_id=attr_id,
                    attribute=attr_name,
                    id=v.id,
                    name=v.name,
                    categories=1,
                    term=value_term(attr_name, v.name, v.id),
                )
    return sorted(found.values(), key=lambda o: (o.attribute.casefold(), o.name.casefold(), o.id))


@router.get(
    "/v1/feeds/{feed_id}/taxonomies/values",
    dependencies=READ,
    summary="TikTok's predefined attribute values with ids, for lists of predefined values",
    description="The values of the attributes of every category whose attributes are cached "
    "(the categories the feed's lists map to, once fetched), or of `category_id` alone "
    "(fetched through the feed's connection when missing). `attribute_id` keeps one "
    "attribute; `q` keeps the values whose attribute and value names contain every word of "
    "it (case-insensitive), or whose value id it is. Each carries its `term`.",
    responses=_errors(
        400, described={400: "the category is not a leaf", 404: "no such feed or category"}
    ),
)
async def get_values(
    feed_id: str,
    request: Request,
    session: SessionDep,
    tiktok: TikTokDep,
    category_id: Annotated[str | None, Query(pattern=DIGITS)] = None,
    attribute_id: Annotated[str | None, Query(pattern=DIGITS)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ValuesOut:
    feed = await feeds.get_feed(session, feed_id)
    by_category: dict[str, list[_Offered]]
    if category_id is not None:
        cached = await _taxonomies(request, session, feed, tiktok).attributes(category_id)
        by_category = {category_id: [(a.id, a.name, a.values) for a in cached.value]}
    else:
        # The cached schemas: the category attributes carry their TikTok id, name and values.
        by_category = {
            cid: [(a.attribute_id, a.label, a.values) for a in schema if a.attribute_id]
            for cid, schema in (await cached_schemas(session, feed.market)).items()
        }
    found = _values(by_category, attribute_id=attribute_id, words=(q or "").casefold().split())
    return ValuesOut(
        market=feed.market,
        category_id=category_id,
        categories=len(by_category),
        total=len(found),
        offset=offset,
        limit=limit,
        items=_page(found, offset, limit),
    )


@router.post(
    "/v1/feeds/{feed_id}/taxonomies:refresh",
    dependencies=WRITE,
    summary="Fetch the feed's taxonomies again now (categories, brands, cached attributes)",
    description="Fetches the market's categories, the shop's brands, and again every cached "
    "category's attributes and rules and the shop's brands per cached category; `category_id` "
    "(repeatable) adds categories to fetch. Nothing is written unless every answer arrived.",
    responses=_errors(400, described={400: "a `category_id` is not a leaf (or not digits)"}),
)
async def refresh(
    feed_id: str,
    request: Request,
    session: SessionDep,
    tiktok: TikTokDep,
    category_id: Annotated[list[str] | None, Query(max_length=MAX_REFRESH_CATEGORIES)] = None,
) -> RefreshOut:
    feed = await feeds.get_feed(session, feed_id)
    asked = category_id or []
    bad = [c for c in asked if not c.isascii() or not c.isdigit() or len(c) > 20]
    if bad:
        raise BadRequest(f"category ids are digits, got {bad[0][:40]!r}", code="bad_category_id")
    report = await _taxonomies(request, session, feed, tiktok).refresh(asked)
    return RefreshOut(
        market=feed.market,
        categories=report.categories,
        brand_lists=report.brand_lists,
        attribute_lists=report.attribute_lists,
        dropped=list(report.dropped),
    )


@router.get(
    "/v1/feeds/{feed_id}/schema",
    dependencies=READ,
    summary="The export schema of a category: common attributes + the category's own",
    description="Each attribute with its export name (`product_attribute.<Name>#<id>`, "
    "`sku.sales_attribute.<Name>`...), whether it is required (also conditionally), its "
    "predefined values with ids, whether a free value is allowed and whether several values "
    'may be given (docs/feeds.md, "Classifications"). Without `category_id`: the common '
    "attributes only.",
    responses=_errors(
        400, described={400: "the category is not a leaf", 404: "no such feed or category"}
    ),
)
async def get_schema(
    feed_id: str,
    request: Request,
    session: SessionDep,
    tiktok: TikTokDep,
    category_id: Annotated[str | None, Query(pattern=DIGITS)] = None,
) -> SchemaOut:
    feed = await feeds.get_feed(session, feed_id)
    if category_id is None:
        return SchemaOut(
            market=feed.market,
            category_id=None,
            fetched_at=None,
            stale=False,
            attributes=common_schema(feed.market),
        )
    taxonomies = _taxonomies(request, session, feed, tiktok)
    attrs = await taxonomies.attributes(category_id)
    rules = await taxonomies.rules(category_id)
    return SchemaOut(
        market=feed.market,
        category_id=category_id,
        fetched_at=attrs.fetched_at,
        stale=attrs.stale or rules.stale,
        attributes=schema_for(attrs.value, market=feed.market, rules=rules.value),
    )


# --- mapping suggestions ------------------------------------------------------------------


class _Recommender:
    """TikTok's pick per product title; stops asking at the first failure that would repeat
    for every value (the connection or the app refused), so one bad lease costs one call."""

    def __init__(self, taxonomies: FeedTaxonomies, catalog: CatalogApi) -> None:
        self.taxonomies = taxonomies
        self.catalog = catalog
        self.asked = self.picked = self.failed = 0
        self.stopped: str | None = None

    async def __call__(self, title: str) -> tuple[str, str] | None:
        if self.stopped is not None:
            return None
        self.asked += 1
        try:
            found = await fetch_recommendation(self.catalog, self.taxonomies.market, title)
        except (TokenLeaseError, CredentialsError, ScopeError) as exc:
            self.failed += 1
            self.stopped = self.taxonomies.translate(exc, "Recommend Category").detail
            return None
        except TikTokError as exc:
            self.failed += 1
            log.warning(
                "recommend category failed", extra={"code": exc.code, "error": type(exc).__name__}
            )
            return None
        if found is None:
            return None
        self.picked += 1
        return found.leaf_id, found.path

    def report(self) -> RecommendOut:
        return RecommendOut(
            asked=self.asked, picked=self.picked, failed=self.failed, skipped_because=self.stopped
        )


# A sample product title per value (TikTok recommends better from a title than a label).
_TITLES = text(
    "SELECT DISTINCT ON (v) v, title FROM ("
    " SELECT data->>:attr AS v, seq, coalesce(nullif(data->>'product_name', ''),"
    " nullif(data->>'title', ''), nullif(data->>'Title', ''), nullif(data->>'name', '')) AS title"
    " FROM source_products WHERE source_id = :source AND data->>:attr = ANY(:values)"
    ") s WHERE title IS NOT NULL ORDER BY v, seq"
)


async def _titles(
    session: AsyncSession, feed: Feed, attribute: str, values: Sequence[str]
) -> dict[str, str]:
    if not values:
        return {}
    rows = await session.execute(
        _TITLES, {"attr": attribute, "source": feed.source_id, "values": list(values)}
    )
    return {r.v: r.title for r in rows}


_CATEGORY_MARKETS = {TaxonomyKind.US_CATEGORIES: "US", TaxonomyKind.UK_CATEGORIES: "UK"}


@dataclass(frozen=True)
class _Suggested:
    market: str
    fetched_at: datetime
    stale: bool
    values: list[str]
    suggestions: dict[str, list[Suggestion]]
    tiktok: RecommendOut


async def _suggest(
    request: Request,
    session: AsyncSession,
    feed: Feed,
    lst: MappingList,
    tiktok: tt.TikTok | None,
    *,
    limit: int,
    min_score: float,
    recommend: bool,
) -> _Suggested:
    try:
        kind = TaxonomyKind(lst.taxonomy)
    except ValueError:
        raise BadRequest(
            f"list {lst.name!r} maps an unknown taxonomy", code="no_suggestions_for_taxonomy"
        ) from None
    values = [v for v, _ in await lists.rows(session, lst, unmapped_only=True)]
    rec: _Recommender | None = None
    skipped: str | None = None
    if kind in _CATEGORY_MARKETS:
        taxonomies = _taxonomies(request, session, feed, tiktok, _CATEGORY_MARKETS[kind])
        cached: Cached[Any] = await taxonomies.categories()
        index = SuggestionIndex.for_categories(cached.value)
        max_calls = _setting(request, "suggest_max_recommend_calls", DEFAULT_MAX_RECOMMEND_CALLS)
        if not recommend:
            skipped = "recommend=false"
        elif not taxonomies.can_fetch:
            skipped = (
                "the feed has no connection"
                if feed.connection_id is None or tiktok is None
                else f"the list maps {taxonomies.market} categories; the feed's shop is "
                f"{feed.market}"
            )
        elif max_calls == 0:
            skipped = "TTS_SUGGEST_MAX_RECOMMEND_CALLS is 0"
        elif values:
            rec = _Recommender(taxonomies, taxonomies.catalog())
    elif kind is TaxonomyKind.BRANDS:
        taxonomies = _taxonomies(request, session, feed, tiktok)
        cached = await taxonomies.brands()
        index = SuggestionIndex.for_brands(cached.value)
        skipped = "TikTok recommends categories only"
    else:
        raise BadRequest(
            f"list {lst.name!r} maps {kind.label}: suggestions are offered for category and "
            "brand lists (a value's predefined values are in GET .../taxonomies/categories/"
            "{category_id}/attributes)",
            code="no_suggestions_for_taxonomy",
        )
    if rec is not None:
        titles = await _titles(session, feed, lst.attribute, values[:max_calls])
        found = await suggest(
            values,
            index,
            recommend=rec,
            titles=titles,
            limit=limit,
            min_score=min_score,
            max_recommend_calls=max_calls,
        )
        report = rec.report()
    else:
        found = suggest_text(values, index, limit=limit, min_score=min_score)
        report = RecommendOut(asked=0, picked=0, failed=0, skipped_because=skipped)
    return _Suggested(
        market=taxonomies.market,
        fetched_at=cached.fetched_at,
        stale=cached.stale,
        values=values,
        suggestions=found,
        tiktok=report,
    )


def _ordered(values: Sequence[str], found: Mapping[str, list[Suggestion]]) -> list[Any]:
    return [ValueSuggestionsOut(value=v, suggestions=found.get(v, [])) for v in values]


@router.get(
    "/v1/feeds/{feed_id}/lists/{name}/suggestions",
    dependencies=READ,
    summary="Suggested replacements for a list's unmapped values, with scores (never applied)",
    description="Text similarity of each value to TikTok's category paths (or brand names), "
    '0..1, plus TikTok\'s "Recommend Category 202309" for a sample product title of the value '
    "(category lists, up to TTS_SUGGEST_MAX_RECOMMEND_CALLS values). Nothing is applied: "
    "POST .../suggestions:accept applies those above a score.",
    responses=_errors(
        400,
        described={
            400: "the list maps predefined values (no suggestions for those)",
            404: "no such feed or list",
        },
    ),
)
async def get_suggestions(
    feed_id: str,
    name: str,
    request: Request,
    session: SessionDep,
    tiktok: TikTokDep,
    limit: Annotated[int, Query(ge=1, le=10, description="suggestions per value")] = 3,
    min_score: Annotated[float, Query(ge=0, le=1)] = 0.05,
    recommend: bool = True,
) -> SuggestionsOut:
    feed = await feeds.get_feed(session, feed_id)
    lst = lists.find_list(feed, name)
    found = await _suggest(
        request, session, feed, lst, tiktok, limit=limit, min_score=min_score, recommend=recommend
    )
    return SuggestionsOut(
        name=lst.name,
        taxonomy=lst.taxonomy,
        market=found.market,
        fetched_at=found.fetched_at,
        stale=found.stale,
        unmapped=len(found.values),
        tiktok=found.tiktok,
        values=_ordered(found.values, found.suggestions),
    )


@router.post(
    "/v1/feeds/{feed_id}/lists/{name}/suggestions:accept",
    dependencies=WRITE,
    summary="Apply the best suggestion of each unmapped value scoring at least min_score",
    description='The explicit "accept above score X". Without `min_score`, the list\'s '
    "`accept_above_score` (the feed file's) is used. Invite-only categories are skipped "
    "unless `allow_invite_only=true`.",
    responses=_errors(
        400,
        described={
            400: "no score to accept above (give min_score, or declare accept_above_score), "
            "or the list maps predefined values, or a replacement was refused",
            404: "no such feed or list",
        },
    ),
)
async def accept(
    feed_id: str,
    name: str,
    request: Request,
    session: SessionDep,
    tiktok: TikTokDep,
    min_score: Annotated[float | None, Query(gt=0, le=1)] = None,
    allow_invite_only: bool = False,
    recommend: bool = True,
) -> AcceptedOut:
    feed = await feeds.get_feed(session, feed_id)
    lst = lists.find_list(feed, name)
    threshold = min_score if min_score is not None else lst.accept_above_score
    if threshold is None or not 0 < threshold <= 1:
        raise BadRequest(
            f"say which score to accept from: ?min_score=0.8, or accept_above_score in list "
            f"{lst.name!r} of the feed file (a score in (0, 1])",
            code="min_score_required",
        )
    found = await _suggest(
        request, session, feed, lst, tiktok, limit=5, min_score=threshold, recommend=recommend
    )
    chosen = accept_suggestions(
        found.suggestions, min_score=threshold, allow_invite_only=allow_invite_only
    )
    await lists.set_mappings(session, lst, chosen)
    log.info(
        "suggestions accepted",
        extra={"feed_id": feed.id, "list": lst.name, "accepted": len(chosen)},
    )
    return AcceptedOut(
        name=lst.name,
        min_score=threshold,
        accepted=len(chosen),
        mappings=chosen,
        left_unmapped=len(found.values) - len(chosen),
    )

"""TikTok taxonomies: categories, brands and predefined attribute values (docs/feeds.md).

Two layers, so caching stays a thin layer on top:

- `fetch_*` coroutines read TikTok through the typed client (`tiktok_shop`, "Get Categories
  202309", "Get Attributes 202309", "Get Brands 202309", "Get Category Rules 202309",
  "Recommend Category 202309") and return plain frozen models; `model_dump(mode="json")` /
  `model_validate` round-trip them through a cache table unchanged;
- pure functions flatten the category tree into paths, and render each taxonomy as the
  replacement terms a Partner Taxonomy Mapping list offers (`<id>|<path>`,
  `<id>|<name>`, `<attribute>|<Value>:::::<value id>`), and parse a chosen term back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from tiktok_shop.catalog import CatalogApi
from tiktok_shop.errors import TikTokError
from tiktok_shop.models.catalog import Attribute as ApiAttribute
from tiktok_shop.models.catalog import Brand as ApiBrand
from tiktok_shop.models.catalog import BrandsPage, CategoryRules, RecommendCategoryRequest
from tiktok_shop.models.catalog import Category as ApiCategory
from tiktok_shop.pagination import iterate_items

from catalog_sync import naming as N

Market = Literal["US", "UK"]

# "Get Categories 202309": v1 (3 levels) is TikTok's default; US shops must ask for v2
# (7 levels) or get 12052217 -- for categories, attributes, recommendations and products.
CATEGORY_VERSIONS: dict[str, str] = {"US": "v2", "UK": "v1"}

TERM_SEPARATOR = "|"  # between id and label in a replacement term (Split String `|`)
VALUE_ID_SEPARATOR = N.PREDEFINED_SEPARATOR  # `Value:::::ValueId`: a predefined value + id
PATH_SEPARATOR = ">"

# "Get Categories 202309" permission_statuses.
AVAILABLE = "AVAILABLE"
INVITE_ONLY = "INVITE_ONLY"
NON_MAIN_CATEGORY = "NON_MAIN_CATEGORY"
# "Get Brands 202309": the negative value is spelled UNAUTHORIEZD (sic).
AUTHORIZED = "AUTHORIZED"
BRAND_AVAILABLE = "AVAILABLE"
# "Recommend Category 202309": no category can be recommended for this product.
NO_RECOMMENDATION = 12019064

# Some category names end in whitespace or a literal backslash-t (seen in TikTok's UK list).
_TRAILING_JUNK = re.compile(r"(?:\\t|\s)+$")


def category_version(market: str) -> str:
    """The category version a market's shops must use."""
    try:
        return CATEGORY_VERSIONS[market]
    except KeyError:
        raise ValueError(f"unknown market {market!r}: expected one of US, UK") from None


class TaxonomyKind(StrEnum):
    """The taxonomies a Partner Taxonomy Mapping list can map to (labels as Productsup's)."""

    US_CATEGORIES = "tiktok_us_categories"
    UK_CATEGORIES = "tiktok_uk_categories"
    BRANDS = "tiktok_brands"
    VALUES = "tiktok_values"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @classmethod
    def categories_of(cls, market: str) -> TaxonomyKind:
        category_version(market)
        return cls.US_CATEGORIES if market == "US" else cls.UK_CATEGORIES


_LABELS = {
    TaxonomyKind.US_CATEGORIES: "TikTok US categories with ids",
    TaxonomyKind.UK_CATEGORIES: "TikTok UK categories with ids",
    TaxonomyKind.BRANDS: "TikTok brands with ids",
    TaxonomyKind.VALUES: "TikTok non-customized values with ids",
}


class TermError(ValueError):
    """A replacement term that does not have the form its taxonomy uses."""


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaxonomyCategory(_Data):
    """One node of a market's category tree, with its full path."""

    id: str
    parent_id: str  # "0" for a top-level category
    name: str
    path: str  # names root first, joined with ">"
    level: int  # 1 for a top-level category
    is_leaf: bool
    permission_statuses: tuple[str, ...] = ()

    @property
    def invite_only(self) -> bool:
        """Listing needs TikTok's approval (an invitation) for this category."""
        return INVITE_ONLY in self.permission_statuses

    @property
    def term(self) -> str:
        return category_term(self.id, self.path)


class TaxonomyBrand(_Data):
    id: str
    name: str
    authorized_status: str | None = None  # AUTHORIZED | UNAUTHORIEZD (sic)
    brand_status: str | None = None  # AVAILABLE | UNAVAILABLE
    is_t1_brand: bool = False

    @property
    def authorized(self) -> bool:
        """The shop may list products of this brand."""
        return self.authorized_status == AUTHORIZED

    @property
    def available(self) -> bool:
        return self.brand_status in (None, BRAND_AVAILABLE)

    @property
    def term(self) -> str:
        return brand_term(self.id, self.name)


class AttributeValue(_Data):
    """A predefined value of a category attribute."""

    id: str
    name: str

    @property
    def cell(self) -> str:
        """The value as an export cell carries it: `Value:::::ValueId`."""
        return value_cell(self.name, self.id)


class RequiredWhen(_Data):
    """ "Get Attributes 202309" requirement_conditions: required once another attribute
    holds this value (condition_type VALUE_ID_MATCH)."""

    attribute_id: str
    value_id: str


AttributeKind = Literal["product", "sales"]


class CategoryAttribute(_Data):
    """One attribute of a leaf category ("Get Attributes 202309")."""

    id: str
    name: str
    kind: AttributeKind  # sales = varies per SKU (SALES_PROPERTY); product = PRODUCT_PROPERTY
    required: bool = False
    values: tuple[AttributeValue, ...] = ()
    customizable: bool = False
    multi_select: bool = False
    value_format: str | None = None  # e.g. POSITIVE_INT_OR_DECIMAL
    required_when: tuple[RequiredWhen, ...] = ()

    @property
    def predefined_only(self) -> bool:
        """Only the predefined values (with their ids) are accepted."""
        return bool(self.values) and not self.customizable


class Certification(_Data):
    id: str
    name: str
    required: bool = False


class CategoryRuleSummary(_Data):
    """What a listing in a category must carry ("Get Category Rules 202309")."""

    package_dimensions_required: bool = False
    size_chart_supported: bool = False
    size_chart_required: bool = False
    cod_allowed: bool | None = None
    certifications: tuple[Certification, ...] = ()


class Recommendation(_Data):
    """TikTok's recommended leaf for a product title ("Recommend Category 202309")."""

    leaf_id: str
    path: str
    permission_statuses: tuple[str, ...] = ()

    @property
    def invite_only(self) -> bool:
        return INVITE_ONLY in self.permission_statuses


# --- pure conversions ------------------------------------------------------------------


def clean_name(name: str | None) -> str:
    return _TRAILING_JUNK.sub("", name or "").strip()


def flatten_categories(raw: Iterable[ApiCategory]) -> list[TaxonomyCategory]:
    """The flat category list of "Get Categories 202309" with each node's full path.

    Keeps TikTok's order. A node whose parent is missing from the answer is treated as a
    top-level one; a cycle in parent links (never seen, but not trusted) is cut.
    """
    nodes = list(raw)
    by_id = {c.id: c for c in nodes}
    paths: dict[str, tuple[str, ...]] = {}

    def path_of(cat: ApiCategory) -> tuple[str, ...]:
        chain: list[ApiCategory] = []
        seen: set[str] = set()
        node: ApiCategory | None = cat
        while node is not None and node.id not in paths and node.id not in seen:
            seen.add(node.id)
            chain.append(node)
            node = by_id.get(node.parent_id) if node.parent_id not in (None, "0") else None
        prefix = paths[node.id] if node is not None and node.id in paths else ()
        for item in reversed(chain):
            prefix = (*prefix, clean_name(item.local_name))
            paths[item.id] = prefix
        return paths[cat.id]

    out = []
    for cat in nodes:
        names = path_of(cat)
        parent = cat.parent_id if cat.parent_id in by_id else "0"
        out.append(
            TaxonomyCategory(
                id=cat.id,
                parent_id=parent or "0",
                name=names[-1],
                path=PATH_SEPARATOR.join(names),
                level=len(names),
                is_leaf=cat.is_leaf,
                permission_statuses=tuple(cat.permission_statuses),
            )
        )
    return out


def leaves(categories: Iterable[TaxonomyCategory]) -> list[TaxonomyCategory]:
    """Leaf categories only: TikTok lists products in leaves only (12052024 otherwise)."""
    return [c for c in categories if c.is_leaf]


def brands_from_api(raw: Iterable[ApiBrand]) -> list[TaxonomyBrand]:
    return [
        TaxonomyBrand(
            id=b.id,
            name=(b.name or "").strip(),
            authorized_status=b.authorized_status,
            brand_status=b.brand_status,
            is_t1_brand=bool(b.is_t1_brand),
        )
        for b in raw
    ]


def attributes_from_api(raw: Iterable[ApiAttribute]) -> list[CategoryAttribute]:
    """Category attributes; reads either spelling of "required" (`is_requried` is TikTok's)."""
    out = []
    for a in raw:
        out.append(
            CategoryAttribute(
                id=a.id,
                name=(a.name or a.id).strip(),
                kind="sales" if a.type == "SALES_PROPERTY" else "product",
                required=a.required,
                values=tuple(
                    AttributeValue(id=v.id, name=(v.name or v.id).strip()) for v in a.values
                ),
                customizable=bool(a.is_customizable),
                multi_select=bool(a.is_multiple_selection),
                value_format=a.value_data_format or None,
                required_when=tuple(
                    RequiredWhen(attribute_id=c.attribute_id, value_id=c.attribute_value_id)
                    for c in a.requirement_conditions
                    if c.attribute_id and c.attribute_value_id
                ),
            )
        )
    return out


def _flag(rules: dict[str, Any], key: str, field: str) -> bool:
    part = rules.get(key)
    return bool(part.get(field)) if isinstance(part, dict) else False


def rules_from_api(raw: CategoryRules) -> CategoryRuleSummary:
    data = raw.model_dump()
    certs = tuple(
        Certification(
            id=str(c.get("id", "")),
            name=str(c.get("name") or ""),
            required=bool(c.get("is_required")),
        )
        for c in raw.product_certifications
        if isinstance(c, dict) and c.get("id") is not None
    )
    return CategoryRuleSummary(
        package_dimensions_required=_flag(data, "package_dimension", "is_required"),
        size_chart_supported=_flag(data, "size_chart", "is_supported"),
        size_chart_required=_flag(data, "size_chart", "is_required"),
        cod_allowed=raw.is_cod_allowed,
        certifications=certs,
    )


# --- replacement terms ------------------------------------------------------------------


class CategoryTerm(_Data):
    id: str
    path: str


class BrandTerm(_Data):
    id: str
    name: str


class ValueTerm(_Data):
    attribute: str
    value: str
    value_id: str

    @property
    def cell(self) -> str:
        return value_cell(self.value, self.value_id)


def category_term(category_id: str, path: str) -> str:
    return f"{category_id}{TERM_SEPARATOR}{path}"


def brand_term(brand_id: str, name: str) -> str:
    return f"{brand_id}{TERM_SEPARATOR}{name}"


def value_cell(value: str, value_id: str) -> str:
    return f"{value}{VALUE_ID_SEPARATOR}{value_id}"


def value_term(attribute: str, value: str, value_id: str) -> str:
    return f"{attribute}{TERM_SEPARATOR}{value_cell(value, value_id)}"


def parse_value_cell(cell: str) -> tuple[str, str] | None:
    """`Value:::::ValueId` -> (value, value id); None when the cell carries no numeric id."""
    parsed = N.parse_predefined(cell.strip())
    return None if parsed.value_id is None else (parsed.value, parsed.value_id)


def category_terms(
    categories: Iterable[TaxonomyCategory], *, include_invite_only: bool = True
) -> list[str]:
    """The selectable terms of a category taxonomy: leaves only, `<id>|<path>`."""
    return [c.term for c in categories if c.is_leaf and (include_invite_only or not c.invite_only)]


def brand_terms(
    brands: Iterable[TaxonomyBrand],
    *,
    authorized_only: bool = False,
    include_unavailable: bool = False,
) -> list[str]:
    """`<id>|<name>` for each brand (UNAVAILABLE brands are left out unless asked for)."""
    return [
        b.term
        for b in brands
        if (include_unavailable or b.available) and (b.authorized or not authorized_only)
    ]


def value_terms(
    attributes: Iterable[CategoryAttribute], *, attribute_ids: Sequence[str] | None = None
) -> list[str]:
    """`<attribute>|<Value>:::::<value id>` for every predefined value, each pair once.

    Attribute ids are global at TikTok, so the same attribute of several categories
    contributes each of its values once.
    """
    wanted = set(attribute_ids) if attribute_ids is not None else None
    seen: set[tuple[str, str]] = set()
    out = []
    for attr in attributes:
        if wanted is not None and attr.id not in wanted:
            continue
        for v in attr.values:
            if (attr.id, v.id) in seen:
                continue
            seen.add((attr.id, v.id))
            out.append(value_term(attr.name, v.name, v.id))
    return out


def _split_id(term: str, what: str) -> tuple[str, str]:
    ident, sep, label = term.strip().partition(TERM_SEPARATOR)
    if not sep or not ident.strip().isdigit() or not label.strip():
        raise TermError(f"a {what} term has the form <id>|<{what}>, got {term[:120]!r}")
    return ident.strip(), label.strip()


def parse_category_term(term: str) -> CategoryTerm:
    ident, path = _split_id(term, "path")
    return CategoryTerm(id=ident, path=path)


def parse_brand_term(term: str) -> BrandTerm:
    ident, name = _split_id(term, "name")
    return BrandTerm(id=ident, name=name)


def parse_value_term(term: str) -> ValueTerm:
    attribute, sep, cell = term.strip().partition(TERM_SEPARATOR)
    parsed = parse_value_cell(cell) if sep else None
    if parsed is None or not attribute.strip() or not parsed[0].strip():
        raise TermError(
            f"a value term has the form <attribute>|<Value>:::::<value id>, got {term[:120]!r}"
        )
    return ValueTerm(attribute=attribute.strip(), value=parsed[0].strip(), value_id=parsed[1])


def parse_term(kind: TaxonomyKind, term: str) -> CategoryTerm | BrandTerm | ValueTerm:
    if kind is TaxonomyKind.BRANDS:
        return parse_brand_term(term)
    if kind is TaxonomyKind.VALUES:
        return parse_value_term(term)
    return parse_category_term(term)


# --- fetching through the client ----------------------------------------------------------


async def fetch_categories(
    catalog: CatalogApi, market: str, *, locale: str | None = None
) -> list[TaxonomyCategory]:
    """The whole category tree of the market's version, flattened (leaves and parents)."""
    answer = await catalog.get_categories(category_version=category_version(market), locale=locale)
    return flatten_categories(answer.categories)


async def fetch_attributes(
    catalog: CatalogApi, market: str, category_id: str, *, locale: str | None = None
) -> list[CategoryAttribute]:
    """The attributes of a leaf category (a parent category is refused with 12052024)."""
    answer = await catalog.get_attributes(
        category_id, category_version=category_version(market), locale=locale
    )
    return attributes_from_api(answer.attributes)


async def fetch_rules(catalog: CatalogApi, market: str, category_id: str) -> CategoryRuleSummary:
    answer = await catalog.get_rules(category_id, category_version=category_version(market))
    return rules_from_api(answer)


async def fetch_brands(
    catalog: CatalogApi,
    market: str,
    *,
    category_id: str | None = None,
    brand_name: str | None = None,
    authorized_only: bool = False,
    page_size: int = 100,
    max_pages: int | None = None,
) -> list[TaxonomyBrand]:
    """Brands the shop sees, with their authorization status, over every page."""
    version = category_version(market) if category_id else None

    async def page(token: str | None) -> BrandsPage:
        return await catalog.get_brands(
            page_size=page_size,
            page_token=token,
            category_id=category_id,
            is_authorized=True if authorized_only else None,
            brand_name=brand_name,
            category_version=version,
        )

    raw = [b async for b in iterate_items(page, lambda p: p.brands, max_pages=max_pages)]
    return brands_from_api(raw)


async def fetch_recommendation(
    catalog: CatalogApi, market: str, title: str, description: str | None = None
) -> Recommendation | None:
    """TikTok's leaf for a product title; None when TikTok has none (12019064)."""
    request = RecommendCategoryRequest(
        product_title=title, description=description, category_version=category_version(market)
    )
    try:
        answer = await catalog.recommend_category(request)
    except TikTokError as exc:
        if exc.code == NO_RECOMMENDATION:
            return None
        raise
    if not answer.leaf_category_id:
        return None
    chain = answer.categories
    leaf = next((c for c in chain if c.id == answer.leaf_category_id), None)
    return Recommendation(
        leaf_id=answer.leaf_category_id,
        path=PATH_SEPARATOR.join(clean_name(c.name) for c in chain),
        permission_statuses=tuple(leaf.permission_statuses) if leaf else (),
    )

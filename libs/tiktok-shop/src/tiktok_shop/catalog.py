"""Catalogue area: categories, attributes, rules, brands, category recommendation.

US (and SEA) shops must use `category_version="v2"`; v1 (3-level) is TikTok's default.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from . import operations as ops
from ._area import AreaApi
from .models.catalog import (
    AttributeList,
    Brand,
    BrandsPage,
    CategoryList,
    CategoryRules,
    RecommendCategoryRequest,
    RecommendedCategories,
)
from .pagination import iterate_items


class CatalogApi(AreaApi):
    async def get_categories(
        self,
        *,
        keyword: str | None = None,
        category_version: str | None = None,
        locale: str | None = None,
    ) -> CategoryList:
        query = {"keyword": keyword, "category_version": category_version, "locale": locale}
        data = await self._caller.call(ops.GET_CATEGORIES, self._shop, query=query)
        return self._parse(ops.GET_CATEGORIES, CategoryList, data)

    async def get_attributes(
        self, category_id: str, *, category_version: str | None = None, locale: str | None = None
    ) -> AttributeList:
        data = await self._caller.call(
            ops.GET_CATEGORY_ATTRIBUTES,
            self._shop,
            path_params={"category_id": category_id},
            query={"category_version": category_version, "locale": locale},
        )
        return self._parse(ops.GET_CATEGORY_ATTRIBUTES, AttributeList, data)

    async def get_rules(
        self, category_id: str, *, category_version: str | None = None
    ) -> CategoryRules:
        data = await self._caller.call(
            ops.GET_CATEGORY_RULES,
            self._shop,
            path_params={"category_id": category_id},
            query={"category_version": category_version},
        )
        return self._parse(ops.GET_CATEGORY_RULES, CategoryRules, data)

    async def get_brands(
        self,
        *,
        page_size: int = 100,
        page_token: str | None = None,
        category_id: str | None = None,
        is_authorized: bool | None = None,
        brand_name: str | None = None,
        category_version: str | None = None,
    ) -> BrandsPage:
        query = {
            "page_size": page_size,
            "page_token": page_token,
            "category_id": category_id,
            "is_authorized": is_authorized,
            "brand_name": brand_name,
            "category_version": category_version,
        }
        data = await self._caller.call(ops.GET_BRANDS, self._shop, query=query)
        return self._parse(ops.GET_BRANDS, BrandsPage, data)

    def iter_brands(
        self,
        *,
        page_size: int = 100,
        category_id: str | None = None,
        is_authorized: bool | None = None,
        brand_name: str | None = None,
    ) -> AsyncIterator[Brand]:
        async def fetch(token: str | None) -> BrandsPage:
            return await self.get_brands(
                page_size=page_size,
                page_token=token,
                category_id=category_id,
                is_authorized=is_authorized,
                brand_name=brand_name,
            )

        return iterate_items(fetch, lambda p: p.brands)

    async def recommend_category(self, request: RecommendCategoryRequest) -> RecommendedCategories:
        data = await self._caller.call(ops.RECOMMEND_CATEGORY, self._shop, body=request.to_body())
        return self._parse(ops.RECOMMEND_CATEGORY, RecommendedCategories, data)

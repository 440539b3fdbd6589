"""Categories, attributes, rules, brands, category recommendation ("Get Categories 202309" & co)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .common import Id, ImageRef, Page, TikTokModel


class Category(TikTokModel):
    id: Id
    parent_id: Id | None = None
    local_name: str | None = None
    is_leaf: bool = False
    permission_statuses: list[str] = []


class CategoryList(TikTokModel):
    categories: list[Category] = []


class AttributeValue(TikTokModel):
    id: Id
    name: str | None = None
    icon_url: str | None = None


class RequirementCondition(TikTokModel):
    condition_type: str | None = None
    attribute_id: Id | None = None
    attribute_value_id: Id | None = None


class Attribute(TikTokModel):
    id: Id
    name: str | None = None
    type: str | None = None  # SALES_PROPERTY | PRODUCT_PROPERTY
    # Official spelling is `is_requried` (sic); some SDKs/samples use `is_required`.
    is_requried: bool | None = None
    is_required: bool | None = None
    values: list[AttributeValue] = []
    value_data_format: str | None = None
    is_customizable: bool | None = None
    is_multiple_selection: bool | None = None
    requirement_conditions: list[RequirementCondition] = []

    @property
    def required(self) -> bool:
        return bool(self.is_requried or self.is_required)


class AttributeList(TikTokModel):
    attributes: list[Attribute] = []


class CategoryRules(TikTokModel):
    """Rules vary by category and market; the well-known keys are typed loosely."""

    product_certifications: list[dict[str, Any]] = []
    size_chart: dict[str, Any] | None = None
    package_dimension: dict[str, Any] | None = None
    is_cod_allowed: bool | None = None


class Brand(TikTokModel):
    id: Id
    name: str | None = None
    # `UNAUTHORIEZD` (sic) is the official spelling of the negative value.
    authorized_status: str | None = None
    is_t1_brand: bool | None = None
    brand_status: str | None = None

    @property
    def authorized(self) -> bool:
        return self.authorized_status == "AUTHORIZED"


class BrandsPage(Page):
    brands: list[Brand] = []


class RecommendCategoryRequest(TikTokModel):
    product_title: str
    description: str | None = None
    images: list[ImageRef] | None = None
    category_version: str | None = None


class RecommendedCategory(TikTokModel):
    id: Id
    name: str | None = None
    level: int | None = None
    is_leaf: bool | None = None
    permission_statuses: list[str] = []


class RecommendedCategories(TikTokModel):
    leaf_category_id: Id | None = None
    categories: list[RecommendedCategory] = Field(default_factory=list)

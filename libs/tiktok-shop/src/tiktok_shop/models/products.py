"""Product write and read models.

Shapes from TikTok's "Create Product 202309", "Edit Product 202509", "Get Product 202309" and
"Search Products 202502" pages.
"""

from __future__ import annotations

from typing import Any, Literal

from .common import BatchResult, Id, ImageRef, Page, Price, TikTokModel

# --- inputs -----------------------------------------------------------------


class SkuImage(TikTokModel):
    uri: str


class SalesAttributeInput(TikTokModel):
    """Give `id` or `name`, and `value_id` or `value_name`; the id wins when both are set."""

    id: str | None = None
    name: str | None = None
    value_id: str | None = None
    value_name: str | None = None
    sku_img: SkuImage | None = None


class InventoryInput(TikTokModel):
    warehouse_id: str
    quantity: int


class IdentifierCode(TikTokModel):
    code: str
    type: str  # GTIN | EAN | UPC | ISBN


class SkuInput(TikTokModel):
    """A SKU of create/edit; `id` is set only when editing an existing SKU."""

    id: str | None = None
    seller_sku: str | None = None
    external_sku_id: str | None = None
    sales_attributes: list[SalesAttributeInput] = []
    price: Price | None = None
    inventory: list[InventoryInput] = []
    identifier_code: IdentifierCode | None = None
    sku_unit_count: str | None = None


class AttributeValueInput(TikTokModel):
    id: str | None = None
    name: str | None = None


class ProductAttributeInput(TikTokModel):
    id: str
    values: list[AttributeValueInput]


class PackageWeight(TikTokModel):
    value: str
    unit: Literal["KILOGRAM", "POUND"]


class PackageDimensions(TikTokModel):
    length: str
    width: str
    height: str
    unit: Literal["CENTIMETER", "INCH"]


class ProductFields(TikTokModel):
    """All product properties, all optional: the partial-edit body."""

    save_mode: Literal["LISTING", "AS_DRAFT"] | None = None
    title: str | None = None
    description: str | None = None
    category_id: str | None = None
    category_version: str | None = None
    brand_id: str | None = None
    main_images: list[ImageRef] | None = None
    video: dict[str, Any] | None = None
    skus: list[SkuInput] | None = None
    product_attributes: list[ProductAttributeInput] | None = None
    package_weight: PackageWeight | None = None
    package_dimensions: PackageDimensions | None = None
    size_chart: dict[str, Any] | None = None
    certifications: list[dict[str, Any]] | None = None
    is_cod_allowed: bool | None = None
    delivery_option_ids: list[str] | None = None
    external_product_id: str | None = None
    is_not_for_sale: bool | None = None
    manufacturer_ids: list[str] | None = None
    responsible_person_ids: list[str] | None = None


class ProductInput(ProductFields):
    """Create / edit / listing-check body: the core properties are required."""

    title: str
    description: str
    category_id: str
    main_images: list[ImageRef]
    skus: list[SkuInput]


class ProductIds(TikTokModel):
    product_ids: list[str]


class SkuPriceUpdate(TikTokModel):
    id: str
    price: Price


class UpdatePriceRequest(TikTokModel):
    skus: list[SkuPriceUpdate]


class SkuInventoryUpdate(TikTokModel):
    id: str
    inventory: list[InventoryInput]


class UpdateInventoryRequest(TikTokModel):
    skus: list[SkuInventoryUpdate]


class InventorySearchRequest(TikTokModel):
    product_ids: list[str] | None = None
    sku_ids: list[str] | None = None


class SearchProductsRequest(TikTokModel):
    status: str | None = None  # ALL, DRAFT, PENDING, FAILED, ACTIVATE, ...
    seller_skus: list[str] | None = None  # <= 10
    create_time_ge: int | None = None
    create_time_le: int | None = None
    update_time_ge: int | None = None
    update_time_le: int | None = None


# --- outputs ----------------------------------------------------------------


class SalesAttribute(TikTokModel):
    id: Id | None = None
    name: str | None = None
    value_id: Id | None = None
    value_name: str | None = None
    sku_img: dict[str, Any] | None = None


class CreatedSku(TikTokModel):
    id: Id
    seller_sku: str | None = None
    external_sku_id: str | None = None
    sales_attributes: list[SalesAttribute] = []


class ProductWarning(TikTokModel):
    message: str | None = None


class ProductWriteResult(TikTokModel):
    """`data` of create and edit."""

    product_id: Id | None = None
    skus: list[CreatedSku] = []
    warnings: list[ProductWarning] = []


class Inventory(TikTokModel):
    warehouse_id: Id | None = None
    quantity: int | None = None


class SkuPrice(TikTokModel):
    tax_exclusive_price: str | None = None
    sale_price: str | None = None
    currency: str | None = None


class ProductSku(TikTokModel):
    id: Id
    seller_sku: str | None = None
    price: SkuPrice | None = None
    inventory: list[Inventory] = []
    sales_attributes: list[SalesAttribute] = []
    identifier_code: dict[str, Any] | None = None
    external_sku_id: str | None = None


class CategoryChain(TikTokModel):
    id: Id
    parent_id: Id | None = None
    local_name: str | None = None
    is_leaf: bool | None = None


class BrandRef(TikTokModel):
    id: Id | None = None
    name: str | None = None


class ProductImage(TikTokModel):
    uri: str | None = None
    urls: list[str] = []
    thumb_urls: list[str] = []
    width: int | None = None
    height: int | None = None


class Audit(TikTokModel):
    status: str | None = None


class Product(TikTokModel):
    id: Id
    status: str | None = None
    title: str | None = None
    description: str | None = None
    category_chains: list[CategoryChain] = []
    brand: BrandRef | None = None
    main_images: list[ProductImage] = []
    skus: list[ProductSku] = []
    create_time: int | None = None
    update_time: int | None = None
    audit: Audit | None = None
    # "Get Product 202309": why the review rejected it (position, reasons, suggestions).
    audit_failed_reasons: list[dict[str, Any]] = []


class ProductSummarySku(TikTokModel):
    id: Id
    seller_sku: str | None = None
    price: SkuPrice | None = None
    inventory: list[Inventory] = []


class ProductSummary(TikTokModel):
    id: Id
    title: str | None = None
    status: str | None = None
    skus: list[ProductSummarySku] = []
    create_time: int | None = None
    update_time: int | None = None


class ProductsPage(Page):
    products: list[ProductSummary] = []


class ProductBatchResult(BatchResult):
    """delete / activate / deactivate / recover / price / inventory: per-item errors."""


class WarehouseInventory(TikTokModel):
    warehouse_id: Id | None = None
    available_quantity: int | None = None
    committed_quantity: int | None = None


class InventorySku(TikTokModel):
    id: Id
    seller_sku: str | None = None
    total_available_quantity: int | None = None
    total_committed_quantity: int | None = None
    warehouse_inventory: list[WarehouseInventory] = []


class InventoryEntry(TikTokModel):
    product_id: Id | None = None
    skus: list[InventorySku] = []


class InventorySearchResult(TikTokModel):
    inventory: list[InventoryEntry] = []


class ListingCheckResult(TikTokModel):
    """Dry-run verdict; TikTok's shape varies, unknown fields are kept."""

    check_result: str | None = None  # e.g. PASS | FAILED
    fail_reasons: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    listing_quality: dict[str, Any] | None = None
    diagnoses: list[dict[str, Any]] = []


class UploadedImage(TikTokModel):
    uri: str
    url: str | None = None
    width: int | None = None
    height: int | None = None
    use_case: str | None = None

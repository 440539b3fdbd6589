"""Product area: create / edit / partial edit / get / search / batch state changes,
price and inventory updates, inventory search, listing check and image upload.

`create_product` is NOT idempotent: a lost answer raises `OutcomeUnknownError`; search by
seller SKU before creating again (catalog-sync's reconcile step).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from . import operations as ops
from ._area import AreaApi
from .models.products import (
    InventorySearchRequest,
    InventorySearchResult,
    ListingCheckResult,
    Product,
    ProductBatchResult,
    ProductFields,
    ProductIds,
    ProductInput,
    ProductsPage,
    ProductSummary,
    ProductWriteResult,
    SearchProductsRequest,
    SkuInventoryUpdate,
    SkuPriceUpdate,
    UpdateInventoryRequest,
    UpdatePriceRequest,
    UploadedImage,
)
from .pagination import iterate_items

MAX_BATCH_IDS = 20
IMAGE_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png"}


class ProductsApi(AreaApi):
    async def create_product(self, product: ProductInput) -> ProductWriteResult:
        data = await self._caller.call(ops.CREATE_PRODUCT, self._shop, body=product.to_body())
        return self._parse(ops.CREATE_PRODUCT, ProductWriteResult, data)

    async def edit_product(self, product_id: str, product: ProductInput) -> ProductWriteResult:
        """Full replace: SKUs left out (by `skus[].id`) are deleted by TikTok."""
        data = await self._caller.call(
            ops.EDIT_PRODUCT,
            self._shop,
            path_params={"product_id": product_id},
            body=product.to_body(),
        )
        return self._parse(ops.EDIT_PRODUCT, ProductWriteResult, data)

    async def partial_edit_product(
        self, product_id: str, fields: ProductFields
    ) -> ProductWriteResult:
        """Each top-level property sent replaces that whole property."""
        data = await self._caller.call(
            ops.PARTIAL_EDIT_PRODUCT,
            self._shop,
            path_params={"product_id": product_id},
            body=fields.to_body(),
        )
        return self._parse(ops.PARTIAL_EDIT_PRODUCT, ProductWriteResult, data)

    async def get_product(
        self, product_id: str, *, return_under_review_version: bool | None = None
    ) -> Product:
        data = await self._caller.call(
            ops.GET_PRODUCT,
            self._shop,
            path_params={"product_id": product_id},
            query={"return_under_review_version": return_under_review_version},
        )
        return self._parse(ops.GET_PRODUCT, Product, data)

    async def search_products(
        self,
        filters: SearchProductsRequest | None = None,
        *,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> ProductsPage:
        data = await self._caller.call(
            ops.SEARCH_PRODUCTS,
            self._shop,
            query={"page_size": page_size, "page_token": page_token},
            body=(filters or SearchProductsRequest()).to_body(),
        )
        return self._parse(ops.SEARCH_PRODUCTS, ProductsPage, data)

    def iter_products(
        self, filters: SearchProductsRequest | None = None, *, page_size: int = 50
    ) -> AsyncIterator[ProductSummary]:
        async def fetch(token: str | None) -> ProductsPage:
            return await self.search_products(filters, page_size=page_size, page_token=token)

        return iterate_items(fetch, lambda p: p.products)

    async def delete_products(self, product_ids: Sequence[str]) -> ProductBatchResult:
        return await self._batch(ops.DELETE_PRODUCTS, product_ids)

    async def activate_products(self, product_ids: Sequence[str]) -> ProductBatchResult:
        return await self._batch(ops.ACTIVATE_PRODUCTS, product_ids)

    async def deactivate_products(self, product_ids: Sequence[str]) -> ProductBatchResult:
        return await self._batch(ops.DEACTIVATE_PRODUCTS, product_ids)

    async def recover_products(self, product_ids: Sequence[str]) -> ProductBatchResult:
        return await self._batch(ops.RECOVER_PRODUCTS, product_ids)

    async def _batch(self, op: ops.Operation, product_ids: Sequence[str]) -> ProductBatchResult:
        if not product_ids or len(product_ids) > MAX_BATCH_IDS:
            raise ValueError(f"product_ids must hold 1..{MAX_BATCH_IDS} ids")
        body = ProductIds(product_ids=list(product_ids)).to_body()
        data = await self._caller.call(op, self._shop, body=body)
        return self._parse(op, ProductBatchResult, data)

    async def check_listing(self, product: ProductInput) -> ListingCheckResult:
        data = await self._caller.call(
            ops.CHECK_PRODUCT_LISTING, self._shop, body=product.to_body()
        )
        return self._parse(ops.CHECK_PRODUCT_LISTING, ListingCheckResult, data)

    async def update_price(
        self, product_id: str, skus: Sequence[SkuPriceUpdate]
    ) -> ProductBatchResult:
        data = await self._caller.call(
            ops.UPDATE_PRICE,
            self._shop,
            path_params={"product_id": product_id},
            body=UpdatePriceRequest(skus=list(skus)).to_body(),
        )
        return self._parse(ops.UPDATE_PRICE, ProductBatchResult, data)

    async def update_inventory(
        self, product_id: str, skus: Sequence[SkuInventoryUpdate]
    ) -> ProductBatchResult:
        data = await self._caller.call(
            ops.UPDATE_INVENTORY,
            self._shop,
            path_params={"product_id": product_id},
            body=UpdateInventoryRequest(skus=list(skus)).to_body(),
        )
        return self._parse(ops.UPDATE_INVENTORY, ProductBatchResult, data)

    async def search_inventory(
        self,
        *,
        product_ids: Sequence[str] | None = None,
        sku_ids: Sequence[str] | None = None,
    ) -> InventorySearchResult:
        if bool(product_ids) == bool(sku_ids):
            raise ValueError("give exactly one of product_ids or sku_ids")
        body = InventorySearchRequest(
            product_ids=list(product_ids) if product_ids else None,
            sku_ids=list(sku_ids) if sku_ids else None,
        ).to_body()
        data = await self._caller.call(ops.INVENTORY_SEARCH, self._shop, body=body)
        return self._parse(ops.INVENTORY_SEARCH, InventorySearchResult, data)

    async def upload_image(
        self, content: bytes, *, filename: str = "image.jpg", use_case: str = "MAIN_IMAGE"
    ) -> UploadedImage:
        """Multipart upload (fields `data` and `use_case`); the body is not signed."""
        ext = filename.rsplit(".", 1)[-1].lower()
        content_type = IMAGE_TYPES.get(ext, "application/octet-stream")
        data = await self._caller.call(
            ops.UPLOAD_PRODUCT_IMAGE,
            self._shop,
            files={"data": (filename, content, content_type)},
            form={"use_case": use_case},
        )
        return self._parse(ops.UPLOAD_PRODUCT_IMAGE, UploadedImage, data)

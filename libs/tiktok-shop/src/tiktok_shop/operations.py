"""Every operation the client calls, at its NEWEST version (docs/tiktok-client.md lists them).

`cipher`: the operation needs `shop_cipher` (each operation's TikTok doc page says so; none on
/authorization/*, image upload, ...). `idempotent=False` marks writes that must never be
repeated blindly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str
    cipher: bool = True
    idempotent: bool = True

    def render(self, **path_params: str) -> str:
        path = self.path
        for key, value in path_params.items():
            # Ids only: a slash or dot-segment would let input re-route the signed call.
            if (
                not value
                or "/" in str(value)
                or str(value) in (".", "..")
                or "?" in str(value)
                or "#" in str(value)
            ):
                raise ValueError(f"invalid path parameter {key}")
            path = path.replace("{" + key + "}", str(value))
        if "{" in path:
            raise ValueError(f"missing path parameter for {self.path}")
        return path


def _op(name: str, method: str, path: str, **kw: bool) -> Operation:
    return Operation(name, method, path, **kw)


# Authorization
GET_AUTHORIZED_SHOPS = _op("getAuthorizedShops", "GET", "/authorization/202309/shops", cipher=False)

# Events (webhooks)
GET_SHOP_WEBHOOKS = _op("getShopWebhooks", "GET", "/event/202309/webhooks")
UPDATE_SHOP_WEBHOOK = _op("updateShopWebhook", "PUT", "/event/202309/webhooks")
DELETE_SHOP_WEBHOOK = _op("deleteWebhookForAnEvent", "DELETE", "/event/202309/webhooks")

# Fulfillment
UPDATE_ORDER_SHIPPING_INFO = _op(
    "updateOrderShippingInfo", "POST", "/fulfillment/202309/orders/{order_id}/shipping_info/update"
)
GET_ORDER_TRACKING = _op(
    "getOrderTracking", "GET", "/fulfillment/202309/orders/{order_id}/tracking"
)
SEARCH_PACKAGE = _op("searchPackage", "POST", "/fulfillment/202309/packages/search")
BATCH_SHIP_PACKAGES = _op(
    "batchShipPackages", "POST", "/fulfillment/202309/packages/ship", idempotent=False
)
GET_PACKAGE_DETAIL = _op("getPackageDetail", "GET", "/fulfillment/202309/packages/{package_id}")
SHIP_PACKAGE = _op(
    "shipPackage", "POST", "/fulfillment/202309/packages/{package_id}/ship", idempotent=False
)
MARK_PACKAGE_AS_SHIPPED = _op(
    "markPackageAsShipped",
    "POST",
    "/fulfillment/202309/orders/{order_id}/packages",
    idempotent=False,
)

# Logistics
GET_SHIPPING_PROVIDERS = _op(
    "getShippingProviders",
    "GET",
    "/logistics/202309/delivery_options/{delivery_option_id}/shipping_providers",
)
GET_WAREHOUSE_LIST = _op("getWarehouseList", "GET", "/logistics/202309/warehouses")
GET_WAREHOUSE_DELIVERY_OPTIONS = _op(
    "getWarehouseDeliveryOptions",
    "GET",
    "/logistics/202309/warehouses/{warehouse_id}/delivery_options",
)

# Orders
GET_ORDER_LIST = _op("getOrderList", "POST", "/order/202309/orders/search")
GET_ORDER_DETAIL = _op("getOrderDetail", "GET", "/order/202507/orders")

# Catalogue
GET_BRANDS = _op("getBrands", "GET", "/product/202309/brands")
GET_CATEGORIES = _op("getCategories", "GET", "/product/202309/categories")
RECOMMEND_CATEGORY = _op("recommendCategory", "POST", "/product/202309/categories/recommend")
GET_CATEGORY_ATTRIBUTES = _op(
    "getCategoryAttributes", "GET", "/product/202309/categories/{category_id}/attributes"
)
GET_CATEGORY_RULES = _op(
    "getCategoryRules", "GET", "/product/202309/categories/{category_id}/rules"
)

# Products
UPLOAD_PRODUCT_IMAGE = _op(
    "uploadProductImage", "POST", "/product/202309/images/upload", cipher=False
)
INVENTORY_SEARCH = _op("inventorySearch", "POST", "/product/202309/inventory/search")
CREATE_PRODUCT = _op("createProduct", "POST", "/product/202309/products", idempotent=False)
DELETE_PRODUCTS = _op("deleteProducts", "DELETE", "/product/202309/products")
ACTIVATE_PRODUCTS = _op("activateProducts", "POST", "/product/202309/products/activate")
DEACTIVATE_PRODUCTS = _op("deactivateProducts", "POST", "/product/202309/products/deactivate")
CHECK_PRODUCT_LISTING = _op("checkProductListing", "POST", "/product/202309/products/listing_check")
RECOVER_PRODUCTS = _op("recoverProducts", "POST", "/product/202309/products/recover")
GET_PRODUCT = _op("getProduct", "GET", "/product/202309/products/{product_id}")
UPDATE_INVENTORY = _op(
    "updateInventory", "POST", "/product/202309/products/{product_id}/inventory/update"
)
UPDATE_PRICE = _op("updatePrice", "POST", "/product/202309/products/{product_id}/prices/update")
SEARCH_PRODUCTS = _op("searchProducts", "POST", "/product/202502/products/search")
EDIT_PRODUCT = _op("editProduct", "PUT", "/product/202509/products/{product_id}")
PARTIAL_EDIT_PRODUCT = _op(
    "partialEditProduct", "POST", "/product/202509/products/{product_id}/partial_edit"
)

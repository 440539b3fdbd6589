"""Order search and detail ("Get Order List 202309", "Get Order Detail 202309").

Ids and money are strings; times Unix seconds.
"""

from __future__ import annotations

from .common import Id, Page, TikTokModel


class SearchOrdersRequest(TikTokModel):
    order_status: str | None = None
    create_time_ge: int | None = None
    create_time_lt: int | None = None
    update_time_ge: int | None = None
    update_time_lt: int | None = None
    shipping_type: str | None = None  # TIKTOK | SELLER
    buyer_user_id: str | None = None
    is_buyer_request_cancel: bool | None = None


class Payment(TikTokModel):
    currency: str | None = None
    sub_total: str | None = None
    shipping_fee: str | None = None
    seller_discount: str | None = None
    platform_discount: str | None = None
    total_amount: str | None = None
    original_total_product_price: str | None = None
    original_shipping_fee: str | None = None
    tax: str | None = None
    retail_delivery_fee: str | None = None


class DistrictInfo(TikTokModel):
    address_level: str | None = None
    address_level_name: str | None = None
    address_name: str | None = None


class RecipientAddress(TikTokModel):
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone_number: str | None = None
    full_address: str | None = None
    address_detail: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    address_line3: str | None = None
    address_line4: str | None = None
    postal_code: str | None = None
    region_code: str | None = None
    district_info: list[DistrictInfo] = []


class LineItem(TikTokModel):
    """One unit: TikTok has no quantity field, quantity = repeated line items."""

    id: Id
    sku_id: Id | None = None
    product_id: Id | None = None
    product_name: str | None = None
    sku_name: str | None = None
    sku_image: str | None = None
    seller_sku: str | None = None
    original_price: str | None = None
    sale_price: str | None = None
    platform_discount: str | None = None
    seller_discount: str | None = None
    currency: str | None = None
    display_status: str | None = None
    package_id: Id | None = None
    package_status: str | None = None
    tracking_number: str | None = None
    shipping_provider_id: Id | None = None
    shipping_provider_name: str | None = None
    is_gift: bool | None = None


class PackageRef(TikTokModel):
    id: Id


class Order(TikTokModel):
    id: Id
    status: str
    create_time: int | None = None
    update_time: int | None = None
    paid_time: int | None = None
    rts_time: int | None = None
    rts_sla_time: int | None = None
    shipping_due_time: int | None = None
    delivery_due_time: int | None = None
    cancel_time: int | None = None
    cancel_reason: str | None = None
    cancellation_initiator: str | None = None
    is_on_hold_order: bool | None = None
    is_buyer_request_cancel: bool | None = None
    is_cod: bool | None = None
    user_id: Id | None = None
    buyer_email: str | None = None
    buyer_message: str | None = None
    fulfillment_type: str | None = None
    shipping_type: str | None = None
    delivery_type: str | None = None
    delivery_option_id: Id | None = None
    delivery_option_name: str | None = None
    shipping_provider: str | None = None
    shipping_provider_id: Id | None = None
    tracking_number: str | None = None
    warehouse_id: Id | None = None
    split_or_combine_tag: str | None = None
    packages: list[PackageRef] = []
    payment: Payment | None = None
    # Withheld by TikTok while UNPAID / ON_HOLD.
    recipient_address: RecipientAddress | None = None
    line_items: list[LineItem] = []


class OrdersPage(Page):
    orders: list[Order] = []


class OrderDetails(TikTokModel):
    orders: list[Order] = []

    def by_id(self) -> dict[str, Order]:
        return {o.id: o for o in self.orders}

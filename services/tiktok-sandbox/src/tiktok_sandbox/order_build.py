"""Building a new order from the admin `POST /sandbox/v1/orders` body.

The order's shape is that of "Get Order Detail 202309".

Only the shape and the money live here; the status machine is in orders.py. Money is
computed with `Decimal` and rendered as 2-decimal strings so the documented identities
hold exactly:
  sub_total    = original_total_product_price - seller_discount - platform_discount
  shipping_fee = original_shipping_fee - shipping_fee_seller_discount - shipping_fee_platform_discount
  total_amount = sub_total + shipping_fee + tax + retail_delivery_fee
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .errors import ApiError
from .logistics_seed import market
from .snowflake import new_id

# Admin (non-TikTok) endpoints answer with plain HTTP statuses and these codes.
ADMIN_BAD_REQUEST = 40000
ADMIN_NOT_FOUND = 40400
ADMIN_CONFLICT = 40900

FULFILLMENT_TYPES = ("FULFILLMENT_BY_SELLER", "FULFILLMENT_BY_TIKTOK")
SHIPPING_TYPES = ("SELLER", "TIKTOK")
MAX_LINE_ITEMS = 100
CENT = Decimal("0.01")

# Per-market defaults: US has sales tax and the (Colorado-style) retail delivery fee field.
_MARKET_DEFAULTS: dict[str, dict[str, str]] = {
    "US": {"shipping_fee": "5.99", "tax_rate": "0.0725", "currency": "USD"},
    "GB": {"shipping_fee": "2.99", "tax_rate": "0", "currency": "GBP"},
}

_DEFAULT_BUYERS: dict[str, dict[str, Any]] = {
    "US": {
        "user_id": "7494560109732334286",
        "email": "v2buyer0sandbox@scs.tiktokw.us",
        "first_name": "Jane",
        "last_name": "Doe",
        "phone_number": "(+1)213*****67",
        "address_line1": "591 Lyon Ave",
        "address_line2": "Apt 4",
        "postal_code": "94061",
        "districts": ["United States", "California", "San Mateo", "Redwood City"],
    },
    "GB": {
        "user_id": "7494560109732334287",
        "email": "v2buyer0sandbox@scs.tiktokw.eu",
        "first_name": "John",
        "last_name": "Smith",
        "phone_number": "(+44)77*****123",
        "address_line1": "10 Downing Street",
        "address_line2": "",
        "postal_code": "SW1A 2AA",
        "districts": ["United Kingdom", "England", "Greater London", "London"],
    },
}
_LEVEL_NAMES = ["Country", "State", "County", "City", "District"]


def bad_request(message: str) -> ApiError:
    return ApiError(ADMIN_BAD_REQUEST, message, http_status=400)


def money(value: Any, name: str) -> Decimal:
    """Parse a money amount (string or number) into a non-negative cent-rounded Decimal."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise bad_request(f"{name} must be a decimal amount, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise bad_request(f"{name} must be a non-negative amount, got {value!r}")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def fmt(amount: Decimal) -> str:
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


@dataclass
class LineSpec:
    """One unit of one SKU: TikTok's line items have no quantity, so a quantity repeats the item."""

    sku: dict[str, Any]
    seller_discount: Decimal = field(default_factory=lambda: Decimal("0.00"))
    platform_discount: Decimal = field(default_factory=lambda: Decimal("0.00"))
    is_gift: bool = False


def resolve_lines(products: Any, shop_id: str, raw_items: Any) -> list[LineSpec]:
    """Resolve `line_items` (sku_id or seller_sku, quantity) against the shop's products."""
    if not isinstance(raw_items, list) or not raw_items:
        raise bad_request("line_items must be a non-empty list")
    lines: list[LineSpec] = []
    for i, item in enumerate(raw_items):
        if not isinstance(item, dict):
            raise bad_request(f"line_items[{i}] must be an object")
        sku: dict[str, Any] | None
        if item.get("sku_id"):
            sku = products.get_sku(shop_id, str(item["sku_id"]))
            ref = f"sku_id {item['sku_id']}"
        elif item.get("seller_sku"):
            sku = products.find_by_seller_sku(shop_id, str(item["seller_sku"]))
            ref = f"seller_sku {item['seller_sku']!r}"
        else:
            raise bad_request(f"line_items[{i}] needs sku_id or seller_sku")
        if sku is None:
            raise ApiError(ADMIN_NOT_FOUND, f"{ref} not found in shop {shop_id}", 404)
        status = sku.get("status", "ACTIVATE")
        if status != "ACTIVATE":
            # Buyers only see live listings; a PENDING product becomes ACTIVATE once its
            # audit ends (advance the sandbox clock past the audit delay).
            raise ApiError(
                ADMIN_CONFLICT, f"{ref}: product is {status}; only ACTIVATE products sell", 409
            )
        quantity = item.get("quantity", 1)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise bad_request(f"line_items[{i}].quantity must be a positive integer")
        seller = money(item.get("seller_discount", "0"), f"line_items[{i}].seller_discount")
        platform = money(item.get("platform_discount", "0"), f"line_items[{i}].platform_discount")
        if seller + platform > money(sku["price"], "price"):
            raise bad_request(f"line_items[{i}]: discounts exceed the unit price")
        gift = bool(item.get("is_gift", False))
        lines.extend(LineSpec(sku, seller, platform, gift) for _ in range(quantity))
    if len(lines) > MAX_LINE_ITEMS:
        raise bad_request(f"at most {MAX_LINE_ITEMS} line items (units) per order")
    return lines


def build_order(
    shop: dict[str, Any], body: dict[str, Any], lines: list[LineSpec], now: int
) -> dict[str, Any]:
    """The stored order document (API shape, address included; rendering hides it)."""
    region = str(shop["region"])
    logistics = market(region)
    defaults = _MARKET_DEFAULTS["GB" if region in ("GB", "UK") else "US"]
    fulfillment_type = body.get("fulfillment_type", "FULFILLMENT_BY_SELLER")
    if fulfillment_type not in FULFILLMENT_TYPES:
        raise bad_request(f"fulfillment_type must be one of {', '.join(FULFILLMENT_TYPES)}")
    default_shipping = "TIKTOK" if fulfillment_type == "FULFILLMENT_BY_TIKTOK" else "SELLER"
    shipping_type = body.get("shipping_type", default_shipping)
    if shipping_type not in SHIPPING_TYPES:
        raise bad_request(f"shipping_type must be one of {', '.join(SHIPPING_TYPES)}")
    warehouse_id = str(body.get("warehouse_id") or logistics.default_warehouse_id)
    if warehouse_id not in logistics.sales_warehouse_ids:
        raise bad_request(f"warehouse_id {warehouse_id} is not a sales warehouse of the shop")
    option_id = str(body.get("delivery_option_id") or logistics.default_delivery_option_id)
    option_ids = {o["id"] for o in logistics.delivery_options.get(warehouse_id, [])}
    if option_id not in option_ids:
        raise bad_request(
            f"delivery_option_id {option_id} is not offered by warehouse {warehouse_id}"
        )
    option = logistics.delivery_option(option_id) or {}

    currency = defaults["currency"]
    for line in lines:
        if line.sku.get("currency", currency) != currency:
            raise bad_request(f"sku {line.sku['sku_id']} is priced in {line.sku.get('currency')}")
    payment = _payment(body, lines, defaults, is_us=region == "US")
    buyer = _buyer(region, body.get("buyer") or {})
    order_id = new_id()
    line_items = [_line_item(line, currency) for line in lines]
    return {
        "id": order_id,
        "status": "UNPAID",
        "create_time": now,
        "update_time": now,
        "is_on_hold_order": True,
        "is_buyer_request_cancel": False,
        "is_cod": bool(body.get("is_cod", False)),
        "is_sample_order": False,
        "is_replacement_order": False,
        "order_type": "NORMAL",
        "user_id": buyer["user_id"],
        "buyer_email": buyer["email"],
        "buyer_message": str(buyer.get("message", "")),
        "seller_note": "",
        "payment_method_name": "Credit/debit card",
        "fulfillment_type": fulfillment_type,
        "shipping_type": shipping_type,
        "delivery_type": "HOME_DELIVERY",
        "delivery_option_id": option_id,
        "delivery_option_name": option.get("name", ""),
        "warehouse_id": warehouse_id,
        "split_or_combine_tag": "",
        "has_updated_recipient_address": False,
        "commerce_platform": "TIKTOK_SHOP",
        "payment": payment,
        "recipient_address": buyer["address"],
        "line_items": line_items,
        "packages": [],
    }


def _line_item(line: LineSpec, currency: str) -> dict[str, Any]:
    original = money(line.sku["price"], "price")
    sale = original - line.seller_discount - line.platform_discount
    return {
        "id": new_id(),
        "sku_id": str(line.sku["sku_id"]),
        "product_id": str(line.sku["product_id"]),
        "product_name": line.sku.get("product_name", ""),
        "sku_name": line.sku.get("sku_name", ""),
        "sku_image": line.sku.get("image_url", ""),
        "seller_sku": line.sku.get("seller_sku", ""),
        "sku_type": "NORMAL",
        "original_price": fmt(original),
        "sale_price": fmt(sale),
        "seller_discount": fmt(line.seller_discount),
        "platform_discount": fmt(line.platform_discount),
        "currency": currency,
        "display_status": "UNPAID",
        "package_id": "",
        "package_status": "TO_FULFILL",
        "tracking_number": "",
        "shipping_provider_id": "",
        "shipping_provider_name": "",
        "is_gift": line.is_gift,
        "is_dangerous_good": False,
    }


def _payment(
    body: dict[str, Any], lines: list[LineSpec], defaults: dict[str, str], is_us: bool
) -> dict[str, Any]:
    original_products = sum((money(li.sku["price"], "price") for li in lines), Decimal("0.00"))
    seller = sum((li.seller_discount for li in lines), Decimal("0.00"))
    platform = sum((li.platform_discount for li in lines), Decimal("0.00"))
    sub_total = original_products - seller - platform
    original_shipping = money(body.get("shipping_fee", defaults["shipping_fee"]), "shipping_fee")
    ship_seller = money(
        body.get("shipping_fee_seller_discount", "0"), "shipping_fee_seller_discount"
    )
    ship_platform = money(
        body.get("shipping_fee_platform_discount", "0"), "shipping_fee_platform_discount"
    )
    if ship_seller + ship_platform > original_shipping:
        raise bad_request("shipping fee discounts exceed the shipping fee")
    shipping_fee = original_shipping - ship_seller - ship_platform
    try:
        rate = Decimal(str(body.get("tax_rate", defaults["tax_rate"])))
    except InvalidOperation:
        raise bad_request("tax_rate must be a decimal such as 0.0725") from None
    if not rate.is_finite() or not Decimal(0) <= rate < 1:
        raise bad_request("tax_rate must be in [0, 1)")
    product_tax = (sub_total * rate).quantize(CENT, rounding=ROUND_HALF_UP)
    shipping_tax = (shipping_fee * rate).quantize(CENT, rounding=ROUND_HALF_UP)
    tax = product_tax + shipping_tax
    retail_delivery_fee = money(body.get("retail_delivery_fee", "0"), "retail_delivery_fee")
    total = sub_total + shipping_fee + tax + retail_delivery_fee
    payment = {
        "currency": defaults["currency"],
        "original_total_product_price": fmt(original_products),
        "seller_discount": fmt(seller),
        "platform_discount": fmt(platform),
        "sub_total": fmt(sub_total),
        "original_shipping_fee": fmt(original_shipping),
        "shipping_fee_seller_discount": fmt(ship_seller),
        "shipping_fee_platform_discount": fmt(ship_platform),
        "shipping_fee": fmt(shipping_fee),
        "product_tax": fmt(product_tax),
        "shipping_fee_tax": fmt(shipping_tax),
        "tax": fmt(tax),
        "total_amount": fmt(total),
    }
    if is_us:
        payment["retail_delivery_fee"] = fmt(retail_delivery_fee)
    return payment


def _buyer(region: str, raw: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad_request("buyer must be an object")
    base = dict(_DEFAULT_BUYERS["GB" if region in ("GB", "UK") else "US"])
    base.update({k: v for k, v in raw.items() if k != "address"})
    addr = {**base, **(raw.get("address") or {})}
    first, last = str(addr["first_name"]), str(addr["last_name"])
    districts = [str(d) for d in addr["districts"]]
    lines = [str(addr.get("address_line1", "")), str(addr.get("address_line2", ""))]
    detail = ", ".join(x for x in lines if x)
    full = ", ".join([detail, *reversed(districts[1:]), str(addr["postal_code"]), districts[0]])
    address = {
        "name": f"{first} {last}",
        "first_name": first,
        "last_name": last,
        "phone_number": str(addr["phone_number"]),
        "full_address": full,
        "address_detail": detail,
        "address_line1": lines[0],
        "address_line2": lines[1],
        "address_line3": "",
        "address_line4": "",
        "postal_code": str(addr["postal_code"]),
        "region_code": "GB" if region in ("GB", "UK") else "US",
        "district_info": [
            {"address_level": f"L{i}", "address_level_name": _LEVEL_NAMES[i], "address_name": d}
            for i, d in enumerate(districts[:5])
        ],
    }
    return {
        "user_id": str(base["user_id"]),
        "email": str(base["email"]),
        "message": str(base.get("message", "")),
        "address": address,
    }

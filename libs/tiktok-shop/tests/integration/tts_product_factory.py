"""Builds a valid product the way a real integration would: upload an image, pick an
available leaf category, fill the category's attributes from TikTok's attribute list,
use the shop's default warehouse. Shared by the product and order contract tests."""

from __future__ import annotations

import struct
import zlib

from tiktok_shop.models.products import (
    AttributeValueInput,
    ImageRef,
    InventoryInput,
    PackageDimensions,
    PackageWeight,
    Price,
    ProductAttributeInput,
    ProductInput,
    SalesAttributeInput,
    SkuInput,
)
from tts_client_contract import Connected


def tiny_png() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    raw = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def version_of(conn: Connected) -> str:
    # US shops must use the v2 (7-level) tree; UK uses v1.
    return "v2" if conn.region == "US" else "v1"


async def leaf_category(conn: Connected) -> str:
    cats = await conn.shop.catalog.get_categories(category_version=version_of(conn))
    return next(
        c.id for c in cats.categories if c.is_leaf and "INVITE_ONLY" not in c.permission_statuses
    )


async def product_input(
    conn: Connected,
    seller_skus: list[str],
    title: str = "Sandbox contract mug",
    category_id: str | None = None,
) -> ProductInput:
    image = await conn.shop.products.upload_image(tiny_png(), filename="mug.png")
    category_id = category_id or await leaf_category(conn)
    version = version_of(conn)
    attrs = (
        await conn.shop.catalog.get_attributes(category_id, category_version=version)
    ).attributes
    product_attrs = [
        ProductAttributeInput(
            id=a.id,
            values=[AttributeValueInput(id=a.values[0].id)]
            if a.values
            else [AttributeValueInput(name="Sandbox")],
        )
        for a in attrs
        if a.type == "PRODUCT_PROPERTY" and (a.required or a.requirement_conditions)
    ]
    sales = next((a for a in attrs if a.type == "SALES_PROPERTY"), None)
    warehouses = (await conn.shop.logistics.get_warehouses()).warehouses
    warehouse = next((w for w in warehouses if w.is_default), warehouses[0])
    currency = "USD" if conn.region == "US" else "GBP"
    skus = []
    for i, seller_sku in enumerate(seller_skus):
        sales_attrs = []
        if sales is not None:
            value = sales.values[i % len(sales.values)] if sales.values else None
            sales_attrs = [
                SalesAttributeInput(id=sales.id, value_id=value.id)
                if value
                else SalesAttributeInput(id=sales.id, value_name=f"Variant {i}")
            ]
        skus.append(
            SkuInput(
                seller_sku=seller_sku,
                sales_attributes=sales_attrs,
                price=Price(amount=f"{19 + i}.99", currency=currency),
                inventory=[InventoryInput(warehouse_id=warehouse.id, quantity=50)],
            )
        )
    return ProductInput(
        title=title,
        description="<p>A sturdy mug.</p><ul><li>Dishwasher safe</li></ul>",
        category_id=category_id,
        category_version=version,
        main_images=[ImageRef(uri=image.uri)],
        skus=skus,
        product_attributes=product_attrs or None,
        package_weight=PackageWeight(value="0.4", unit="KILOGRAM"),
        package_dimensions=PackageDimensions(
            length="12", width="10", height="10", unit="CENTIMETER"
        ),
    )

"""Contract: every product operation, its errors, and the commit-then-drop fault
("Create Product 202309" & co; the fault: docs/tiktok-client.md, "Retries")."""

from __future__ import annotations

import uuid

import pytest
from tiktok_shop import NotFoundError, OutcomeUnknownError, TikTokError, ValidationError
from tiktok_shop.models.catalog import Category
from tiktok_shop.models.products import (
    InventoryInput,
    Price,
    Product,
    ProductFields,
    SearchProductsRequest,
    SkuInventoryUpdate,
    SkuPriceUpdate,
)
from tts_client_contract import Connected
from tts_product_factory import product_input, tiny_png

CREATE = "POST /product/202309/products"


def sku(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def calls(conn: Connected, operation: str) -> int:
    return int(conn.sandbox.admin("GET", "/sandbox/v1/stats")["data"]["calls"].get(operation, 0))


async def test_upload_image(us: Connected) -> None:
    img = await us.shop.products.upload_image(tiny_png(), filename="a.png", use_case="MAIN_IMAGE")
    assert img.uri and img.use_case in (None, "MAIN_IMAGE")


async def test_create_get_audit_and_search(us: Connected) -> None:
    seller_skus = [sku("MUG-R"), sku("MUG-B")]
    created = await us.shop.products.create_product(await product_input(us, seller_skus))
    assert created.product_id and {s.seller_sku for s in created.skus} == set(seller_skus)
    product = await us.shop.products.get_product(created.product_id)
    assert product.status == "PENDING" and len(product.skus) == 2
    assert product.skus[0].price is not None and product.skus[0].price.currency == "USD"
    us.sandbox.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 60})
    assert (await us.shop.products.get_product(created.product_id)).status == "ACTIVATE"
    found = await us.shop.products.search_products(
        SearchProductsRequest(status="ALL", seller_skus=[seller_skus[0]])
    )
    assert [p.id for p in found.products] == [created.product_id]


async def test_search_paging_iterates_every_product(uk: Connected) -> None:
    made = set()
    for _ in range(3):
        made.add(
            (
                await uk.shop.products.create_product(await product_input(uk, [sku("TEA")]))
            ).product_id
        )
    seen = [
        p.id
        async for p in uk.shop.products.iter_products(
            SearchProductsRequest(status="ALL"), page_size=2
        )
    ]
    assert made <= set(seen) and len(seen) == len(set(seen))


async def newest_version(conn: Connected, product_id: str) -> Product:
    """The product as last edited, whatever the audit timing.

    An edit of a live product is reviewed beside the live version (Edit Product 202509):
    Get Product shows the live one, `return_under_review_version` the one under review, and
    answers 12052547 when none is (the product was not live yet, or the review is over).
    """
    try:
        return await conn.shop.products.get_product(product_id, return_under_review_version=True)
    except TikTokError as exc:
        if exc.code != 12052547:
            raise
    return await conn.shop.products.get_product(product_id)


async def test_edit_partial_edit_and_listing_check(us: Connected) -> None:
    seller_skus = [sku("ED-1"), sku("ED-2")]
    body = await product_input(us, seller_skus)
    created = await us.shop.products.create_product(body)
    keep = next(s for s in created.skus if s.seller_sku == seller_skus[0])
    # Full edit keeping only the first SKU (by id): TikTok deletes the omitted one.
    edited = body.model_copy(
        update={"title": "Edited mug", "skus": [body.skus[0].model_copy(update={"id": keep.id})]}
    )
    await us.shop.products.edit_product(created.product_id or "", edited)
    product = await newest_version(us, created.product_id or "")
    assert product.title == "Edited mug" and [s.id for s in product.skus] == [keep.id]
    await us.shop.products.partial_edit_product(
        created.product_id or "", ProductFields(title="Partially edited")
    )
    product = await newest_version(us, created.product_id or "")
    assert product.title == "Partially edited" and [s.id for s in product.skus] == [keep.id]
    good = await us.shop.products.check_listing(await product_input(us, [sku("CHK")]))
    assert good.check_result == "PASS" and not good.fail_reasons
    bad_body = (await product_input(us, [sku("CHK")])).model_copy(update={"title": "x" * 256})
    bad = await us.shop.products.check_listing(bad_body)
    assert bad.check_result == "FAILED" and bad.fail_reasons
    # A dry run creates nothing.
    found = await us.shop.products.search_products(
        SearchProductsRequest(status="ALL", seller_skus=[bad_body.skus[0].seller_sku or ""])
    )
    assert found.products == []


async def test_price_inventory_and_inventory_search(us: Connected) -> None:
    created = await us.shop.products.create_product(await product_input(us, [sku("PI")]))
    pid, sku_id = created.product_id or "", created.skus[0].id
    wh = (await us.shop.logistics.get_warehouses()).warehouses
    warehouse = next((w for w in wh if w.is_default), wh[0]).id
    res = await us.shop.products.update_price(
        pid, [SkuPriceUpdate(id=sku_id, price=Price(amount="12.34", currency="USD"))]
    )
    assert res.ok
    res = await us.shop.products.update_inventory(
        pid,
        [
            SkuInventoryUpdate(
                id=sku_id, inventory=[InventoryInput(warehouse_id=warehouse, quantity=777)]
            )
        ],
    )
    assert res.ok
    product = await us.shop.products.get_product(pid)
    price = product.skus[0].price
    assert price is not None and "12.34" in (price.sale_price, price.tax_exclusive_price)
    assert [i.quantity for i in product.skus[0].inventory] == [777]
    inv = await us.shop.products.search_inventory(product_ids=[pid])
    assert inv.inventory and inv.inventory[0].product_id == pid
    [inv_sku] = inv.inventory[0].skus
    assert (inv_sku.id, inv_sku.total_available_quantity) == (sku_id, 777)
    assert [(w.warehouse_id, w.available_quantity) for w in inv_sku.warehouse_inventory] == [
        (warehouse, 777)
    ]
    by_sku = await us.shop.products.search_inventory(sku_ids=[sku_id])
    assert by_sku.inventory


async def test_inventory_update_reports_per_warehouse_failures_inside_code_0(
    us: Connected,
) -> None:
    # Update Inventory 202309 answers code 0 with
    # data.errors[{code 12052990, detail{sku_id, extra_errors[{warehouse_id}]}}]
    created = await us.shop.products.create_product(await product_input(us, [sku("IE")]))
    pid, sku_id = created.product_id or "", created.skus[0].id
    bad = InventoryInput(warehouse_id="7068517275539799999", quantity=5)
    res = await us.shop.products.update_inventory(
        pid, [SkuInventoryUpdate(id=sku_id, inventory=[bad])]
    )
    assert not res.ok
    [item] = res.item_errors
    assert (item.code, item.item_id) == (12052990, sku_id)
    [extra] = item.detail["extra_errors"]
    assert extra["warehouse_id"] == "7068517275539799999" and extra["code"] != 0


async def test_batch_state_changes_and_per_item_errors(us: Connected) -> None:
    pid = (
        await us.shop.products.create_product(await product_input(us, [sku("ST")]))
    ).product_id or ""
    assert (await us.shop.products.deactivate_products([pid])).ok
    assert (await us.shop.products.get_product(pid)).status == "SELLER_DEACTIVATED"
    assert (await us.shop.products.activate_products([pid])).ok
    assert (await us.shop.products.delete_products([pid])).ok
    assert (await us.shop.products.get_product(pid)).status == "DELETED"
    assert (await us.shop.products.recover_products([pid])).ok
    assert (await us.shop.products.get_product(pid)).status != "DELETED"
    # One good id and one unknown id: code 0 with a per-item error naming the bad one.
    # (recover leaves it SELLER_DEACTIVATED, so activating it is valid)
    result = await us.shop.products.activate_products([pid, "1729592969712299999"])
    assert [e.item_id for e in result.item_errors] == ["1729592969712299999"]
    assert result.item_errors[0].code != 0


async def test_get_unknown_product_is_not_found(us: Connected) -> None:
    with pytest.raises(NotFoundError) as info:
        await us.shop.products.get_product("1729592969712299999")
    assert info.value.code == 12019150


async def test_other_shops_product_is_not_found(us: Connected, uk: Connected) -> None:
    pid = (
        await uk.shop.products.create_product(await product_input(uk, [sku("UKONLY")]))
    ).product_id or ""
    with pytest.raises(NotFoundError) as info:
        await us.shop.products.get_product(pid)
    assert info.value.code == 12052048


async def test_validation_errors_are_typed(us: Connected) -> None:
    body = await product_input(us, [sku("VAL")])
    cats = (await us.shop.catalog.get_categories(category_version="v2")).categories
    parent: Category = next(c for c in cats if not c.is_leaf)
    with pytest.raises(ValidationError) as info:
        await us.shop.products.create_product(body.model_copy(update={"category_id": parent.id}))
    assert info.value.code == 12052024 and info.value.errors[0].code == 12052024
    with pytest.raises(ValidationError) as info:
        await us.shop.products.create_product(body.model_copy(update={"title": "x" * 256}))
    assert info.value.code == 12052051
    long_sku = body.skus[0].model_copy(update={"seller_sku": "S" * 51})
    with pytest.raises(ValidationError) as info:
        await us.shop.products.create_product(body.model_copy(update={"skus": [long_sku]}))
    assert info.value.code == 12052054
    with pytest.raises(ValidationError) as info:
        await us.shop.products.create_product(body.model_copy(update={"main_images": []}))
    assert info.value.code == 12052028


async def test_missing_required_attribute(uk: Connected) -> None:
    # Find a leaf that has a required product property (sofas do in the seed).
    for cat in (await uk.shop.catalog.get_categories(keyword="Sofas")).categories:
        attrs = (await uk.shop.catalog.get_attributes(cat.id)).attributes if cat.is_leaf else []
        if any(a.required and a.type == "PRODUCT_PROPERTY" for a in attrs):
            break
    else:
        pytest.fail("no leaf with a required product attribute")
    body = await product_input(uk, [sku("ATTR")], category_id=cat.id)
    with pytest.raises(ValidationError) as info:
        await uk.shop.products.create_product(body.model_copy(update={"product_attributes": None}))
    assert info.value.code == 12052104 and info.value.errors


async def test_commit_then_drop_on_create_is_outcome_unknown_and_never_repeated(
    us: Connected,
) -> None:
    seller_sku = sku("DROP")
    body = await product_input(us, [seller_sku])
    us.sandbox.admin(
        "POST", "/sandbox/v1/faults", {"drop_response_rate": 1.0, "operations": [CREATE]}
    )
    before = calls(us, CREATE)
    with pytest.raises(OutcomeUnknownError) as info:
        await us.shop.products.create_product(body)
    assert info.value.operation == "createProduct" and not info.value.retriable
    assert calls(us, CREATE) - before == 1  # the client never sent a second create
    us.sandbox.admin("DELETE", "/sandbox/v1/faults")
    # The write did commit: reconciling by seller SKU finds exactly one product.
    found = await us.shop.products.search_products(
        SearchProductsRequest(status="ALL", seller_skus=[seller_sku])
    )
    assert len(found.products) == 1
    assert (
        us.sandbox.admin("GET", "/sandbox/v1/stats")["data"]["duplicate_seller_sku_rejections"]
        == {}
    )


async def test_reset_on_create_is_outcome_unknown(us: Connected) -> None:
    body = await product_input(us, [sku("RESET")])
    us.sandbox.admin("POST", "/sandbox/v1/faults", {"reset_rate": 1.0, "operations": [CREATE]})
    before = calls(us, CREATE)
    with pytest.raises(OutcomeUnknownError):
        await us.shop.products.create_product(body)
    assert calls(us, CREATE) - before == 1


async def test_503_on_create_is_not_retried(us: Connected) -> None:
    body = await product_input(us, [sku("E503")])
    us.sandbox.admin("POST", "/sandbox/v1/faults", {"error_rate": 1.0, "operations": [CREATE]})
    before = calls(us, CREATE)
    from tiktok_shop import ServerError

    with pytest.raises(ServerError):
        await us.shop.products.create_product(body)
    assert calls(us, CREATE) - before == 1

"""Contract: warehouses -> delivery options -> shipping providers; webhook subscriptions."""

from __future__ import annotations

import pytest
from tiktok_shop import InvalidRequestError
from tiktok_shop.errors import TikTokError
from tts_client_contract import Connected


async def test_us_logistics_chain(us: Connected) -> None:
    warehouses = (await us.shop.logistics.get_warehouses()).warehouses
    assert warehouses
    names: set[str] = set()
    for wh in warehouses:
        options = (await us.shop.logistics.get_delivery_options(wh.id)).delivery_options
        for opt in options:
            providers = await us.shop.logistics.get_shipping_providers(opt.id)
            names |= {p.name for p in providers.shipping_providers}
    assert {"USPS", "UPS", "FedEx"} <= names


async def test_uk_providers(uk: Connected) -> None:
    names: set[str] = set()
    for wh in (await uk.shop.logistics.get_warehouses()).warehouses:
        for opt in (await uk.shop.logistics.get_delivery_options(wh.id)).delivery_options:
            names |= {
                p.name
                for p in (await uk.shop.logistics.get_shipping_providers(opt.id)).shipping_providers
            }
    assert {"Royal Mail", "DPD", "Evri"} <= names


async def test_unknown_warehouse_is_an_error(us: Connected) -> None:
    with pytest.raises(TikTokError) as info:
        await us.shop.logistics.get_delivery_options("123")
    assert info.value.code not in (None, 0)


async def test_webhook_subscribe_list_delete(us: Connected) -> None:
    address = "https://example.test/hooks/orders"
    await us.shop.events.update_webhook("ORDER_STATUS_CHANGE", address)
    hooks = (await us.shop.events.list_webhooks()).webhooks
    assert [(h.event_type, h.address) for h in hooks if h.event_type == "ORDER_STATUS_CHANGE"] == [
        ("ORDER_STATUS_CHANGE", address)
    ]
    await us.shop.events.delete_webhook("ORDER_STATUS_CHANGE")
    hooks = (await us.shop.events.list_webhooks()).webhooks
    assert all(h.event_type != "ORDER_STATUS_CHANGE" for h in hooks)
    # Deleting again always succeeds ("Delete Shop Webhook 202309").
    await us.shop.events.delete_webhook("ORDER_STATUS_CHANGE")


async def test_webhook_without_address_is_invalid_request(us: Connected) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await us.shop.events.update_webhook("ORDER_STATUS_CHANGE", "")
    assert info.value.code == 36009004

"""Deterministic seed: the one app, one US seller/shop and one UK seller/shop.

Ids and ciphers reuse the official sample values where TikTok's doc samples give them
(webhook sample shop id, sample ciphers), so fixtures copied from the docs line up.
"""

from __future__ import annotations

from typing import Any

from .settings import Settings

US_SELLER_ID = "7494049642642441621"
UK_SELLER_ID = "7494049642642441622"
US_SHOP_ID = "7495540735365777507"
UK_SHOP_ID = "7495540735365777508"

SELLERS: dict[str, dict[str, Any]] = {
    US_SELLER_ID: {
        "id": US_SELLER_ID,
        "open_id": "7010736057180325637",
        "seller_name": "Sandbox US Seller",
        "seller_base_region": "US",
        "shop_ids": [US_SHOP_ID],
    },
    UK_SELLER_ID: {
        "id": UK_SELLER_ID,
        "open_id": "7010736057180325638",
        "seller_name": "Sandbox UK Seller",
        "seller_base_region": "GB",
        "shop_ids": [UK_SHOP_ID],
    },
}

SHOPS: dict[str, dict[str, Any]] = {
    US_SHOP_ID: {
        "id": US_SHOP_ID,
        "name": "Sandbox US Shop",
        "region": "US",
        "seller_type": "LOCAL",
        "cipher": "GCP_XF90igAAAABh00qsWgtvOiGFNqyubMt3",
        "code": "USLCSBX001",
        "seller_id": US_SELLER_ID,
        "currency": "USD",
        "market": "US",
    },
    UK_SHOP_ID: {
        "id": UK_SHOP_ID,
        "name": "Sandbox UK Shop",
        "region": "GB",
        "seller_type": "LOCAL",
        "cipher": "ROW_xkMbgAAAeVAQra0eZWebFQq5aIK",
        "code": "GBLCSBX001",
        "seller_id": UK_SELLER_ID,
        "currency": "GBP",
        "market": "UK",
    },
}

# `POST /sandbox/v1/authorizations {"region": ...}` accepts the market name or the ISO code.
REGION_TO_SELLER = {"US": US_SELLER_ID, "UK": UK_SELLER_ID, "GB": UK_SELLER_ID}


def app_record(settings: Settings) -> dict[str, str]:
    return {
        "app_key": settings.app_key,
        "service_id": settings.service_id,
        "redirect_url": settings.redirect_url,
    }


def public_shop(shop: dict[str, Any]) -> dict[str, Any]:
    """The `data.shops[]` shape of Get Authorized Shops."""
    return {k: shop[k] for k in ("id", "name", "region", "seller_type", "cipher", "code")}

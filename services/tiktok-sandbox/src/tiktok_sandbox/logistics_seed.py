"""Deterministic logistics seed: warehouses, delivery options, shipping providers per market.

Keyed by the shop's `region` ("US" or "GB"), so it does not depend on the shop ids the
core seed picks. Official sample ids are used where TikTok's doc samples give them:
warehouse 7068517275539719942 and USPS 7117858858072016686; the rest are stable,
hand-picked 19-digit ids. The seed is immutable: callers get copies.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

# TikTok's own carrier, used for TikTok-shipped packages (official sample id).
TIKTOK_PROVIDER = {"id": "6617675021119438849", "name": "TT Virtual express"}


@dataclass(frozen=True)
class MarketLogistics:
    """Everything a market's shops share: warehouses, options per warehouse, providers per option."""

    region: str
    warehouses: list[dict[str, Any]]
    delivery_options: dict[str, list[dict[str, Any]]]  # warehouse_id -> options
    shipping_providers: dict[str, list[dict[str, str]]]  # delivery_option_id -> providers
    default_delivery_option_id: str
    _providers_by_id: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def default_warehouse_id(self) -> str:
        return next(w["id"] for w in self.warehouses if w["is_default"])

    @property
    def sales_warehouse_ids(self) -> list[str]:
        return [w["id"] for w in self.warehouses if w["type"] == "SALES_WAREHOUSE"]

    def warehouse(self, warehouse_id: str) -> dict[str, Any] | None:
        return next((w for w in self.warehouses if w["id"] == warehouse_id), None)

    def delivery_option(self, delivery_option_id: str) -> dict[str, Any] | None:
        for options in self.delivery_options.values():
            for option in options:
                if option["id"] == delivery_option_id:
                    return option
        return None

    def provider(self, provider_id: str) -> dict[str, str] | None:
        return self._providers_by_id.get(provider_id)

    def provider_allowed(self, delivery_option_id: str, provider_id: str) -> bool:
        providers = self.shipping_providers.get(delivery_option_id, [])
        return any(p["id"] == provider_id for p in providers)


def _warehouse(
    wid: str, name: str, wtype: str, is_default: bool, address: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": wid,
        "name": name,
        "type": wtype,
        "sub_type": "DOMESTIC_WAREHOUSE",
        "effect_status": "ENABLED",
        "is_default": is_default,
        "address": address,
    }


def _option(oid: str, name: str, otype: str, description: str, metric: bool) -> dict[str, Any]:
    # Limits follow the market's units (imperial in the US), values as strings like TikTok.
    if metric:
        dims = {"max_height": 120, "max_length": 120, "max_width": 120, "unit": "CM"}
        weight = {"max_weight": 30000, "min_weight": 1, "unit": "GRAM"}
    else:
        dims = {"max_height": 48, "max_length": 48, "max_width": 48, "unit": "INCH"}
        weight = {"max_weight": 1120, "min_weight": 1, "unit": "OZ"}
    return {
        "id": oid,
        "name": name,
        "type": otype,
        "description": description,
        "dimension_limit": dims,
        "weight_limit": weight,
        "platform": ["TIKTOK_SHOP"],
    }


_USPS = {"id": "7117858858072016686", "name": "USPS"}
_UPS = {"id": "7117859084333745966", "name": "UPS"}
_FEDEX = {"id": "7117858920470062894", "name": "FedEx"}
_ROYAL_MAIL = {"id": "7129736293359175429", "name": "Royal Mail"}
_DPD = {"id": "7129736368235890437", "name": "DPD"}
_EVRI = {"id": "7129736427891476230", "name": "Evri"}


def _us() -> MarketLogistics:
    address = {
        "region": "United States",
        "state": "California",
        "city": "Los Angeles",
        "district": "Los Angeles County",
        "town": "",
        "contact_person": "Sandbox Warehouse",
        "postal_code": "90021",
        "full_address": "1200 S Alameda St, Los Angeles, CA 90021, United States",
        "region_code": "US",
        "phone_number": "(+1)2135550100",
        "address_line1": "1200 S Alameda St",
        "address_line2": "",
    }
    warehouses = [
        _warehouse("7068517275539719942", "US Main Warehouse", "SALES_WAREHOUSE", True, address),
        _warehouse("7068517275539719943", "US Returns", "RETURN_WAREHOUSE", False, dict(address)),
    ]
    standard = _option(
        "7129735950311798533", "Standard shipping", "STANDARD", "3-5 business days", False
    )
    express = _option(
        "7129736078862141189", "Express shipping", "EXPRESS", "1-2 business days", False
    )
    return _market(
        "US",
        warehouses,
        {"7068517275539719942": [standard, express]},
        {standard["id"]: [_USPS, _UPS, _FEDEX], express["id"]: [_UPS, _FEDEX]},
        standard["id"],
    )


def _gb() -> MarketLogistics:
    address = {
        "region": "United Kingdom",
        "state": "England",
        "city": "London",
        "district": "Greater London",
        "town": "",
        "contact_person": "Sandbox Warehouse",
        "postal_code": "E14 5AB",
        "full_address": "1 Canada Square, London E14 5AB, United Kingdom",
        "region_code": "GB",
        "phone_number": "(+44)2075550100",
        "address_line1": "1 Canada Square",
        "address_line2": "",
    }
    warehouses = [
        _warehouse("7068517275539720101", "UK Main Warehouse", "SALES_WAREHOUSE", True, address),
        _warehouse("7068517275539720102", "UK Returns", "RETURN_WAREHOUSE", False, dict(address)),
    ]
    standard = _option(
        "7129736155602323205", "Standard delivery", "STANDARD", "2-4 business days", True
    )
    express = _option("7129736211478988549", "Next day delivery", "EXPRESS", "1 business day", True)
    return _market(
        "GB",
        warehouses,
        {"7068517275539720101": [standard, express]},
        {standard["id"]: [_ROYAL_MAIL, _DPD, _EVRI], express["id"]: [_ROYAL_MAIL, _DPD]},
        standard["id"],
    )


def _market(
    region: str,
    warehouses: list[dict[str, Any]],
    options: dict[str, list[dict[str, Any]]],
    providers: dict[str, list[dict[str, str]]],
    default_option: str,
) -> MarketLogistics:
    by_id = {p["id"]: p for plist in providers.values() for p in plist}
    return MarketLogistics(region, warehouses, options, providers, default_option, by_id)


_MARKETS: dict[str, MarketLogistics] = {"US": _us(), "GB": _gb()}


def market(region: str) -> MarketLogistics:
    """The logistics of a market; "UK" is accepted as an alias of "GB"."""
    key = "GB" if region.upper() in ("UK", "GB") else region.upper()
    try:
        return _MARKETS[key]
    except KeyError:
        raise KeyError(f"no logistics seed for region {region!r}") from None


def warehouse_ids(region: str) -> list[str]:
    """Sales warehouse ids of a market (for inventory validation by the product store)."""
    return list(market(region).sales_warehouse_ids)


def public_copy(value: Any) -> Any:
    """A deep copy, so handlers can never mutate the seed."""
    return copy.deepcopy(value)

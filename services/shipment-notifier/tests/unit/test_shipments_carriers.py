"""Carrier mapping: aliases, normalised names, delivery-option limits, TikTok's own names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from shipment_notifier.carriers import CarrierRule, Provider, normalise, resolve

UK = [
    Provider("7129736293359175429", "Royal Mail"),
    Provider("7129736368235890437", "DPD"),
    Provider("7129736427891476230", "Evri"),
]
STANDARD = "7129736155602323205"
NEXT_DAY = "7129736211478988549"
RULES = [
    CarrierRule(provider="Royal Mail", aliases=["Royal Mail 24", "RM Tracked 48"]),
    CarrierRule(provider_id="7129736427891476230", aliases=["Hermes"]),
    CarrierRule(provider="DPD", aliases=["DPD Local"], delivery_option_ids=[NEXT_DAY]),
]


def _resolve(
    carrier: str | None, provider_id: str | None = None, option: str = STANDARD
) -> str | None:
    found = resolve(
        carrier=carrier,
        provider_id=provider_id,
        delivery_option_id=option,
        providers=UK,
        rules=RULES,
    )
    return found.provider.name if found.provider else None


def test_aliases_resolve_to_the_provider_they_name() -> None:
    assert _resolve("Royal Mail 24") == "Royal Mail"
    assert _resolve("royal-mail  24") == "Royal Mail"  # case, spaces and punctuation
    assert _resolve("RM TRACKED 48") == "Royal Mail"
    assert _resolve("Hermes") == "Evri"  # by provider id


def test_tiktok_names_resolve_without_a_mapping() -> None:
    assert _resolve("evri") == "Evri"
    assert _resolve("DPD") == "DPD"


def test_an_alias_limited_to_a_delivery_option_applies_only_there() -> None:
    assert _resolve("DPD Local", option=NEXT_DAY) == "DPD"
    assert _resolve("DPD Local", option=STANDARD) is None


def test_unmapped_names_say_what_is_offered() -> None:
    found = resolve(
        carrier="Pigeon", provider_id=None, delivery_option_id=STANDARD, providers=UK, rules=RULES
    )
    assert found.provider is None and found.problem is not None
    assert "Pigeon" in found.problem and "Royal Mail (7129736293359175429)" in found.problem


def test_a_provider_id_must_be_offered_for_the_delivery_option() -> None:
    assert _resolve(None, "7129736368235890437") == "DPD"
    found = resolve(
        carrier=None,
        provider_id="7117858858072016686",
        delivery_option_id=STANDARD,
        providers=UK,
        rules=[],
    )
    assert found.provider is None and "7117858858072016686" in (found.problem or "")


def test_a_mapping_to_a_provider_the_option_lacks_is_reported() -> None:
    rules = [CarrierRule(provider="USPS", aliases=["Post"])]
    found = resolve(
        carrier="Post", provider_id=None, delivery_option_id=STANDARD, providers=UK, rules=rules
    )
    assert found.provider is None and "maps to USPS" in (found.problem or "")


def test_a_rule_names_a_provider() -> None:
    with pytest.raises(ValidationError):
        CarrierRule(aliases=["x"])
    assert normalise("  Royal_Mail--24 ") == "royal mail 24"

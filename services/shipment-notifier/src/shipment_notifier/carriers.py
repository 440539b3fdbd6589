"""Carrier mapping: the OMS's carrier names → a TikTok shipping provider of the order's
delivery option ("Get Shipping Providers 202309" lists them per delivery option).

An export's `carriers` entries name a TikTok provider (by name or id) and the OMS names that
mean it (`aliases`, e.g. "Royal Mail 24" and "RM Tracked 48" → Royal Mail), optionally only
for some delivery options. Names are compared normalised (case, spaces, punctuation), so
"royal-mail 24" finds "Royal Mail 24". A name no entry maps is tried against TikTok's own
provider names; a name that still finds nothing is *unmapped* and the shipment is rejected
with the providers the delivery option offers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

_NOISE = re.compile(r"[^0-9a-z]+")


def normalise(name: str) -> str:
    """Lower case, runs of anything but letters and digits → one space, trimmed."""
    return _NOISE.sub(" ", name.casefold()).strip()


class CarrierRule(BaseModel):
    """One mapping entry (`provider` = TikTok's provider name, or `provider_id`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str | None = Field(default=None, min_length=1, description="TikTok provider name")
    provider_id: str | None = Field(default=None, min_length=1, description="TikTok provider id")
    aliases: list[str] = Field(default_factory=list, description="OMS carrier names meaning it")
    delivery_option_ids: list[str] = Field(
        default_factory=list, description="only for these delivery options (empty: all)"
    )

    @model_validator(mode="after")
    def _names_provider(self) -> CarrierRule:
        if not self.provider and not self.provider_id:
            raise ValueError("a carrier entry needs provider (TikTok's name) or provider_id")
        return self


@dataclass(frozen=True)
class Provider:
    id: str
    name: str


@dataclass(frozen=True)
class Resolution:
    provider: Provider | None
    problem: str | None = None  # why it did not resolve (for the rejection's reason)


def _offered(providers: Sequence[Provider]) -> str:
    return ", ".join(f"{p.name} ({p.id})" for p in providers) or "none"


def resolve(
    *,
    carrier: str | None,
    provider_id: str | None,
    delivery_option_id: str,
    providers: Sequence[Provider],
    rules: Sequence[CarrierRule],
) -> Resolution:
    """The TikTok provider a shipment names, among those of the order's delivery option."""
    by_id = {p.id: p for p in providers}
    if provider_id:
        found = by_id.get(provider_id)
        if found is None:
            return Resolution(
                None,
                f"shipping provider {provider_id} is not offered for delivery option "
                f"{delivery_option_id}; offered: {_offered(providers)}",
            )
        return Resolution(found)
    assert carrier is not None
    wanted = normalise(carrier)
    by_name = {normalise(p.name): p for p in providers}
    for rule in rules:
        if rule.delivery_option_ids and delivery_option_id not in rule.delivery_option_ids:
            continue
        names = {normalise(a) for a in rule.aliases}
        if rule.provider:
            names.add(normalise(rule.provider))
        if wanted not in names:
            continue
        target = by_id.get(rule.provider_id) if rule.provider_id else None
        if target is None and rule.provider:
            target = by_name.get(normalise(rule.provider))
        if target is not None:
            return Resolution(target)
        return Resolution(
            None,
            f"carrier {carrier!r} maps to {rule.provider or rule.provider_id}, which delivery "
            f"option {delivery_option_id} does not offer; offered: {_offered(providers)}",
        )
    if wanted in by_name:
        return Resolution(by_name[wanted])
    return Resolution(
        None,
        f"carrier {carrier!r} is not mapped to a TikTok shipping provider of delivery option "
        f"{delivery_option_id}; offered: {_offered(providers)}; add it to the export's carriers "
        "(as an alias)",
    )

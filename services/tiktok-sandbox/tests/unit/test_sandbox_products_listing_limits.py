"""The new-shop daily listing cap as a pure counter: per shop, per UTC day, 0 = off."""

from __future__ import annotations

import pytest
from tiktok_sandbox.errors import ApiError
from tiktok_sandbox.listing_limits import DAY_SECONDS, ListingLimits
from tiktok_sandbox.seed import UK_SHOP_ID, US_SHOP_ID
from tiktok_sandbox.settings import Settings
from tiktok_sandbox.state import SandboxState

MIDNIGHT = 1_750_000_000 // DAY_SECONDS * DAY_SECONDS  # a UTC midnight


def test_off_by_default_counts_anyway() -> None:
    limits = ListingLimits(0)
    for _ in range(500):
        limits.take("shop", MIDNIGHT + 10)
    status = limits.status("shop", MIDNIGHT + 10)
    assert status["daily_limit"] == 0 and status["created_today"] == 500
    assert status["remaining_today"] is None and status["source"] == "settings"


def test_the_cap_refuses_the_next_create_with_12019068() -> None:
    limits = ListingLimits(2)
    limits.take("shop", MIDNIGHT + 1)
    limits.take("shop", MIDNIGHT + 2)
    with pytest.raises(ApiError) as refused:
        limits.take("shop", MIDNIGHT + 3)
    assert refused.value.code == 12019068 and "2 products a day" in refused.value.message
    assert limits.status("shop", MIDNIGHT + 3)["created_today"] == 2  # a refusal is not counted
    limits.take("other", MIDNIGHT + 3)  # per shop


def test_a_new_utc_day_starts_a_new_allowance() -> None:
    limits = ListingLimits(1)
    limits.take("shop", MIDNIGHT + DAY_SECONDS - 1)  # 23:59:59
    with pytest.raises(ApiError):
        limits.take("shop", MIDNIGHT + DAY_SECONDS - 0.5)
    limits.take("shop", MIDNIGHT + DAY_SECONDS)  # 00:00:00 the next day
    status = limits.status("shop", MIDNIGHT + DAY_SECONDS)
    assert status["created_today"] == 1 and status["resets_at"] == MIDNIGHT + 2 * DAY_SECONDS


def test_per_shop_override_and_back_to_the_default() -> None:
    limits = ListingLimits(5)
    limits.set("shop", 1)
    limits.take("shop", MIDNIGHT)
    with pytest.raises(ApiError):
        limits.take("shop", MIDNIGHT)
    assert limits.status("shop", MIDNIGHT)["source"] == "shop"
    limits.set("shop", 0)  # no cap for this shop
    limits.take("shop", MIDNIGHT)
    limits.set("shop", None)
    status = limits.status("shop", MIDNIGHT)
    assert (status["daily_limit"], status["remaining_today"], status["source"]) == (
        5,
        3,
        "settings",
    )


def test_a_negative_default_is_refused() -> None:
    with pytest.raises(ValueError, match="SANDBOX_NEW_SHOP_DAILY_LISTING_LIMIT"):
        ListingLimits(-1)


def test_the_setting_applies_to_every_shop() -> None:
    settings = Settings.from_env({"SANDBOX_NEW_SHOP_DAILY_LISTING_LIMIT": "100"})
    assert settings.new_shop_daily_listing_limit == 100
    state = SandboxState(settings)
    assert state.listing_limits.limit(US_SHOP_ID) == state.listing_limits.limit(UK_SHOP_ID) == 100
    assert SandboxState(Settings()).listing_limits.limit(US_SHOP_ID) == 0

"""The new-shop daily listing cap: at most N product creates per shop per UTC day.

TikTok limits how many listings a shop in its new-shop period may create a day (100), and
Create Product 202309 then answers 12019068. No public source quotes the message verbatim,
so ours is an assumption (docs/sandbox.md, "Daily listing cap").

Off by default (`SANDBOX_NEW_SHOP_DAILY_LISTING_LIMIT=0`), so other tests create freely;
`PUT /sandbox/v1/shops/{shop_id}/listing_limit` sets it per shop. Days are UTC days of the
sandbox clock, so advancing the clock past midnight starts a new allowance. Only creates
count: edits, price and stock updates never do.
"""

from __future__ import annotations

import threading
from typing import Any

from .errors import ApiError

DAILY_LISTING_LIMIT = 12019068
DAY_SECONDS = 86_400


def limit_message(limit: int) -> str:
    return (
        f"Your shop is in its new shop period and can list at most {limit} products a day. "
        "Try again tomorrow."
    )


class ListingLimits:
    def __init__(self, default_limit: int) -> None:
        if default_limit < 0:
            raise ValueError("SANDBOX_NEW_SHOP_DAILY_LISTING_LIMIT must be >= 0 (0 = no limit)")
        self.default_limit = default_limit
        self._lock = threading.Lock()
        self._per_shop: dict[str, int] = {}  # admin overrides; 0 = no limit for that shop
        self._created: dict[str, tuple[int, int]] = {}  # shop -> (UTC day, creates that day)

    def limit(self, shop_id: str) -> int:
        """The shop's cap (0 = none): its own if set, else the settings' default."""
        return self._per_shop.get(shop_id, self.default_limit)

    def set(self, shop_id: str, limit: int | None) -> None:
        """Set the shop's cap (0 = none); None returns it to the settings' default."""
        with self._lock:
            if limit is None:
                self._per_shop.pop(shop_id, None)
            else:
                self._per_shop[shop_id] = limit

    def _today(self, shop_id: str, day: int) -> int:
        seen_day, count = self._created.get(shop_id, (day, 0))
        return count if seen_day == day else 0

    def take(self, shop_id: str, now: float) -> None:
        """Count one create for today, or raise 12019068 when today's allowance is spent."""
        day = int(now // DAY_SECONDS)
        with self._lock:
            limit = self.limit(shop_id)
            count = self._today(shop_id, day)
            if limit and count >= limit:
                raise ApiError(DAILY_LISTING_LIMIT, limit_message(limit))
            self._created[shop_id] = (day, count + 1)

    def status(self, shop_id: str, now: float) -> dict[str, Any]:
        day = int(now // DAY_SECONDS)
        with self._lock:
            limit = self.limit(shop_id)
            count = self._today(shop_id, day)
            return {
                "shop_id": shop_id,
                "daily_limit": limit,
                "source": "shop" if shop_id in self._per_shop else "settings",
                "created_today": count,
                "remaining_today": max(limit - count, 0) if limit else None,
                "resets_at": (day + 1) * DAY_SECONDS,
            }

"""All in-memory sandbox state, behind one re-entrant lock.

CONTRACT shared by the sandbox modules:
- `SandboxState(settings)` holds `settings`, `clock` (`Clock`), `lock` (a
  `threading.RLock`: take it around every read-modify-write), `stats`,
  `products` (the product store, owned by the products module),
  `orders` (`OrderStore`, orders.py), `webhooks` (`WebhookDispatcher`, webhooks.py),
  `brands` (`CustomBrands`, brands.py: the catalogue brands plus each seller's own),
  `listing_limits` (`ListingLimits`, listing_limits.py: the new-shop daily create cap),
  the seeded sellers/shops/apps and the OAuth codes/tokens.
- `shop(shop_id)` -> the seeded shop dict (id, name, region, seller_type, cipher, code, seller_id).
- Product store lookups used by orders: `products.get_sku(shop_id, sku_id)` and
  `products.find_by_seller_sku(shop_id, seller_sku)` -> dict with keys
  product_id, sku_id, seller_sku, product_name, sku_name, price (amount str), currency, image_url,
  status (the product's) or None.
- `advance()` applies everything due on the sandbox clock (product audits, order
  transitions, authorization-expiry notices); the clock endpoint, reads and a 1 s
  background tick call it.
- `revoke_shop(shop_id)` ends the seller's authorization and emits SELLER_DEAUTHORIZATION.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from .brands import CustomBrands
from .clock import Clock
from .faults import Faults
from .listing_limits import ListingLimits
from .oauth import AuthStore
from .orders import OrderStore
from .products import ProductStore
from .ratelimit import RateLimiter
from .seed import SELLERS, SHOPS, app_record
from .settings import Settings
from .stats import Stats
from .webhooks import WebhookDispatcher


class SandboxState:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.clock = Clock()
        self.lock = threading.RLock()
        self.stats = Stats()
        self.app = app_record(self.settings)
        # Deep copies: each state (one per test server) may mutate its own seed.
        self.sellers: dict[str, dict[str, Any]] = copy.deepcopy(SELLERS)
        self.shops: dict[str, dict[str, Any]] = copy.deepcopy(SHOPS)
        self.shops_by_cipher = {s["cipher"]: s for s in self.shops.values()}
        self.auth = AuthStore(self)
        self.ratelimiter = RateLimiter(self.settings.qps)
        self.faults = Faults()
        self.brands = CustomBrands(self)
        self.listing_limits = ListingLimits(self.settings.new_shop_daily_listing_limit)
        self.products = ProductStore(self)
        self.orders = OrderStore(self)
        self.webhooks = WebhookDispatcher(self)

    def shop(self, shop_id: str) -> dict[str, Any] | None:
        return self.shops.get(shop_id)

    def advance(self) -> None:
        """Apply every time-driven transition due on the sandbox clock."""
        now = self.clock.now()
        self.products.advance(now)
        self.orders.advance(now)
        for seller_id, ends in self.auth.expiration_notices(now):
            for shop_id in self.sellers[seller_id]["shop_ids"]:
                self.webhooks.emit(
                    shop_id,
                    "UPCOMING_AUTHORIZATION_EXPIRATION",
                    {
                        "message": "The authorization of this shop is about to expire.",
                        "expiration_time": str(ends),
                    },
                )

    def revoke_shop(self, shop_id: str) -> bool:
        """End the authorization covering `shop_id` and tell the app by webhook."""
        shop = self.shops.get(shop_id)
        if shop is None:
            return False
        seller_id = shop["seller_id"]
        self.auth.revoke_seller(seller_id)
        for sid in self.sellers[seller_id]["shop_ids"]:
            self.webhooks.emit(
                sid,
                "SELLER_DEAUTHORIZATION",
                {"message": "The seller has deauthorized the app. Shop id: " + sid},
            )
        return True

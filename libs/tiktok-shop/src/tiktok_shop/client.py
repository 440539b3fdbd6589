"""The client facade: one `TikTokShopClient` per process, area APIs bound per shop.

    async with TikTokShopClient(config, tokens) as client:
        shop = client.shop("connection-1", shop_id="7495...")
        page = await shop.orders.search_orders(SearchOrdersRequest(order_status="AWAITING_SHIPMENT"))

The client owns (or borrows) the shared transport, the rate limiter shared by all tasks,
the retry policy and the call-log hook.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from .auth import AuthorizationApi
from .calllog import CallLogHook
from .catalog import CatalogApi
from .config import ClientConfig
from .core import ApiCaller, ShopRef
from .events import EventsApi
from .fulfillment import FulfillmentApi
from .logistics import LogisticsApi
from .oauth import OAuthClient
from .orders import OrdersApi
from .products import ProductsApi
from .ratelimit import AdaptiveRateLimiter
from .retry import RetryPolicy
from .tokens import TokenProvider
from .transport import AsyncClosing, Transport


class ShopClient:
    """Every area API bound to one authorization (token key) and shop."""

    def __init__(self, caller: ApiCaller, ref: ShopRef) -> None:
        self.ref = ref
        self.authorization = AuthorizationApi(caller, ref)
        self.products = ProductsApi(caller, ref)
        self.catalog = CatalogApi(caller, ref)
        self.orders = OrdersApi(caller, ref)
        self.fulfillment = FulfillmentApi(caller, ref)
        self.logistics = LogisticsApi(caller, ref)
        self.events = EventsApi(caller, ref)


class TikTokShopClient(AsyncClosing):
    def __init__(
        self,
        config: ClientConfig,
        tokens: TokenProvider,
        *,
        transport: Transport | None = None,
        limiter: AdaptiveRateLimiter | None = None,
        retry: RetryPolicy | None = None,
        call_log: CallLogHook | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config
        self._owns_transport = transport is None
        self.transport = transport or Transport(config)
        self.limiter = limiter or AdaptiveRateLimiter(config.rate_limit)
        self.caller = ApiCaller(
            config,
            self.transport,
            tokens,
            self.limiter,
            retry or RetryPolicy.from_config(config.retry),
            call_log,
            clock=clock,
            sleep=sleep,
        )
        self.oauth = OAuthClient(config, self.transport, call_log=call_log)

    def shop(
        self, token_key: str, shop_id: str | None = None, *, shop_cipher: str | None = None
    ) -> ShopClient:
        """Area APIs for one shop; the cipher comes from the token unless given."""
        return ShopClient(self.caller, ShopRef(token_key, shop_id, shop_cipher))

    async def aclose(self) -> None:
        if self._owns_transport:
            await self.transport.aclose()

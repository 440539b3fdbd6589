"""Webhook subscriptions and signed deliveries.

CONTRACT (used by other sandbox modules; keep these signatures):
- `WebhookDispatcher(state)`: created once by `SandboxState`.
- `emit(shop_id: str, event_type: str, data: dict) -> None`: queue a delivery of
  `event_type` (e.g. "ORDER_STATUS_CHANGE", "PRODUCT_STATUS_CHANGE",
  "PRODUCT_AUDIT_STATUS_CHANGE", "SELLER_DEAUTHORIZATION",
  "UPCOMING_AUTHORIZATION_EXPIRATION") to every address subscribed for that shop.
  Never blocks, never raises.
- `async start()` / `async stop()`: run / stop the background delivery task (app lifespan).
- `subscribe(shop_id, event_type, address)`, `list(shop_id)`, `delete(shop_id, event_type)`.
"""

from __future__ import annotations

from typing import Any


class WebhookDispatcher:
    def __init__(self, state: Any) -> None:
        self.state = state

    def emit(self, shop_id: str, event_type: str, data: dict[str, Any]) -> None:  # stub
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

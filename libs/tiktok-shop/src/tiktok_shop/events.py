"""Event area: webhook subscriptions of a shop."""

from __future__ import annotations

from . import operations as ops
from ._area import AreaApi
from .models.events import DeleteWebhookRequest, UpdateWebhookRequest, WebhookList


class EventsApi(AreaApi):
    async def list_webhooks(self) -> WebhookList:
        data = await self._caller.call(ops.GET_SHOP_WEBHOOKS, self._shop)
        return self._parse(ops.GET_SHOP_WEBHOOKS, WebhookList, data)

    async def update_webhook(self, event_type: str, address: str) -> None:
        """Subscribe (or re-point) `event_type` to `address` (<= 255 chars)."""
        body = UpdateWebhookRequest(event_type=event_type, address=address).to_body()
        await self._caller.call(ops.UPDATE_SHOP_WEBHOOK, self._shop, body=body)

    async def delete_webhook(self, event_type: str) -> None:
        body = DeleteWebhookRequest(event_type=event_type).to_body()
        await self._caller.call(ops.DELETE_SHOP_WEBHOOK, self._shop, body=body)

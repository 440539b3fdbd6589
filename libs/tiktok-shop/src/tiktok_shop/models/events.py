"""Webhook subscription management ("Get Shop Webhooks 202309", "Update Shop Webhook 202309")."""

from __future__ import annotations

from .common import TikTokModel


class UpdateWebhookRequest(TikTokModel):
    event_type: str
    address: str


class DeleteWebhookRequest(TikTokModel):
    event_type: str


class Webhook(TikTokModel):
    event_type: str
    address: str | None = None
    create_time: int | None = None
    update_time: int | None = None


class WebhookList(TikTokModel):
    total_count: int | None = None
    webhooks: list[Webhook] = []

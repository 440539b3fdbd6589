"""Composition root of order-ingest: builds the app and its workers from settings."""

from __future__ import annotations

from fastapi import FastAPI
from tts_common.app import create_service_app
from tts_common.settings import load_settings

from order_ingest import holds, metrics, poller, tiktok, webhooks
from order_ingest.config import Settings
from order_ingest.push import worker as push
from order_ingest.retention import retention_worker
from order_ingest.routes import public as webhook_router
from order_ingest.routes import router
from order_ingest.routes_deliveries import router as deliveries_router

NAME = "order-ingest"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings(Settings)
    start_tiktok, stop_tiktok = tiktok.hooks(settings)  # one TikTok client for the app
    return create_service_app(
        name=NAME,
        settings=settings,
        description="Imports TikTok Shop orders and hands them to the OMS",
        # The OMS push (docs/orders.md, "OMS push") and the personal-data retention.
        routers=[router, deliveries_router],
        # The TikTok webhook is authenticated by its signature, not an API key.
        public_routers=[webhook_router],
        consumers=[push.SUBSCRIPTION],
        workers=[
            poller.run_poller,
            webhooks.run_webhooks,
            holds.run_holds,
            push.push_worker,
            retention_worker,
            metrics.sample_loop,
        ],
        on_startup=[start_tiktok],
        on_shutdown=[stop_tiktok],
        secrets=[settings.tiktok_app_secret, settings.service_credential],
    )

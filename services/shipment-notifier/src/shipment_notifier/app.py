"""Composition root of shipment-notifier: builds the app, its consumers and workers from settings."""

from __future__ import annotations

from fastapi import FastAPI
from tts_common.app import create_service_app
from tts_common.events import ORDER_RECEIVED, SHIPMENT_CREATED
from tts_common.http import allow_body
from tts_common.settings import load_settings
from tts_common.subscriptions import Subscription

from shipment_notifier import intake, metrics, orders, tiktok
from shipment_notifier.config import Settings
from shipment_notifier.routes import router
from shipment_notifier.sender import run_sender

NAME = "shipment-notifier"

CONSUMERS = [
    Subscription(SHIPMENT_CREATED, {"shipment.created": intake.on_shipment_created}),
    # What the notifier knows of orders (docs/shipments.md, "Orders").
    Subscription(
        ORDER_RECEIVED,
        {
            "order.received": orders.on_order_received,
            "order.updated": orders.on_order_updated,
            "order.cancelled": orders.on_order_cancelled,
        },
    ),
]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings(Settings)
    start_tiktok, stop_tiktok = tiktok.hooks(settings)  # one TikTok client for the app
    app = create_service_app(
        name=NAME,
        settings=settings,
        routers=[router],
        consumers=CONSUMERS,
        workers=[run_sender, metrics.sample_loop],
        on_startup=[start_tiktok],
        on_shutdown=[stop_tiktok],
        description="Sends tracking numbers for self-shipped TikTok Shop orders, never inside "
        "the cancellation hold",
    )
    # Bulk shipment uploads are the only large bodies.
    allow_body(app, "/v1/shipments:upload", settings.max_upload_bytes)
    return app

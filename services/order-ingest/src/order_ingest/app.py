"""Composition root of order-ingest: builds the app and its workers from settings."""

from __future__ import annotations

from fastapi import FastAPI
from tts_common.app import create_service_app
from tts_common.settings import load_settings

from order_ingest.config import Settings
from order_ingest.push import worker as push
from order_ingest.retention import retention_worker
from order_ingest.routes_deliveries import router as deliveries_router

NAME = "order-ingest"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings(Settings)
    return create_service_app(
        name=NAME,
        settings=settings,
        description="Imports TikTok Shop orders and hands them to the OMS",
        # The OMS push (docs/orders.md, "OMS push") and the personal-data retention.
        routers=[deliveries_router],
        consumers=[push.SUBSCRIPTION],
        workers=[push.push_worker, retention_worker],
    )

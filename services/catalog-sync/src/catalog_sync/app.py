"""Composition root of catalog-sync: builds the app, its consumers and workers from settings."""

from __future__ import annotations

from fastapi import FastAPI
from tts_common.app import create_service_app
from tts_common.events import PRODUCT_CHANGED
from tts_common.http import allow_body
from tts_common.settings import load_settings
from tts_common.subscriptions import Subscription

from catalog_sync import products, tiktok
from catalog_sync.config import Settings
from catalog_sync.routes import router
from catalog_sync.routes_analysis import router as analysis_router
from catalog_sync.routes_taxonomy import router as taxonomy_router

NAME = "catalog-sync"

CONSUMERS = [
    Subscription(
        PRODUCT_CHANGED,
        {
            "product.upserted": products.on_product_upserted,
            "product.deleted": products.on_product_deleted,
        },
    ),
]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings(Settings)
    start_tiktok, stop_tiktok = tiktok.hooks(settings)  # one TikTok client for the app
    app = create_service_app(
        name=NAME,
        settings=settings,
        routers=[router, analysis_router, taxonomy_router],
        consumers=CONSUMERS,
        on_startup=[start_tiktok],
        on_shutdown=[stop_tiktok],
        description="Delta product sync to TikTok Shop: feeds, dataflow, readiness, runs, feedback",
    )
    # Product snapshots are large; only the upload routes live under these prefixes' limit.
    allow_body(app, "/v1/feeds", settings.max_upload_bytes)
    return app

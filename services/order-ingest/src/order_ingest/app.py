"""Composition root of order-ingest: builds the app and its workers from settings."""

from __future__ import annotations

from fastapi import FastAPI
from tts_common.app import create_service_app
from tts_common.settings import load_settings

from order_ingest.config import Settings

NAME = "order-ingest"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings(Settings)
    return create_service_app(
        name=NAME,
        settings=settings,
        description="Imports TikTok Shop orders and hands them to the OMS",
    )

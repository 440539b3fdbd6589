"""Composition root of shipment-notifier: builds the app and its workers from settings."""

from __future__ import annotations

from fastapi import FastAPI
from tts_common.app import create_service_app
from tts_common.settings import load_settings

from shipment_notifier.config import Settings

NAME = "shipment-notifier"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings(Settings)
    return create_service_app(
        name=NAME,
        settings=settings,
        description="Sends tracking numbers for self-shipped TikTok Shop orders",
    )

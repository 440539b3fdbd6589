"""Composition root of catalog-sync: builds the app and its workers from settings."""

from __future__ import annotations

from fastapi import FastAPI
from tts_common.app import create_service_app
from tts_common.settings import load_settings

from catalog_sync.config import Settings

NAME = "catalog-sync"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings(Settings)
    return create_service_app(
        name=NAME,
        settings=settings,
        description="Delta product sync to TikTok Shop: feeds, dataflow, readiness, runs, feedback",
    )

"""Composition root of auth-broker: builds the app and its workers from settings."""

from __future__ import annotations

from fastapi import FastAPI

from tts_common.app import create_service_app
from tts_common.settings import load_settings

from auth_broker.config import Settings

NAME = "auth-broker"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings(Settings)
    return create_service_app(
        name=NAME,
        settings=settings,
        description="TikTok Shop OAuth connections and token leases",
    )

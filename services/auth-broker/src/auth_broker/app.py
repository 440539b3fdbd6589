"""Composition root of auth-broker: builds the app and its workers from settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI
from tts_common.app import Runtime, create_service_app
from tts_common.db import session_scope
from tts_common.settings import load_settings

from auth_broker.clients.tiktok_client import LibraryTikTokAuth, config_from_settings
from auth_broker.config import Settings
from auth_broker.context import BrokerContext, utcnow
from auth_broker.crypto import TokenCipher
from auth_broker.deps import Broker
from auth_broker.leasing import TokenLeaser
from auth_broker.metrics import BrokerMetrics
from auth_broker.routes import admin, internal, public
from auth_broker.service import ConnectionService
from auth_broker.tiktok import TikTokAuthPort
from auth_broker.webhooks import WebhookHandler
from auth_broker.workers import run_background

NAME = "auth-broker"
log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    tiktok: TikTokAuthPort | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> FastAPI:
    """Build the app; `tiktok` and `clock` are seams for tests (default: the real client, UTC now)."""
    settings = settings or load_settings(Settings)
    cipher = TokenCipher(settings.fernet_keys())
    # One set of counters per app (its registry outlives a lifespan restart).
    metrics: list[BrokerMetrics] = []

    async def start(rt: Runtime) -> None:
        port = tiktok or LibraryTikTokAuth(config_from_settings(settings))
        if not metrics:
            metrics.append(BrokerMetrics.create(rt.registry))
        ctx = BrokerContext(
            sessions=rt.sessions,
            cipher=cipher,
            tiktok=port,
            settings=settings,
            clock=clock,
            metrics=metrics[0],
        )
        rt.extras["broker"] = Broker(
            settings=settings,
            connections=ConnectionService(ctx),
            leaser=TokenLeaser(ctx),
            webhooks=WebhookHandler(ctx),
        )

    async def token_refresher(rt: Runtime) -> None:
        broker: Broker = rt.extras["broker"]
        if settings.refresher_enabled:
            await run_background(broker.connections.ctx, broker.leaser)

    async def metrics_sampler(rt: Runtime) -> None:
        """The token-expiry and connection gauges of /metrics, every few seconds."""
        while True:
            try:
                async with session_scope(rt.sessions) as session:
                    await metrics[0].sample(session, clock())
            except Exception as exc:
                log.debug("broker metrics sample failed", extra={"error": str(exc)})
            await asyncio.sleep(settings.metrics_sample_seconds)

    async def stop(rt: Runtime) -> None:
        broker: Broker | None = rt.extras.get("broker")
        if broker is not None and tiktok is None:
            await broker.connections.ctx.tiktok.aclose()

    return create_service_app(
        name=NAME,
        settings=settings,
        # Every router authenticates itself: admin keys, service credentials, TikTok's
        # webhook signature, the OAuth state (docs/auth-broker.md).
        public_routers=[admin, public, internal],
        workers=[token_refresher, metrics_sampler],
        on_startup=[start],
        on_shutdown=[stop],
        description="TikTok Shop OAuth connections and token leases",
        secrets=settings.secret_values(),
    )

"""Composition root of catalog-sync: builds the app, its consumers and workers from settings."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from tts_common.app import Runtime, create_service_app
from tts_common.events import CONNECTION_CHANGED, PRODUCT_CHANGED
from tts_common.http import allow_body
from tts_common.settings import load_settings
from tts_common.subscriptions import Subscription

from catalog_sync import metrics as catalog_metrics
from catalog_sync import products, runs, tiktok, workers
from catalog_sync.actions import TikTokPerformer
from catalog_sync.config import Settings
from catalog_sync.routes import MAX_DOCUMENT_BYTES, router
from catalog_sync.routes_analysis import router as analysis_router
from catalog_sync.routes_runs import router as runs_router
from catalog_sync.routes_taxonomy import router as taxonomy_router
from catalog_sync.routes_webhooks import public as webhooks_public

NAME = "catalog-sync"


def consumers(connection_group: str | None = None) -> list[Subscription]:
    """What catalog-sync consumes. `connection_group` gives the connection events a consumer
    group of their own (default: the service's): tests that run several catalog-sync apps
    against one Kafka at once give each its own, so each sees its connections' events."""
    return [
        Subscription(
            PRODUCT_CHANGED,
            {
                "product.upserted": products.on_product_upserted,
                "product.deleted": products.on_product_deleted,
            },
        ),
        # An expired or revoked connection pauses its feeds; a new authorization resumes them.
        Subscription(
            CONNECTION_CHANGED,
            {
                "connection.expired": workers.on_connection_lost,
                "connection.revoked": workers.on_connection_lost,
                "connection.authorized": workers.on_connection_authorized,
            },
            group=connection_group,
        ),
    ]


CONSUMERS = consumers()


async def run_executor(rt: Runtime) -> None:
    """Perform queued runs through the app's TikTok client (tokens leased per connection)."""
    from catalog_sync.images import DbImageResolver

    client: tiktok.TikTok = rt.extras[tiktok.EXTRA]
    settings: Settings = rt.settings  # type: ignore[assignment]

    def images_for(run: runs.RunState) -> DbImageResolver:
        assert run.feed.connection_id is not None or run.dry_run
        return DbImageResolver(
            rt.sessions,
            run.feed.connection_id or "",
            client.shop(run.feed.connection_id).products if run.feed.connection_id else None,
            images_http,
            dry_run=run.dry_run,
            recheck_after=settings.image_recheck_seconds,
            allow_private_hosts=settings.images_may_use_private_hosts,
        )

    async def default_warehouse(run: runs.RunState) -> str:
        """The shop's default sales warehouse ("Get Warehouses 202309"); "" without one."""
        if run.feed.connection_id is None:
            return ""
        found = await client.shop(run.feed.connection_id).logistics.get_warehouses()
        sales = [w for w in found.warehouses if w.type == "SALES_WAREHOUSE"]
        chosen = next((w for w in sales if w.is_default), sales[0] if sales else None)
        return str(chosen.id) if chosen is not None else ""

    # Product images are downloaded from the merchant's URLs (their own pool and limits).
    async with httpx.AsyncClient(
        timeout=10.0, follow_redirects=True, max_redirects=3
    ) as images_http:
        await workers.run_executor(
            rt,
            TikTokPerformer(client, webhook_address=settings.tiktok_webhook_address),
            workers.builder(images_for, default_warehouse),
        )


async def audit_poll(rt: Runtime) -> None:
    """The audit results of products whose webhook did not come (docs/feeds.md)."""
    client: tiktok.TikTok = rt.extras[tiktok.EXTRA]
    await workers.audit_poll(rt, lambda connection_id: client.shop(connection_id).products)


async def start_metrics(rt: Runtime) -> None:
    rt.extras[catalog_metrics.EXTRA] = catalog_metrics.CatalogMetrics(rt.registry)


def create_app(settings: Settings | None = None, *, connection_group: str | None = None) -> FastAPI:
    settings = settings or load_settings(Settings)
    start_tiktok, stop_tiktok = tiktok.hooks(settings)  # one TikTok client for the app
    app = create_service_app(
        name=NAME,
        settings=settings,
        routers=[router, analysis_router, taxonomy_router, runs_router],
        public_routers=[webhooks_public],
        consumers=consumers(connection_group) if connection_group else CONSUMERS,
        workers=[
            run_executor,
            workers.event_runs,
            workers.scheduled_runs,
            audit_poll,
            catalog_metrics.sample_loop,
        ],
        on_startup=[start_tiktok, start_metrics],
        on_shutdown=[stop_tiktok],
        description="Delta product sync to TikTok Shop: feeds, dataflow, readiness, runs, feedback",
    )
    # Product snapshots are large: the two upload routes (streamed to the database) get the
    # upload limit; the routes that read a whole document cap it at MAX_DOCUMENT_BYTES; every
    # other route (JSON bodies FastAPI reads into memory) keeps the service default.
    for upload in ("/v1/feeds/{feed_id}/products", "/v1/feeds/{feed_id}/products:upsert"):
        allow_body(
            app,
            upload,
            settings.max_upload_bytes,
            body_timeout_s=settings.upload_body_timeout_seconds,
            request_timeout_s=settings.upload_request_timeout_seconds,
        )
    for document in ("/v1/feeds:apply", "/v1/feeds/{feed_id}/lists/{name}/mappings"):
        allow_body(app, document, MAX_DOCUMENT_BYTES)
    return app

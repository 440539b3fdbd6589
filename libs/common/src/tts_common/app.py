"""The FastAPI scaffolding every service shares: lifespan-owned resources, health, metrics.

A service calls `create_service_app(...)` from its own `create_app()`; the returned app owns
the database engine and a Kafka producer (both built in the lifespan, never at import time),
serves `/healthz`, `/readyz` (database + Kafka + consumer groups joined), `/metrics` (Prometheus) and `/docs`.

What a service declares, once:

- `routers` (its API, served to API-key holders only: `tts_common.api_auth`) and
  `public_routers` (endpoints with their own authentication, such as signed webhooks or the
  OAuth redirect);
- `consumers`: the `Subscription` table of topic → `on_<event>` handlers
  (`tts_common.subscriptions`), run by one consumer runner per group that reuses the app's
  producer for dead letters;
- `workers`: background loops (`async def worker(rt: Runtime) -> None`).

`TTS_RUN_WORKERS=false` (`<service> serve --no-workers`) serves the API only; `TTS_SERVE_API=false`
(`<service> consume`) runs only the relay, the consumers and the workers (plus health, readiness
and metrics), so an operator scales each independently. The transaction rule: handlers,
services and repositories only `flush()`; the entrypoint commits — `SessionDep` for a request
(`tts_common.deps`), the consumer runner for an event, the worker's loop body for a pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    generate_latest,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tts_common.api_auth import install_api_auth, secure_routers
from tts_common.consumer import ConsumerRunner
from tts_common.db import create_engine, ping, session_factory
from tts_common.errors import install_error_handlers
from tts_common.http import install_http_guard
from tts_common.kafka import ensure_topics, make_producer
from tts_common.logging import register_secret
from tts_common.metrics import FabricCollector, sample_loop
from tts_common.openapi import METRICS_RESPONSES, READINESS_RESPONSES, install_openapi
from tts_common.outbox import OutboxRelay
from tts_common.settings import ServiceSettings, register_settings_secrets
from tts_common.subscriptions import (
    ConsumerGroup,
    DispatchStats,
    Subscription,
    dispatcher,
    group_subscriptions,
)

log = logging.getLogger(__name__)

Hook = Callable[["Runtime"], Awaitable[None]]
RELAY_TASK = "outbox-relay"
CONSUMER_GROUPS = "consumer-groups"  # runtime.extras: how many groups this process runs
FABRIC_METRICS = "fabric-metrics"  # runtime.extras: the app's tts_common.metrics.FabricCollector


@dataclass
class Runtime:
    """What a running service owns; lives on `app.state.runtime`."""

    name: str
    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    registry: CollectorRegistry
    producer: AIOKafkaProducer | None = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    kafka_ready: asyncio.Event = field(default_factory=asyncio.Event)
    consumers: list[ConsumerRunner] = field(default_factory=list)
    dispatch: dict[str, DispatchStats] = field(default_factory=dict)

    def spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        """Run a background worker for the lifetime of the app."""
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self.tasks.append(task)
        return task


async def _connect_kafka(rt: Runtime) -> None:
    """Connect the shared producer and create the topics, retrying until Kafka answers.

    Until then the API serves and `/readyz` says why it is not ready.
    """
    delay = 0.5
    while True:
        producer = make_producer(rt.settings.kafka_bootstrap, client_id=rt.name)
        attempt = asyncio.ensure_future(_start_producer(rt, producer))
        try:
            # Shielded: a shutdown during the connect lets the attempt finish before the
            # producer is stopped. aiokafka cancelled inside start() can leave a connection
            # it opened unclosed (aiokafka#715).
            await asyncio.shield(attempt)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(attempt, 15)
            await producer.stop()
            raise
        except Exception as exc:
            await producer.stop()
            log.warning("kafka not reachable yet", extra={"error": str(exc), "retry_in_s": delay})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        rt.producer = producer
        rt.kafka_ready.set()
        return


async def _start_producer(rt: Runtime, producer: AIOKafkaProducer) -> None:
    await producer.start()
    await ensure_topics(rt.settings.kafka_bootstrap)


async def _relay(rt: Runtime) -> None:
    """Publish this service's outbox once Kafka is connected."""
    await rt.kafka_ready.wait()
    assert rt.producer is not None
    await OutboxRelay(rt.engine, rt.producer, batch_size=500, poll_interval=0.1).run()


async def _consume(rt: Runtime, group: ConsumerGroup) -> None:
    """Run one consumer group once Kafka is connected; dead letters go through the app's producer."""
    await rt.kafka_ready.wait()
    assert rt.producer is not None
    stats = rt.dispatch.setdefault(group.group_id, DispatchStats())
    runner = ConsumerRunner(
        rt.settings.kafka_bootstrap,
        group.group_id,
        group.topics,
        rt.sessions,
        dispatcher(group, stats),
        dlq_producer=rt.producer,
        batch_mode=group.batch_mode,
    )
    rt.consumers.append(runner)
    log.info("consumer starting", extra={"group": group.group_id, "topics": group.topics})
    await runner.run()


async def check_kafka(rt: Runtime, limit_s: float = 3.0) -> str | None:
    """None when Kafka answers a metadata request, else the reason."""
    if rt.producer is None:
        return "not connected yet"
    try:
        await asyncio.wait_for(rt.producer.client.fetch_all_metadata(), limit_s)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    return None


def check_consumers(rt: Runtime, expected: int) -> str | None:
    """None when every consumer group has joined (its first assignment), else which have not.

    A process stopped while its consumer is still joining can leave aiokafka connections open
    (aiokafka#715); readiness that includes the join also tells an operator the worker tier is
    really consuming, not just connected.
    """
    joined = [r.group_id for r in rt.consumers if r.joined.is_set()]
    if len(joined) >= expected:
        return None
    waiting = sorted({r.group_id for r in rt.consumers} - set(joined)) or ["starting"]
    return "joining consumer group(s): " + ", ".join(waiting)


async def check_database(rt: Runtime, limit_s: float = 3.0) -> str | None:
    try:
        await asyncio.wait_for(ping(rt.engine), limit_s)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    return None


def _health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process serves requests")
    async def healthz(request: Request) -> dict[str, str]:
        return {"status": "ok", "service": request.app.state.runtime.name}

    @router.get(
        "/readyz",
        summary="Readiness: database and Kafka answer, consumer groups joined",
        responses=READINESS_RESPONSES,
    )
    async def readyz(request: Request) -> JSONResponse:
        rt: Runtime = request.app.state.runtime
        db, kafka = await asyncio.gather(check_database(rt), check_kafka(rt))
        checks = {"database": db or "ok", "kafka": kafka or "ok"}
        expected = rt.extras.get(CONSUMER_GROUPS, 0)
        consumers = check_consumers(rt, expected) if expected else None
        if expected:
            checks["consumers"] = consumers or "ok"
        ready = db is None and kafka is None and consumers is None
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses=METRICS_RESPONSES,
    )
    async def metrics(request: Request) -> Response:
        rt: Runtime = request.app.state.runtime
        return Response(generate_latest(rt.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def _install_http_middleware(
    app: FastAPI, registry: CollectorRegistry, settings: ServiceSettings
) -> None:
    """Limits, security headers, correlation ids and request metrics: tts_common.http."""
    install_http_guard(app, settings, registry)


def create_service_app(
    *,
    name: str,
    settings: ServiceSettings,
    routers: Sequence[APIRouter] = (),
    public_routers: Sequence[APIRouter] = (),
    consumers: Sequence[Subscription] = (),
    workers: Sequence[Hook] = (),
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    description: str = "",
    secrets: Sequence[Any] = (),
) -> FastAPI:
    """Build a service app (see the module docstring for what each argument declares).

    `on_startup` hooks wire the service layer (they run in every mode); `workers` and the
    consumers run only when `settings.run_workers`, the routers only when `settings.serve_api`.
    """
    registry = CollectorRegistry()
    holder: dict[str, Runtime] = {}
    fabric = FabricCollector(lambda: holder.get("rt"))
    registry.register(fabric)
    register_settings_secrets(settings)
    for secret in secrets:
        register_secret(secret, pinned=True)  # the service's own credentials: never evicted
    groups = group_subscriptions(  # a bad table fails at build time
        name, consumers, prefix=settings.consumer_group_prefix
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
        rt = Runtime(
            name=name,
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            registry=registry,
        )
        app.state.runtime = rt
        holder["rt"] = rt
        rt.extras[FABRIC_METRICS] = fabric
        rt.spawn(_connect_kafka(rt), "kafka-connect")
        rt.spawn(sample_loop(rt, fabric, settings.metrics_sample_seconds), "metrics-sampler")
        if settings.run_workers:
            rt.spawn(_relay(rt), RELAY_TASK)
        try:
            for hook in on_startup:
                await hook(rt)
            if settings.run_workers:
                rt.extras[CONSUMER_GROUPS] = len(groups)
                for group in groups:
                    rt.spawn(_consume(rt, group), f"consumer:{group.group_id}")
                for worker in workers:
                    rt.spawn(worker(rt), getattr(worker, "__name__", "worker"))
            yield
        finally:
            # Consumers first, gracefully: they finish the round in progress and commit it.
            for runner in rt.consumers:
                runner.stop()
            consuming = [t for t in rt.tasks if t.get_name().startswith("consumer:")]
            if consuming:
                await asyncio.wait(consuming, timeout=10)
            for hook in reversed(on_shutdown):
                try:
                    await hook(rt)
                except Exception:
                    log.exception("shutdown hook failed")
            for task in rt.tasks:
                task.cancel()
            await asyncio.gather(*rt.tasks, return_exceptions=True)
            if rt.producer is not None:
                await rt.producer.stop()
            await engine.dispose()

    app = FastAPI(title=name, description=description, version="0.1.0", lifespan=lifespan)
    install_error_handlers(app)
    install_openapi(app)
    _install_http_middleware(app, registry, settings)
    app.include_router(_health_router())
    if settings.serve_api:
        # `routers` answer authenticated callers only (API keys, tts_common.api_auth);
        # `public_routers` authenticate themselves.
        install_api_auth(app, settings, required=bool(routers))
        for router in [*secure_routers(routers), *public_routers]:
            app.include_router(router)
    return app

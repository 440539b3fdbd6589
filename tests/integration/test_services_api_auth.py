"""Every service's API sits behind API keys (tts_common.api_auth), on real PostgreSQL + Kafka.

catalog-sync, order-ingest and shipment-notifier have no domain routes yet, so each test mounts
a small router of its own through `create_service_app`, as a service's `create_app` will.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import importlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Depends, FastAPI
from pydantic import SecretStr
from tts_common.api_auth import (
    DEV_API_KEY,
    ApiKeyConfigError,
    Authenticated,
    new_api_key,
    require_scope,
)
from tts_common.app import Runtime, create_service_app

pytestmark = pytest.mark.integration

SERVICES = ["catalog_sync", "order_ingest", "shipment_notifier"]
PUBLIC = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/v1/hooks/ping"]


def _probe_router() -> APIRouter:
    """A stand-in for a service's domain API: one read route, one that needs a scope."""
    router = APIRouter(prefix="/v1/probe", tags=["probe"])

    @router.get("")
    async def whoami(principal: Authenticated) -> dict[str, Any]:
        return {"client": principal.client, "scopes": sorted(principal.scopes)}

    @router.post("/items", dependencies=[Depends(require_scope("probe:write"))])
    async def write() -> dict[str, bool]:
        return {"written": True}

    return router


def _hooks_router() -> APIRouter:
    """A stand-in for a public router (a signed webhook): no API key asked."""
    router = APIRouter(prefix="/v1/hooks")

    @router.get("/ping")
    async def ping() -> str:
        return "pong"

    return router


class Keys:
    def __init__(self) -> None:
        self.writer, writer_entry = new_api_key("pim", ["probe:write", "probe:read"])
        self.reader, reader_entry = new_api_key("oms", ["orders:read"])
        self.config = SecretStr(f"{writer_entry},{reader_entry}")


def _build(module: str, keys: Keys, database_url: str, kafka: str, **overrides: Any) -> FastAPI:
    config = importlib.import_module(f"{module}.config")
    app_mod = importlib.import_module(f"{module}.app")
    settings = config.Settings(
        database_url=database_url,
        kafka_bootstrap=kafka,
        api_keys=keys.config,
        run_workers=False,  # no outbox relay: these apps have no migrations applied
        **overrides,
    )
    return create_service_app(
        name=app_mod.NAME,
        settings=settings,
        routers=[_probe_router()],
        public_routers=[_hooks_router()],
    )


@asynccontextmanager
async def _serving(app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as mgr:
        rt: Runtime = app.state.runtime
        await asyncio.wait_for(rt.kafka_ready.wait(), 60)
        transport = httpx.ASGITransport(app=mgr.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            yield client, rt


@pytest.mark.parametrize("module", SERVICES)
async def test_service_routes_need_a_key_with_the_scope(
    module: str, fresh_database: str, kafka_bootstrap: str
) -> None:
    keys = Keys()
    app = _build(module, keys, fresh_database, kafka_bootstrap)
    async with _serving(app) as (client, _):
        r = await client.get("/v1/probe")
        assert r.status_code == 401, r.text
        assert r.json()["error"] == "unauthorized"
        assert "Authorization: Bearer <key>" in r.json()["detail"]

        for bad in ({"X-API-Key": keys.writer + "x"}, {"Authorization": "Bearer nope"}):
            r = await client.get("/v1/probe", headers=bad)
            assert r.status_code == 401, r.text
        # The published dev key is off once TTS_API_KEYS is set.
        assert (
            await client.get("/v1/probe", headers={"X-API-Key": DEV_API_KEY})
        ).status_code == 401

        r = await client.post("/v1/probe/items", headers={"X-API-Key": keys.reader})
        assert r.status_code == 403, r.text
        assert r.json()["error"] == "forbidden"
        assert "probe:write" in r.json()["detail"]

        r = await client.get("/v1/probe", headers={"Authorization": f"Bearer {keys.writer}"})
        assert r.status_code == 200, r.text
        assert r.json() == {"client": "pim", "scopes": ["probe:read", "probe:write"]}
        r = await client.post("/v1/probe/items", headers={"X-API-Key": keys.writer})
        assert r.json() == {"written": True}
        # Any valid key reads a route that needs no particular scope.
        assert (
            await client.get("/v1/probe", headers={"X-API-Key": keys.reader})
        ).status_code == 200

        for path in PUBLIC:
            r = await client.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text)
        assert (await client.get("/readyz")).json()["checks"] == {"database": "ok", "kafka": "ok"}


# --- junk keys leave nothing behind ----------------------------------------------------------

_CONTAINERS = (dict, list, set, frozenset, tuple, collections.deque)


def _retained_size(roots: list[Any]) -> int:
    """Entries held by every container reachable from `roots` through tts_common objects.

    Walks builtin containers and instances of tts_common classes (their `__dict__` and slots),
    plus the fill of any `functools.lru_cache`; does not descend into other libraries' objects
    (loggers would lead to pytest's own log capture, which grows by design).
    """
    seen: set[int] = set()
    total = 0
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, ModuleType | str | bytes | int | float | bool):
            continue
        seen.add(id(obj))
        info = getattr(obj, "cache_info", None)
        if callable(info):
            total += info().currsize
        if isinstance(obj, dict):
            total += len(obj)
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, _CONTAINERS):
            total += len(obj)
            stack.extend(obj)
        elif type(obj).__module__.startswith("tts_common"):
            stack.extend(getattr(obj, "__dict__", {}).values())
            for cls in type(obj).__mro__:
                for slot in getattr(cls, "__slots__", ()):
                    if hasattr(obj, slot):
                        stack.append(getattr(obj, slot))
    return total


def _state_roots(app: FastAPI, rt: Runtime) -> list[Any]:
    modules = [m for name, m in sys.modules.items() if name.startswith("tts_common")]
    module_values = [
        v for m in modules for v in vars(m).values() if not callable(v) or hasattr(v, "cache_info")
    ]
    return [app.state._state, rt, *module_values]  # type: ignore[attr-defined]


def _metric_series(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


async def test_many_distinct_junk_keys_grow_no_server_state(
    fresh_database: str, kafka_bootstrap: str
) -> None:
    keys = Keys()
    app = _build("order_ingest", keys, fresh_database, kafka_bootstrap)
    async with _serving(app) as (client, rt):

        async def junk(first: int, count: int) -> None:
            for i in range(first, first + count):
                value = f"junk-{i:06d}-{'z' * (i % 40)}"
                headers = {"X-API-Key": value} if i % 2 else {"Authorization": f"Bearer {value}"}
                r = await client.get("/v1/probe", headers=headers)
                assert r.status_code == 401

        # Warm up: the first refusals (and scrapes) create their metric series once.
        await junk(0, 20)
        await client.get("/metrics")
        gc.collect()
        series = _metric_series((await client.get("/metrics")).text)
        retained = _retained_size(_state_roots(app, rt))
        keyring = app.state.api_keyring
        entries = keyring.entries

        await junk(20, 1500)
        gc.collect()
        assert _metric_series((await client.get("/metrics")).text) == series
        grown = _retained_size(_state_roots(app, rt)) - retained
        assert grown == 0, f"{grown} more entries held after 1500 junk keys"
        assert app.state.api_keyring is keyring
        assert app.state.api_keyring.entries is entries
        # A valid key still works afterwards.
        assert (
            await client.get("/v1/probe", headers={"X-API-Key": keys.writer})
        ).status_code == 200


def test_retained_size_sees_a_per_key_cache() -> None:
    """The walk above would catch a cache of presented keys hung on a tts_common object."""
    from tts_common.api_auth import ApiKeyring

    ring = ApiKeyring(())
    holder = Runtime.__new__(Runtime)
    holder.extras = {"ring": ring, "seen": {}}
    before = _retained_size([holder])
    holder.extras["seen"]["junk-1"] = True
    assert _retained_size([holder]) == before + 1


# --- prod and public routers -----------------------------------------------------------------


def test_prod_refuses_an_app_with_routes_but_no_keys(kafka_bootstrap: str) -> None:
    # The shared settings alone: a service's own settings may refuse prod for other reasons
    # (dev secrets) before api_auth is even asked.
    from tts_common.settings import ServiceSettings as Settings

    prod = Settings(environment="prod", kafka_bootstrap=kafka_bootstrap)
    with pytest.raises(ApiKeyConfigError, match="TTS_API_KEYS"):
        create_service_app(name="order-ingest", settings=prod, routers=[_probe_router()])
    # Nothing to protect: public routers only (the auth-broker), or the worker tier.
    create_service_app(name="order-ingest", settings=prod, public_routers=[_hooks_router()])
    worker_tier = prod.model_copy(update={"serve_api": False})
    create_service_app(name="order-ingest", settings=worker_tier, routers=[_probe_router()])
    _, entry = new_api_key("ops", ["*"])
    keyed = Settings(environment="prod", kafka_bootstrap=kafka_bootstrap, api_keys=SecretStr(entry))
    create_service_app(name="order-ingest", settings=keyed, routers=[_probe_router()])


async def test_auth_broker_keeps_its_own_admin_keys(
    fresh_database: str, kafka_bootstrap: str
) -> None:
    """Its routers are public to api_auth: the admin key opens the admin API, an API key not."""
    from auth_broker.app import create_app
    from auth_broker.config import DEV_ADMIN_KEY, Settings
    from auth_broker.testing import MIGRATIONS
    from tts_common.migrate import migrate_async

    await migrate_async(fresh_database, Path(MIGRATIONS), "auth-broker")
    settings = Settings(
        database_url=fresh_database, kafka_bootstrap=kafka_bootstrap, run_workers=False
    )
    async with _serving(create_app(settings)) as (client, _):
        assert (await client.get("/v1/connections")).status_code == 401
        api_key_only = await client.get("/v1/connections", headers={"X-API-Key": DEV_API_KEY})
        assert api_key_only.status_code == 401
        admin = await client.get("/v1/connections", headers={"X-API-Key": DEV_ADMIN_KEY})
        assert admin.status_code == 200, admin.text


CLI_PROBE = """
from fastapi import APIRouter
from tts_common.settings import ServiceSettings as Settings
from tts_common.app import create_service_app
from tts_common.cli import run_cli

router = APIRouter()
router.get("/v1/probe")(lambda: "open")
run_cli(
    name="order-ingest",
    settings_cls=Settings,
    create_app=lambda s: create_service_app(name="order-ingest", settings=s, routers=[router]),
    migrations_dir=None,
    argv=["serve", "--no-migrate"],
)
"""


def test_serve_in_prod_without_keys_exits_naming_the_setting() -> None:
    env = {**os.environ, "TTS_ENVIRONMENT": "prod", "TTS_API_KEYS": ""}
    proc = subprocess.run(
        [sys.executable, "-c", CLI_PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert "refusing to start" in proc.stderr
    assert "TTS_API_KEYS must list at least one API key in prod" in proc.stderr
    assert "python -m tts_common.api_auth new" in proc.stderr
    assert "Traceback" not in proc.stderr

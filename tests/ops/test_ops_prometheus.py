"""A real Prometheus (Debian's `prometheus` package, deploy/local/prometheus.sh) scraping the
services as they run: the auth-broker, catalog-sync, order-ingest, shipment-notifier and the
console, each a real server on a free port (real PostgreSQL and Kafka), with the sandbox as
TikTok. Its configuration is deploy/prometheus/prometheus.yml with only the targets and the
intervals changed, its rules deploy/prometheus/alerts.yml.

After some traffic (a shop connected through the broker, a catalog-sync export of a few
products against the sandbox, which answers some calls 429, an order-ingest import pass) the test asks Prometheus's HTTP
query API that every service's key metrics were scraped, that every query of the Grafana
dashboard (deploy/grafana/dashboards) returns a series, and that every alert rule loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
import orjson
import pytest
import yaml
from auth_broker.config import Settings as BrokerSettings
from auth_broker.testing import (
    MIGRATIONS as BROKER_MIGRATIONS,
)
from auth_broker.testing import (
    RunningBroker,
    approve_in_sandbox,
    free_port,
    run_broker,
    sandbox_settings,
)
from catalog_sync.app import create_app as catalog_app
from catalog_sync.cli import MIGRATIONS as CATALOG_MIGRATIONS
from catalog_sync.config import Settings as CatalogSettings
from console.app import create_app as console_app
from console.config import Settings as ConsoleSettings
from order_ingest.app import create_app as orders_app
from order_ingest.cli import MIGRATIONS as ORDERS_MIGRATIONS
from order_ingest.config import Settings as OrdersSettings
from shipment_notifier.app import create_app as shipments_app
from shipment_notifier.cli import MIGRATIONS as SHIPMENTS_MIGRATIONS
from shipment_notifier.config import Settings as ShipmentsSettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tiktok_sandbox.testing import RunningSandbox, run_sandbox, sample_png
from tts_common.migrate import migrate_async
from tts_common.testing.infra import database_url, libpq_dsn, new_database_name
from tts_common.testing.server import serving

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_YML = ROOT / "deploy/prometheus/prometheus.yml"
ALERTS_YML = ROOT / "deploy/prometheus/alerts.yml"
DASHBOARDS = ROOT / "deploy/grafana/dashboards"
SETUP = ROOT / "deploy/local/prometheus.sh"
AUTH = {"Authorization": "Bearer dev-api-key"}
SECRETS = {
    "catalog-sync": "ops-catalog-credential-0123456789",
    "order-ingest": "ops-orders-credential-0123456789",
    "shipment-notifier": "ops-shipments-credential-0123456789",
}
# What each service must expose once it has run for a while (docs/operations.md, "Metrics").
KEY_METRICS = {
    "auth-broker": (
        "auth_broker_connections",
        "auth_broker_token_expiry_seconds",
        "auth_broker_leases_total",
        "tts_outbox_backlog",
        "http_requests_total",
    ),
    "catalog-sync": (
        "catalog_sync_runs_total",
        "catalog_sync_actions_total",
        "catalog_sync_feeds_paused",
        "tts_tiktok_calls_total",
        "tts_tiktok_call_seconds_bucket",
        "tts_outbox_oldest_age_seconds",
        "tts_consumer_lag",
        "tts_dlq_records_total",
    ),
    "order-ingest": (
        "order_ingest_orders",
        "order_ingest_deliveries",
        "tts_outbox_backlog",
        "tts_consumer_events_total",
    ),
    "shipment-notifier": (
        "shipment_notifier_shipments",
        "shipment_notifier_deferred",
        "tts_outbox_backlog",
        "tts_dlq_records_total",
    ),
    "console": ("http_requests_total",),
}
# UK leaves of the sandbox's tree (real v1 ids): Mugs, Candles, Vase & Fillers.
UK_CATEGORIES = ("600042", "854152", "700655")
UK_WAREHOUSE = "7068517275539720101"
# Our metric names in a PromQL expression (functions and labels are not metrics).
METRIC_NAME = re.compile(
    r"\b((?:tts|catalog_sync|auth_broker|order_ingest|shipment_notifier|http)_[a-z_]+|up)\b"
    r"(?=\s*[{\[)=<>*/+-]|\s*$)"
)


# --- Prometheus -------------------------------------------------------------------------


def ensure_prometheus() -> str:
    """The `prometheus` binary, installed by deploy/local/prometheus.sh when missing.

    Fails (never skips) when it cannot be had, with the script's own reason."""
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        done = subprocess.run(
            ["bash", str(SETUP)], capture_output=True, text=True, timeout=900, check=False
        )
        if done.returncode != 0:
            pytest.fail(
                f"Prometheus is not installed and {SETUP.name} could not install it "
                f"(exit {done.returncode}): {done.stderr.strip()[-2000:]}"
            )
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail(f"{SETUP.name} ran but no `prometheus` is on PATH")
    return binary


def config_for(targets: dict[str, str], rules: Path) -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml with each job's target replaced by the test's own
    instance, a 1s scrape and evaluation interval, and the rule file by absolute path.

    Every job of the committed file must have a target here (a service added to the file
    but not to the test fails it)."""
    config: dict[str, Any] = yaml.safe_load(PROMETHEUS_YML.read_text())
    config["global"]["scrape_interval"] = "1s"
    config["global"]["evaluation_interval"] = "1s"
    assert config["rule_files"] == ["alerts.yml"], config["rule_files"]
    config["rule_files"] = [str(rules)]
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert jobs == set(targets), f"jobs {sorted(jobs)} vs services started {sorted(targets)}"
    for job in config["scrape_configs"]:
        (static,) = job["static_configs"]
        assert static["labels"]["service"] == job["job_name"], job
        host_port = targets[job["job_name"]].removeprefix("http://")
        static["targets"] = [host_port]
    return config


@dataclass
class Prometheus:
    base_url: str
    http: httpx.AsyncClient

    async def query(self, expr: str) -> list[dict[str, Any]]:
        r = await self.http.get(self.base_url + "/api/v1/query", params={"query": expr})
        body: dict[str, Any] = r.json()
        assert r.status_code == 200 and body["status"] == "success", (expr, r.text)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def rules(self) -> list[dict[str, Any]]:
        r = await self.http.get(self.base_url + "/api/v1/rules")
        assert r.status_code == 200, r.text
        groups: list[dict[str, Any]] = r.json()["data"]["groups"]
        return groups


def spawn_prometheus(
    binary: str, config: dict[str, Any], workdir: Path
) -> tuple[subprocess.Popen[bytes], int, IO[bytes]]:
    """Start Prometheus on a free loopback port with `config`; (process, port, its log)."""
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, port, log


@contextlib.asynccontextmanager
async def running_prometheus(
    binary: str, config: dict[str, Any], workdir: Path
) -> AsyncIterator[Prometheus]:
    proc, port, log = spawn_prometheus(binary, config, workdir)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            await until(lambda: _ready(http, base, proc), within=60, what="Prometheus ready")
            yield Prometheus(base, http)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        if proc.returncode not in (0, -15):
            print((workdir / "prometheus.log").read_text()[-4000:])


async def _ready(http: httpx.AsyncClient, base: str, proc: subprocess.Popen[bytes]) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"prometheus exited with {proc.returncode} before it was ready")
    try:
        return (await http.get(base + "/-/ready")).status_code == 200
    except httpx.TransportError:
        return False


async def until(check: Any, *, within: float, what: str) -> None:
    """Wait for a condition (polled), failing after `within` seconds with `what`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        assert loop.time() < deadline, f"not within {within}s: {what}"
        await asyncio.sleep(0.5)


# --- the services -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def databases(pg_server_url: str, *names: str) -> AsyncIterator[dict[str, str]]:
    """One new database per name (the services may not share one); dropped afterwards."""
    made = {n: new_database_name(f"t_ops_{n.replace('-', '_')}") for n in names}
    admin = await asyncpg.connect(libpq_dsn(pg_server_url), timeout=30)
    try:
        for db in made.values():
            await admin.execute(f'CREATE DATABASE "{db}"')
    finally:
        await admin.close()
    try:
        yield {n: database_url(pg_server_url, db) for n, db in made.items()}
    finally:
        admin = await asyncpg.connect(libpq_dsn(pg_server_url), timeout=30)
        try:
            for db in made.values():
                await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        finally:
            await admin.close()


@contextlib.contextmanager
def images_server() -> Iterator[str]:
    picture = sample_png(600, 600)

    async def image(request: Request) -> Response:
        return Response(picture, media_type="image/png")

    async def health(request: Request) -> Response:
        return Response(b"ok")

    app = Starlette(routes=[Route("/img/{name}", image), Route("/healthz", health)])
    with serving(app) as base:
        yield base


def tiktok_values(sb: RunningSandbox, broker: RunningBroker, service: str) -> dict[str, Any]:
    return {
        "auth_broker_url": broker.base_url,
        "service_credential": SECRETS[service],
        "tiktok_open_api_url": sb.base_url,
        "tiktok_app_key": sb.settings.app_key,
        "tiktok_app_secret": sb.settings.app_secret,
        "metrics_sample_seconds": 0.5,
    }


@dataclass
class Stack:
    sandbox: RunningSandbox
    broker: RunningBroker
    urls: dict[str, str]  # service -> base URL
    http: httpx.AsyncClient


@contextlib.asynccontextmanager
async def services(pg_server_url: str, kafka_bootstrap: str) -> AsyncIterator[Stack]:
    """Every service as a real server on a free port, migrated, ready."""
    async with databases(
        pg_server_url, "auth-broker", "catalog-sync", "order-ingest", "shipment-notifier"
    ) as dbs:
        await migrate_async(dbs["auth-broker"], BROKER_MIGRATIONS, "auth-broker")
        await migrate_async(dbs["catalog-sync"], CATALOG_MIGRATIONS, "catalog-sync")
        await migrate_async(dbs["order-ingest"], ORDERS_MIGRATIONS, "order-ingest")
        await migrate_async(dbs["shipment-notifier"], SHIPMENTS_MIGRATIONS, "shipment-notifier")
        port = free_port()
        # 2 calls a second per operation: catalog-sync's limiter (far above) meets 429s.
        with (
            run_sandbox(
                redirect_url=f"http://127.0.0.1:{port}/v1/oauth/callback",
                qps=2,
                audit_delay_seconds=0,
            ) as sb,
            run_broker(
                BrokerSettings(
                    **sandbox_settings(
                        sb,
                        dbs["auth-broker"],
                        kafka_bootstrap,
                        http_port=port,
                        refresher_enabled=False,
                        service_credentials=",".join(f"{k}:{v}" for k, v in SECRETS.items()),
                        metrics_sample_seconds=0.5,
                    )
                )
            ) as broker,
            contextlib.ExitStack() as running,
        ):
            urls = {"auth-broker": broker.base_url}
            common = {"kafka_bootstrap": kafka_bootstrap}
            apps = {
                "catalog-sync": catalog_app(
                    CatalogSettings(
                        database_url=dbs["catalog-sync"],
                        tiktok_qps=100,
                        **common,
                        **tiktok_values(sb, broker, "catalog-sync"),
                    ),
                    connection_group=f"catalog-sync-ops-{uuid.uuid4().hex[:12]}",
                ),
                "order-ingest": orders_app(
                    OrdersSettings(
                        database_url=dbs["order-ingest"],
                        **common,
                        **tiktok_values(sb, broker, "order-ingest"),
                    )
                ),
                "shipment-notifier": shipments_app(
                    ShipmentsSettings(
                        database_url=dbs["shipment-notifier"],
                        **common,
                        **tiktok_values(sb, broker, "shipment-notifier"),
                    )
                ),
            }
            for name, app in apps.items():
                urls[name] = running.enter_context(serving(app, ready_path="/readyz"))
            urls["console"] = running.enter_context(
                serving(
                    console_app(
                        ConsoleSettings(
                            auth_broker_url=urls["auth-broker"],
                            catalog_sync_url=urls["catalog-sync"],
                            order_ingest_url=urls["order-ingest"],
                            shipment_notifier_url=urls["shipment-notifier"],
                        )
                    ),
                    ready_path="/readyz",
                )
            )
            async with httpx.AsyncClient(timeout=60) as http:
                yield Stack(sb, broker, urls, http)


async def connect_uk(stack: Stack) -> str:
    """A UK connection the sandbox's seller approved (OAuth through the broker)."""
    r = await stack.http.post(
        stack.broker.base_url + "/v1/connections",
        json={"name": f"ops-{uuid.uuid4().hex[:6]}", "market": "UK"},
        headers=stack.broker.admin,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    target = await approve_in_sandbox(stack.http, created["authorize_url"], "UK")
    callback = await stack.http.get(target)
    assert callback.status_code == 200, callback.text
    return str(created["id"])


def products(images: str, parents: int) -> list[dict[str, str]]:
    rng = random.Random(13)
    rows = []
    for i in range(parents):
        parent = f"ops-{i:03d}"
        for k in range(rng.randint(1, 3)):
            rows.append(
                {
                    "parent_id": parent,
                    "product_id": f"{parent}-{k}",
                    "product_name": f"Ops test product {i}",
                    "description": f"<p>Product {i} of the ops test.</p>",
                    "category_id": UK_CATEGORIES[i % len(UK_CATEGORIES)],
                    "images": f"{images}/img/{parent}.png",
                    "package_weight": "1.5",
                    "package_weight_unit": "KILOGRAM",
                    "package_length": "20",
                    "package_width": "15",
                    "package_height": "10",
                    "package_dimension_unit": "CENTIMETER",
                    "sku.price": f"{10 + i}.{k}9",
                    "sku.currency": "GBP",
                    "sku.quantity": str(5 + k),
                    "sku.sales_attribute.Color": ("Red", "Blue", "Black")[k],
                }
            )
    return rows


async def export_run(stack: Stack, images: str, connection_id: str) -> dict[str, Any]:
    """A feed with a few products, its taxonomies cached, one export run to its end."""
    catalog = httpx.AsyncClient(base_url=stack.urls["catalog-sync"], headers=AUTH, timeout=120)
    async with catalog:
        r = await catalog.post(
            "/v1/feeds",
            json={
                "name": "ops-feed",
                "market": "UK",
                "connection_id": connection_id,
                "active": True,
                "warehouse_id": UK_WAREHOUSE,
            },
        )
        assert r.status_code == 201, r.text
        feed = r.json()["id"]
        body = b"".join(orjson.dumps(row) + b"\n" for row in products(images, 6))
        r = await catalog.put(f"/v1/feeds/{feed}/products?format=ndjson", content=body)
        assert r.status_code == 200 and r.json()["refused"] == 0, r.text

        # The sandbox allows 2 calls a second per operation here (to get real 429s), so a
        # taxonomy read may be answered 503 "retry later": retried, as a client should.
        async def cached(path: str, params: dict[str, str] | None = None) -> bool:
            r = await catalog.get(f"/v1/feeds/{feed}/{path}", params=params)
            assert r.status_code in (200, 503), r.text
            return r.status_code == 200

        for path in ("taxonomies/categories", "taxonomies/brands"):
            await until(lambda p=path: cached(p), within=60, what=f"{path} cached")
        for category in UK_CATEGORIES:
            await until(
                lambda c=category: cached("schema", {"category_id": c}),
                within=60,
                what=f"category {category}'s schema cached",
            )
        r = await catalog.post(f"/v1/feeds/{feed}/runs", json={})
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        run: dict[str, Any] = {}

        async def ended() -> bool:
            nonlocal run
            r = await catalog.get(f"/v1/feeds/{feed}/runs/{run_id}")
            assert r.status_code == 200, r.text
            run = r.json()
            return run["status"] not in ("queued", "running")

        await until(ended, within=240, what="the export run ended")
        return run


async def order_import(stack: Stack, connection_id: str) -> None:
    """An order import of the connection's shop and one backfill pass to its end: order-ingest's
    TikTok calls ("Get Order List 202309")."""
    orders = httpx.AsyncClient(base_url=stack.urls["order-ingest"], headers=AUTH, timeout=60)
    async with orders:
        r = await orders.post(
            "/v1/order-imports",
            json={"connection_id": connection_id, "poll_interval_seconds": 86400},
        )
        assert r.status_code == 201, r.text
        import_id = r.json()["id"]
        r = await orders.post(f"/v1/order-imports/{import_id}/runs", json={"mode": "backfill"})
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        status = ""

        async def done() -> bool:
            nonlocal status
            r = await orders.get(f"/v1/order-imports/{import_id}/runs/{run_id}")
            status = r.json()["status"]
            return status in ("done", "failed")

        await until(done, within=120, what="the order import pass ended")
        assert status == "done", status


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every committed dashboard."""
    out = []
    files = sorted(DASHBOARDS.glob("*.json"))
    assert files, f"no dashboard in {DASHBOARDS}"
    for path in files:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                out.append((f"{path.name}: {panel['title']}", target["expr"]))
    return out


def alert_names() -> set[str]:
    groups = yaml.safe_load(ALERTS_YML.read_text())["groups"]
    return {rule["alert"] for g in groups for rule in g["rules"] if "alert" in rule}


def alert_metrics() -> set[str]:
    """The metric names the alert rules' expressions read."""
    groups = yaml.safe_load(ALERTS_YML.read_text())["groups"]
    names: set[str] = set()
    for g in groups:
        for rule in g["rules"]:
            names |= set(METRIC_NAME.findall(rule["expr"]))
    return names


# --- the test -------------------------------------------------------------------------------


def test_promtool_accepts_the_committed_config_and_rules() -> None:
    ensure_prometheus()
    promtool = shutil.which("promtool")
    assert promtool, "the prometheus package ships promtool"
    for args in (["check", "rules", str(ALERTS_YML)], ["check", "config", str(PROMETHEUS_YML)]):
        done = subprocess.run(
            [promtool, *args], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


async def test_prometheus_scrapes_every_service_and_every_panel_has_a_series(
    pg_server_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    binary = ensure_prometheus()
    with images_server() as images:
        async with services(pg_server_url, kafka_bootstrap) as stack:
            config = config_for(stack.urls, ALERTS_YML)
            async with running_prometheus(binary, config, tmp_path) as prom:
                connection = await connect_uk(stack)
                run = await export_run(stack, images, connection)
                assert run["status"] == "succeeded", run
                await order_import(stack, connection)
                console = await stack.http.get(stack.urls["console"] + "/healthz")
                assert console.status_code == 200

                # Every service scraped, and up.
                async def all_up() -> bool:
                    up = await prom.query('up{service!=""} == 1')
                    return {s["metric"]["service"] for s in up} == set(stack.urls)

                await until(all_up, within=60, what=f"every service up: {sorted(stack.urls)}")

                # Each service's key metrics, from that service.
                missing: list[str] = []

                async def key_metrics() -> bool:
                    missing.clear()
                    for service, names in KEY_METRICS.items():
                        for name in names:
                            if not await prom.query(f'{name}{{service="{service}"}}'):
                                missing.append(f"{service}: {name}")
                    return not missing

                with _explained(missing):
                    await until(key_metrics, within=60, what="every key metric scraped")

                # The TikTok calls of the run, counted by operation and business code, and
                # order-ingest's the same way (each as of a scrape after its calls: waited for).
                calls: list[dict[str, Any]] = []

                async def counted() -> bool:
                    calls[:] = await prom.query(
                        'sum by (operation, code) (tts_tiktok_calls_total{service="catalog-sync"})'
                    )
                    imported = await prom.query('tts_tiktok_calls_total{service="order-ingest"}')
                    return len({s["metric"]["operation"] for s in calls}) >= 3 and bool(imported)

                await until(
                    counted,
                    within=30,
                    what="catalog-sync's and order-ingest's TikTok calls scraped",
                )
                assert any(s["metric"]["code"] == "0" for s in calls), calls

                # Every dashboard panel's query returns at least one series.
                queries = dashboard_queries()
                empty: list[str] = []

                async def every_panel() -> bool:
                    empty.clear()
                    for title, expr in queries:
                        if not await prom.query(expr):
                            empty.append(f"{title}: {expr}")
                    return not empty

                with _explained(empty):
                    await until(every_panel, within=90, what="every panel has a series")

                # Every metric an alert reads is one the services serve (no typo that would
                # keep an alert silent forever).
                r = await prom.http.get(prom.base_url + "/api/v1/label/__name__/values")
                served = set(r.json()["data"])
                assert alert_metrics() - served == set(), sorted(alert_metrics() - served)

                # Every alert rule of alerts.yml loaded, none failing to evaluate.
                groups = await prom.rules()
                loaded = {
                    r["name"]: r for g in groups for r in g["rules"] if r["type"] == "alerting"
                }
                assert set(loaded) == alert_names(), sorted(loaded)

                async def evaluated() -> bool:
                    groups = await prom.rules()
                    rules = [r for g in groups for r in g["rules"]]
                    bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] == "err"]
                    assert not bad, bad
                    return all(r["health"] == "ok" for r in rules)

                await until(evaluated, within=30, what="every rule evaluated")


@contextlib.contextmanager
def _explained(what: list[str]) -> Iterator[None]:
    """Add the list (still missing / empty) to a failed wait's message."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{exc}; still: {what}") from None

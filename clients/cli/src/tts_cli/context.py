"""The global options (`tts --catalog-url … COMMAND`) as one object every command reads.

Each service's URL and key come from an option, else its environment variable, else the
local stack's default (`make up`: ports 8101-8104, the published dev keys), so `tts` works
against a local stack with no configuration at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import typer

from tts_cli.api import Api, Service

DEFAULT_CATALOG_URL = "http://127.0.0.1:8102"
DEFAULT_BROKER_URL = "http://127.0.0.1:8101"
DEFAULT_ORDERS_URL = "http://127.0.0.1:8103"
DEFAULT_SHIPMENTS_URL = "http://127.0.0.1:8104"
# Published on purpose and accepted only by services in dev/test (docs/architecture.md).
DEV_API_KEY = "dev-api-key"
DEV_ADMIN_KEY = "dev-admin-key"

# Tests of pure logic route every call through an httpx.MockTransport here.
transport: httpx.BaseTransport | None = None


@dataclass(frozen=True)
class Config:
    catalog_url: str = DEFAULT_CATALOG_URL
    broker_url: str = DEFAULT_BROKER_URL
    orders_url: str = DEFAULT_ORDERS_URL
    shipments_url: str = DEFAULT_SHIPMENTS_URL
    api_key: str = field(default=DEV_API_KEY, repr=False)
    admin_key: str = field(default=DEV_ADMIN_KEY, repr=False)
    json: bool = False

    def catalog(self) -> Api:
        return Api(
            Service(
                "catalog-sync",
                self.catalog_url,
                self.api_key,
                "--catalog-url",
                "TTS_CATALOG_SYNC_URL",
            ),
            transport,
        )

    def broker(self) -> Api:
        return Api(
            Service(
                "auth-broker",
                self.broker_url,
                self.admin_key,
                "--broker-url",
                "TTS_AUTH_BROKER_URL",
                key_option="--admin-key",
                key_env="TTS_ADMIN_KEY",
            ),
            transport,
        )

    def orders(self) -> Api:
        return Api(
            Service(
                "order-ingest",
                self.orders_url,
                self.api_key,
                "--orders-url",
                "TTS_ORDER_INGEST_URL",
            ),
            transport,
        )

    def shipments(self) -> Api:
        return Api(
            Service(
                "shipment-notifier",
                self.shipments_url,
                self.api_key,
                "--shipments-url",
                "TTS_SHIPMENT_NOTIFIER_URL",
            ),
            transport,
        )


def config(ctx: typer.Context) -> Config:
    """The Config the root callback stored (a default one when a command runs alone)."""
    root = ctx.find_root()
    obj = root.obj
    if isinstance(obj, Config):
        return obj
    return Config()


def wants_json(ctx: typer.Context, flag: bool) -> bool:
    """`--json` given to the command or to `tts` itself."""
    return flag or config(ctx).json

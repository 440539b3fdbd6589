"""shipment-notifier's TikTok Shop client: one per app, tokens leased from the auth-broker.

`start` (an `on_startup` hook) builds ONE `tiktok_shop.TikTokShopClient` for the app and keeps
it on `runtime.extras["tiktok"]`; `stop` (`on_shutdown`) closes it. The client and the lease
provider share one HTTP pool (`Transport`), as docs/tiktok-client.md wires a service: an
order's calls go out as `client.shop(<connection id>)`, the token key being the auth-broker
connection id and the shop's cipher coming with the lease.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from tiktok_shop import (
    BrokerLeaseTokenProvider,
    ClientConfig,
    LoggingCallLog,
    ShopClient,
    TikTokShopClient,
    Transport,
)
from tts_common.app import Hook, Runtime
from tts_common.metrics import TikTokCallMetrics, fan_out

from shipment_notifier.config import Settings

EXTRA = "tiktok"


def config_from_settings(settings: Settings) -> ClientConfig:
    """Only the Open API host is needed: the notifier never runs OAuth (the broker does)."""
    return ClientConfig(
        app_key=settings.tiktok_app_key,
        app_secret=settings.tiktok_app_secret,
        open_api_base_url=settings.tiktok_open_api_url,
    )


@dataclass
class TikTok:
    """The app's client, its lease provider and the pool they share."""

    client: TikTokShopClient
    tokens: BrokerLeaseTokenProvider
    transport: Transport

    def shop(self, connection_id: str) -> ShopClient:
        return self.client.shop(connection_id)

    async def aclose(self) -> None:
        await self.client.aclose()
        await self.transport.aclose()  # the client does not close a transport it was given


def build(settings: Settings, registry: CollectorRegistry | None = None) -> TikTok:
    """`registry`: the app's, for the TikTok call metrics (`tts_common.metrics`)."""
    config = config_from_settings(settings)
    transport = Transport(config)
    tokens = BrokerLeaseTokenProvider(
        settings.auth_broker_url, settings.service_credential, transport.http
    )
    call_log: Any = LoggingCallLog()
    if registry is not None:
        call_log = fan_out(call_log, TikTokCallMetrics(registry))
    client = TikTokShopClient(config, tokens, transport=transport, call_log=call_log)
    return TikTok(client=client, tokens=tokens, transport=transport)


def hooks(settings: Settings) -> tuple[Hook, Hook]:
    """(on_startup, on_shutdown) hooks for `create_service_app`."""

    async def start(rt: Runtime) -> None:
        rt.extras[EXTRA] = build(settings, rt.registry)

    async def stop(rt: Runtime) -> None:
        tiktok: TikTok | None = rt.extras.pop(EXTRA, None)
        if tiktok is not None:
            await tiktok.aclose()

    return start, stop

"""catalog-sync's TikTok Shop client: one per app, tokens leased from the auth-broker.

`start` (an `on_startup` hook) builds ONE `tiktok_shop.TikTokShopClient` for the app and keeps
it on `runtime.extras["tiktok"]`; `stop` (`on_shutdown`) closes it. The client and the lease
provider share one HTTP pool (`Transport`), as docs/tiktok-client.md wires a service: a feed's
calls go out as `client.shop(<connection id>)`, the token key being the auth-broker
connection id and the shop's cipher coming with the lease.

`translate` turns the library's errors (TikTok's and the broker's) into HTTP answers that say
what to do: never a 500, and never a token or secret in the text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from prometheus_client import CollectorRegistry
from tiktok_shop import (
    AuthorizationExpiredError,
    BrokerLeaseTokenProvider,
    ClientConfig,
    ConnectionUnavailableError,
    CredentialsError,
    LoggingCallLog,
    RateLimitConfig,
    ScopeError,
    ShopClient,
    TikTokError,
    TikTokShopClient,
    TokenInvalidError,
    TokenLeaseError,
    Transport,
    ValidationError,
)
from tts_common.app import Hook, Runtime
from tts_common.errors import AppError, BadRequest, Conflict, NotFound, Unavailable
from tts_common.metrics import TikTokCallMetrics, fan_out

from catalog_sync.calllog import RunCallLog
from catalog_sync.config import Settings

log = logging.getLogger(__name__)

EXTRA = "tiktok"
NO_CONNECTION = "connect the feed to an auth-broker connection first"
# "Get Attributes 202309" / "Get Brands 202309": the category does not exist / is no leaf.
CATEGORY_NOT_FOUND = 12052023
CATEGORY_NOT_LEAF = 12052024


def config_from_settings(settings: Settings) -> ClientConfig:
    """Only the Open API host is needed: catalog-sync never runs OAuth (the broker does).

    Headers reach the call-log hook (redacted), which keeps them only for the run log of a
    feed with `log_api_headers` (`catalog_sync.calllog`), never in the service log."""
    return ClientConfig(
        app_key=settings.tiktok_app_key,
        app_secret=settings.tiktok_app_secret,
        open_api_base_url=settings.tiktok_open_api_url,
        log_headers=True,
        rate_limit=RateLimitConfig(qps=settings.tiktok_qps),
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
    inner: Any = LoggingCallLog()
    if registry is not None:
        inner = fan_out(inner, TikTokCallMetrics(registry))
    client = TikTokShopClient(config, tokens, transport=transport, call_log=RunCallLog(inner))
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


def from_request(request: Request) -> TikTok:
    """The app's client (a FastAPI dependency); 503 if the app was built without it."""
    tiktok: TikTok | None = request.app.state.runtime.extras.get(EXTRA)
    if tiktok is None:
        raise Unavailable("the TikTok client is not running", code="tiktok_not_configured")
    return tiktok


def _tiktok_text(exc: TikTokError) -> str:
    """TikTok's code, message and request id (the library's messages carry no credentials)."""
    return str(exc)


def translate(
    exc: TikTokError,
    connection_id: str,
    *,
    what: str,
    category_id: str | None = None,
    tiktok: TikTok | None = None,
) -> AppError:
    """The HTTP answer for a failed TikTok call (`what`: the operation, for the message).

    - the broker cannot lease (revoked, expired, pending, unknown connection): 409;
    - TikTok ended the seller's authorization or refuses the leased token: 409 (the seller
      must authorize again; the cached lease is dropped so a new token is asked for next time);
    - a category TikTok does not know: 404; a parent category where a leaf is needed: 400;
    - TikTok or the broker unavailable, rate limited, or the answer lost: 503, retry later;
    - anything else TikTok refused: 502 with TikTok's code and message.
    """
    if isinstance(exc, ConnectionUnavailableError):
        return Conflict(
            f"{exc.message}; the seller must authorize the connection again",
            code="connection_unavailable",
        )
    if isinstance(exc, TokenLeaseError):
        if exc.http_status == 404:
            return Conflict(
                f"the auth-broker has no connection {connection_id}: connect the feed to an "
                "existing connection",
                code="connection_unknown",
            )
        if exc.retriable:
            return Unavailable(
                f"the auth-broker did not lease a token: {exc.message}; retry later",
                code="auth_broker_unavailable",
            )
        return AppError(
            f"the auth-broker refused the token lease: {exc.message} "
            "(check TTS_SERVICE_CREDENTIAL and TTS_AUTH_BROKER_URL)",
            code="auth_broker_refused",
            status_code=502,
        )
    if isinstance(exc, AuthorizationExpiredError | TokenInvalidError):
        if tiktok is not None:
            tiktok.tokens.invalidate(connection_id)
        return Conflict(
            f"TikTok refused connection {connection_id}'s authorization ({_tiktok_text(exc)}); "
            "the seller must authorize the connection again",
            code="connection_refused_by_tiktok",
        )
    if isinstance(exc, ValidationError) and category_id is not None:
        if exc.code == CATEGORY_NOT_FOUND:
            return NotFound(
                f"TikTok has no category {category_id} in this market", code="category_not_found"
            )
        if exc.code == CATEGORY_NOT_LEAF:
            return BadRequest(
                f"category {category_id} is not a leaf: TikTok lists products in leaf "
                "categories only (GET .../taxonomies/categories?leaf=true)",
                code="category_not_leaf",
            )
    if exc.retriable:
        return Unavailable(
            f"TikTok Shop did not answer {what} ({_tiktok_text(exc)}); retry later",
            code="tiktok_unavailable",
        )
    if isinstance(exc, ScopeError):
        return AppError(
            f"TikTok refused {what}: the seller's authorization lacks its scope "
            f"({_tiktok_text(exc)}); the seller must authorize again once it is enabled",
            code="tiktok_scope_missing",
            status_code=502,
        )
    if isinstance(exc, CredentialsError):
        return AppError(
            f"TikTok refused this app's credentials for {what} ({_tiktok_text(exc)}); check "
            "TTS_TIKTOK_APP_KEY, TTS_TIKTOK_APP_SECRET and the clock",
            code="tiktok_credentials_refused",
            status_code=502,
        )
    return AppError(
        f"TikTok Shop refused {what}: {_tiktok_text(exc)}", code="tiktok_error", status_code=502
    )

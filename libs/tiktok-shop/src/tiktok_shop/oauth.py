"""OAuth: authorize links and token get/refresh ("Authorization overview", docs/auth-broker.md).

Token calls are UNSIGNED GETs without a token header on the auth host (the same host for
every market). Neither is ever retried after the request may have reached TikTok: auth
codes are single-use and refresh tokens rotate, so a blind repeat can burn the grant.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pydantic

from .calllog import CallLogHook
from .config import ClientConfig
from .errors import ServerError
from .models.auth import TokenGrant
from .models.common import invalid_fields
from .sender import RequestSender
from .tokens import AccessToken
from .transport import Transport

# "US" uses the US authorize host; any other market (e.g. "UK") the global one.
Market = str

TOKEN_GET_PATH = "/api/v2/token/get"
TOKEN_REFRESH_PATH = "/api/v2/token/refresh"


def authorize_url(config: ClientConfig, market: Market, state: str) -> str:
    """Seller-facing authorize link: US shops use the US host, every other market the global one.

    There is no redirect_uri parameter: the redirect is fixed in Partner Center.
    """
    if not config.service_id:
        raise ValueError("service_id is required to build an authorize URL")
    base = config.us_authorize_base_url if market == "US" else config.global_authorize_base_url
    query = urlencode({"service_id": config.service_id, "state": state})
    return f"{base.rstrip('/')}/open/authorize?{query}"


class OAuthClient:
    def __init__(
        self,
        config: ClientConfig,
        transport: Transport,
        *,
        call_log: CallLogHook | None = None,
    ) -> None:
        self._config = config
        self._transport = transport
        self._sender = RequestSender(config, transport, call_log)

    async def get_token(self, auth_code: str) -> TokenGrant:
        """Exchange the callback's `code` (single use, valid 30 min)."""
        return await self._token_call(
            "getAccessToken",
            TOKEN_GET_PATH,
            {"auth_code": auth_code, "grant_type": "authorized_code"},
        )

    async def refresh_token(self, refresh_token: str) -> TokenGrant:
        """Refresh; TikTok returns a NEW refresh token: persist it before using the access token."""
        return await self._token_call(
            "refreshAccessToken",
            TOKEN_REFRESH_PATH,
            {"refresh_token": refresh_token, "grant_type": "refresh_token"},
        )

    async def _token_call(self, operation: str, path: str, extra: dict[str, str]) -> TokenGrant:
        params = {
            "app_key": self._config.app_key,
            "app_secret": self._config.app_secret.get_secret_value(),
            **extra,
        }
        request = self._transport.http.build_request(
            "GET", self._config.auth_base_url.rstrip("/") + path, params=params
        )
        data = await self._sender.send(operation, request, False, 1, params)
        try:
            return TokenGrant.model_validate(data)
        except pydantic.ValidationError as exc:
            # The pydantic error keeps the raw input (the tokens) in `.errors()`: raise a
            # typed error naming only the fields, and drop the original (`from None`).
            # Not retriable: TikTok has consumed the code / rotated the refresh token.
            raise ServerError(
                f"{operation}: malformed token grant ({invalid_fields(exc)})",
                retriable=False,
            ) from None


def access_token_from_grant(grant: TokenGrant, shop_ciphers: dict[str, str]) -> AccessToken:
    """An `AccessToken` for the client from a grant plus the authorized shops' ciphers."""
    return AccessToken(
        access_token=grant.access_token,
        expires_at=grant.access_token_expire_in,
        shop_ciphers=dict(shop_ciphers),
    )

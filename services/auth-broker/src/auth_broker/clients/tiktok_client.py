"""`TikTokAuthPort` over the `tiktok_shop` client library (the only way the broker calls TikTok).

Translates the library's errors into `TikTokAuthError` at this boundary. A refresh whose
answer was lost (`OutcomeUnknownError`) counts as retriable: TikTok may not have rotated
the token, and if it did, the next attempt is refused and the refused-refresh path decides.
"""

from __future__ import annotations

import uuid

from tiktok_shop import (
    AccessToken,
    ClientConfig,
    NetworkError,
    OutcomeUnknownError,
    TikTokError,
    TikTokShopClient,
    authorize_url,
)
from tiktok_shop.models.auth import TokenGrant as LibGrant

from auth_broker.config import Settings
from auth_broker.tiktok import AuthorizedShop, TikTokAuthError, TokenGrant


class _OneShotTokens:
    """TokenProvider for calls made with a token the broker just obtained (no refresh path)."""

    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}

    def put(self, token: str) -> str:
        key = uuid.uuid4().hex
        self._tokens[key] = AccessToken(access_token=token)
        return key

    def drop(self, key: str) -> None:
        self._tokens.pop(key, None)

    async def get(self, key: str) -> AccessToken:
        return self._tokens[key]

    async def refresh_after_expired(self, key: str, expired: AccessToken) -> AccessToken:
        raise TikTokAuthError("TikTok says a token it has just issued has expired")


def config_from_settings(settings: Settings) -> ClientConfig:
    return ClientConfig(
        app_key=settings.tiktok_app_key,
        app_secret=settings.tiktok_app_secret,
        service_id=settings.tiktok_service_id,
        open_api_base_url=settings.tiktok_open_api_url,
        auth_base_url=settings.tiktok_auth_url,
        us_authorize_base_url=settings.tiktok_us_authorize_url,
        global_authorize_base_url=settings.tiktok_global_authorize_url,
    )


def _translate(exc: TikTokError) -> TikTokAuthError:
    retriable = exc.retriable or isinstance(exc, OutcomeUnknownError | NetworkError)
    # The library's messages never carry credentials; keep TikTok's code and text.
    return TikTokAuthError(exc.message, code=exc.code, retriable=retriable)


class LibraryTikTokAuth:
    """The production adapter: one `TikTokShopClient` for the process."""

    def __init__(self, config: ClientConfig) -> None:
        self._config = config
        self._tokens = _OneShotTokens()
        self._client = TikTokShopClient(config, self._tokens)

    def authorize_url(self, market: str, state: str) -> str:
        return authorize_url(self._config, market, state)

    async def exchange_code(self, auth_code: str) -> TokenGrant:
        try:
            grant = await self._client.oauth.get_token(auth_code)
        except TikTokError as exc:
            raise _translate(exc) from None
        return _grant(grant)

    async def refresh(self, refresh_token: str) -> TokenGrant:
        try:
            grant = await self._client.oauth.refresh_token(refresh_token)
        except TikTokError as exc:
            raise _translate(exc) from None
        return _grant(grant)

    async def authorized_shops(self, access_token: str) -> list[AuthorizedShop]:
        key = self._tokens.put(access_token)
        try:
            result = await self._client.shop(key).authorization.get_authorized_shops()
        except TikTokError as exc:
            raise _translate(exc) from None
        finally:
            self._tokens.drop(key)
        return [
            AuthorizedShop(
                id=str(s.id),
                name=s.name or str(s.id),
                region=s.region or "",
                cipher=s.cipher,
                seller_type=s.seller_type,
                code=s.code,
            )
            for s in result.shops
        ]

    async def subscribe_webhook(
        self, access_token: str, shop: AuthorizedShop, event_type: str, address: str
    ) -> None:
        key = self._tokens.put(access_token)
        try:
            api = self._client.shop(key, shop.id, shop_cipher=shop.cipher)
            await api.events.update_webhook(event_type, address)
        except TikTokError as exc:
            raise _translate(exc) from None
        finally:
            self._tokens.drop(key)

    async def aclose(self) -> None:
        await self._client.aclose()


def _grant(g: LibGrant) -> TokenGrant:
    return TokenGrant(
        access_token=g.access_token,
        access_token_expire_in=g.access_token_expire_in,
        refresh_token=g.refresh_token,
        refresh_token_expire_in=g.refresh_token_expire_in,
        open_id=g.open_id or "",
        seller_name=g.seller_name or "",
        seller_base_region=g.seller_base_region or "",
        granted_scopes=tuple(g.granted_scopes),
    )

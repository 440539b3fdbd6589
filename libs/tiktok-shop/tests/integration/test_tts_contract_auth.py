"""Contract: OAuth, authorized shops and the credential error paths
("Authorization overview", "Sign your API request", "Common errors")."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr
from tiktok_sandbox.testing import RunningSandbox
from tiktok_shop import (
    AccessToken,
    ClientConfig,
    CredentialsError,
    NotFoundError,
    ShopCipherError,
    SignatureError,
    StaticTokenProvider,
    TikTokShopClient,
    TimestampError,
    TokenExpiredError,
    TokenInvalidError,
    authorize_url,
)
from tiktok_shop.core import ShopRef
from tiktok_shop.errors import TikTokError
from tiktok_shop.operations import GET_AUTHORIZED_SHOPS, GET_WAREHOUSE_LIST, Operation
from tts_client_contract import Connected, connect, make_config


def test_authorize_url_uses_us_host_for_us_and_global_host_otherwise() -> None:
    cfg = ClientConfig(app_key="k", app_secret=SecretStr("s"), service_id="SVC")
    us = urlsplit(authorize_url(cfg, "US", "st 1"))
    uk = urlsplit(authorize_url(cfg, "UK", "st2"))
    assert (us.scheme, us.netloc, us.path) == (
        "https",
        "services.us.tiktokshop.com",
        "/open/authorize",
    )
    assert uk.netloc == "services.tiktokshop.com"
    assert parse_qs(us.query) == {"service_id": ["SVC"], "state": ["st 1"]}
    assert "redirect_uri" not in us.query and "app_key" not in us.query


async def test_authorize_page_of_sandbox_accepts_our_link(sandbox: RunningSandbox) -> None:
    cfg = make_config(sandbox)
    url = authorize_url(cfg, "US", "xyz")
    assert sandbox.http.get(url).status_code == 200


async def test_token_get_shops_and_refresh_rotation(us: Connected) -> None:
    key = "conn-US"
    shops = await us.shop.authorization.get_authorized_shops()
    [shop] = shops.shops
    assert (shop.id, shop.region, shop.seller_type) == (us.shop_id, "US", "LOCAL")
    assert shop.cipher
    old_refresh = us.tokens.refresh_tokens[key]
    grant = await us.client.oauth.refresh_token(old_refresh)
    assert grant.refresh_token != old_refresh
    assert grant.access_token_expire_in > time.time() + 6 * 24 * 3600  # absolute, ~7 days
    assert "seller.product.write" in grant.granted_scopes
    # Rotation: the old refresh token stopped working.
    with pytest.raises(TikTokError):
        await us.client.oauth.refresh_token(old_refresh)


async def test_auth_code_is_single_use(sandbox: RunningSandbox) -> None:
    conn = await connect(sandbox, "UK")
    code = sandbox.admin("POST", "/sandbox/v1/authorizations", {"region": "UK"})["data"]["code"]
    await conn.client.oauth.get_token(code)
    with pytest.raises(TikTokError) as info:
        await conn.client.oauth.get_token(code)
    assert info.value.code not in (None, 0)
    await conn.client.aclose()


async def test_token_call_log_never_holds_secrets(us: Connected) -> None:
    grant_calls = [r for r in us.log.records if r.operation == "getAccessToken"]
    assert grant_calls and grant_calls[0].code == 0
    dumped = repr([r.as_dict() for r in us.log.records])
    token = (await us.tokens.get("conn-US")).access_token
    for secret in (us.sandbox.settings.app_secret, token, us.tokens.refresh_tokens["conn-US"]):
        assert secret not in dumped


async def test_bad_sign_is_signature_error(us: Connected) -> None:
    bad = make_config(us.sandbox, app_secret=SecretStr("not-the-secret"))
    async with TikTokShopClient(bad, us.tokens) as client:
        with pytest.raises(SignatureError) as info:
            await client.shop("conn-US").authorization.get_authorized_shops()
    assert (info.value.code, info.value.http_status) == (106001, 401)
    assert info.value.request_id


async def test_bad_app_key_is_credentials_error(us: Connected) -> None:
    bad = make_config(us.sandbox, app_key="nope")
    async with TikTokShopClient(bad, us.tokens) as client:
        with pytest.raises(CredentialsError) as info:
            await client.shop("conn-US").authorization.get_authorized_shops()
    assert info.value.code == 36009004


async def test_stale_timestamp_is_timestamp_error(us: Connected) -> None:
    async with TikTokShopClient(
        make_config(us.sandbox), us.tokens, clock=lambda: time.time() - 3600
    ) as client:
        with pytest.raises(TimestampError):
            await client.shop("conn-US").authorization.get_authorized_shops()


async def test_unknown_token_is_token_invalid(us: Connected) -> None:
    tokens = StaticTokenProvider({"k": AccessToken("TTP_not_a_token")})
    async with TikTokShopClient(make_config(us.sandbox), tokens) as client:
        with pytest.raises(TokenInvalidError):
            await client.shop("k").authorization.get_authorized_shops()


async def test_expired_token_is_refreshed_once_and_the_call_repeated(us: Connected) -> None:
    before = us.sandbox.admin("GET", "/sandbox/v1/stats")["data"]["token_refreshes"]
    # Eight days on the sandbox clock: the 7-day access token has expired.
    us.sandbox.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 8 * 24 * 3600})
    warehouses = await us.shop.logistics.get_warehouses()
    assert warehouses.warehouses
    after = us.sandbox.admin("GET", "/sandbox/v1/stats")["data"]["token_refreshes"]
    assert after - before == 1 and us.tokens.refresh_calls == 1
    codes = [(r.operation, r.code) for r in us.log.records if r.operation == "getWarehouseList"]
    assert codes == [("getWarehouseList", 105002), ("getWarehouseList", 0)]


async def test_missing_cipher_is_shop_cipher_error(us: Connected) -> None:
    # A token that knows no shop: the client cannot add a cipher and TikTok says 106013.
    token = await us.tokens.get("conn-US")
    tokens = StaticTokenProvider({"k": AccessToken(token.access_token)})
    async with TikTokShopClient(make_config(us.sandbox), tokens) as client:
        with pytest.raises(ShopCipherError) as info:
            await client.shop("k").logistics.get_warehouses()
    assert info.value.code == 106013


async def test_unexpected_cipher_is_shop_cipher_error(us: Connected) -> None:
    forced = Operation(GET_AUTHORIZED_SHOPS.name, "GET", GET_AUTHORIZED_SHOPS.path, cipher=True)
    with pytest.raises(ShopCipherError) as info:
        await us.client.caller.call(forced, ShopRef("conn-US", us.shop_id))
    assert info.value.code == 36009004


async def test_explicit_cipher_of_another_seller_is_refused(us: Connected, uk: Connected) -> None:
    uk_cipher = (await uk.tokens.get("conn-UK")).cipher_for(uk.shop_id)
    with pytest.raises(TikTokError) as info:
        await us.client.caller.call(GET_WAREHOUSE_LIST, ShopRef("conn-US", shop_cipher=uk_cipher))
    assert info.value.code == 36009004


async def test_unknown_path_is_not_found(us: Connected) -> None:
    bogus = Operation("bogus", "GET", "/product/202309/no_such_resource")
    with pytest.raises(NotFoundError) as info:
        await us.client.caller.call(bogus, ShopRef("conn-US", us.shop_id))
    assert (info.value.code, info.value.http_status) == (36009009, 404)


async def test_revoked_authorization_is_a_credentials_error(sandbox: RunningSandbox) -> None:
    conn = await connect(sandbox, "UK")
    try:
        sandbox.admin(
            "POST", "/sandbox/v1/faults", {"revoke_authorization": {"shop_id": conn.shop_id}}
        )
        with pytest.raises(CredentialsError) as info:
            await conn.shop.logistics.get_warehouses()
        # Not an expired token: refreshing cannot help, so none was attempted.
        assert not isinstance(info.value, TokenExpiredError) and conn.tokens.refresh_calls == 0
    finally:
        sandbox.admin("DELETE", "/sandbox/v1/faults")
        await conn.client.aclose()

"""Token get/refresh request shape ("Authorization overview"): unsigned GETs on the auth host."""

from __future__ import annotations

import httpx
import orjson
import pytest
from pydantic import SecretStr
from tiktok_shop import ClientConfig, MemoryCallLog, OutcomeUnknownError, Transport
from tiktok_shop.oauth import OAuthClient

CFG = ClientConfig(
    app_key="APPKEY",
    app_secret=SecretStr("APP-SECRET-value"),
    open_api_base_url="https://open.test",
    auth_base_url="https://auth.test",
)
GRANT = {
    "access_token": "ACCESS-value",
    "access_token_expire_in": 1_900_000_000,
    "refresh_token": "REFRESH-NEW-value",
    "refresh_token_expire_in": 4_800_000_000,
    "granted_scopes": ["seller.order.info"],
}


def client_for(handler: httpx.MockTransport, log: MemoryCallLog) -> OAuthClient:
    return OAuthClient(CFG, Transport(CFG, http=httpx.AsyncClient(transport=handler)), call_log=log)


@pytest.mark.parametrize(
    ("call", "arg", "path", "expected"),
    [
        (
            "get_token",
            "AUTH-CODE-value",
            "/api/v2/token/get",
            {"auth_code": "AUTH-CODE-value", "grant_type": "authorized_code"},
        ),
        (
            "refresh_token",
            "REFRESH-OLD-value",
            "/api/v2/token/refresh",
            {"refresh_token": "REFRESH-OLD-value", "grant_type": "refresh_token"},
        ),
    ],
)
async def test_token_calls_are_unsigned_gets_on_the_auth_host(
    call: str, arg: str, path: str, expected: dict[str, str]
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, content=orjson.dumps({"code": 0, "message": "success", "data": GRANT})
        )

    log = MemoryCallLog()
    grant = await getattr(client_for(httpx.MockTransport(handler), log), call)(arg)
    assert grant.refresh_token == "REFRESH-NEW-value"
    [req] = seen
    assert (req.method, req.url.host, req.url.path) == ("GET", "auth.test", path)
    assert dict(req.url.params) == {
        "app_key": "APPKEY",
        "app_secret": "APP-SECRET-value",
        **expected,
    }
    assert "x-tts-access-token" not in req.headers and req.content == b""
    # The query holds app_secret and the code / refresh token: the record must not.
    dumped = orjson.dumps([r.as_dict() for r in log.records])
    for secret in (b"APP-SECRET-value", arg.encode()):
        assert secret not in dumped


async def test_token_call_is_not_repeated_after_a_lost_answer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        raise httpx.ReadTimeout("lost", request=request)

    with pytest.raises(OutcomeUnknownError):
        await client_for(httpx.MockTransport(handler), MemoryCallLog()).refresh_token("R-value")
    assert len(seen) == 1  # a refresh token rotates: a blind repeat could burn it

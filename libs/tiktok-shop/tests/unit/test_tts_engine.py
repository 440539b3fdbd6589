"""The request engine against a scripted in-process TikTok (httpx.MockTransport).

The fake checks what a real server checks (sign over the exact bytes, token header,
cipher presence) so these tests fail if the client builds requests wrongly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr
from tiktok_shop import (
    AccessToken,
    ClientConfig,
    MemoryCallLog,
    NotFoundError,
    OutcomeUnknownError,
    ServerError,
    StaticTokenProvider,
    TikTokShopClient,
    TokenExpiredError,
    Transport,
)
from tiktok_shop.config import RetryConfig
from tiktok_shop.models.products import ImageRef, Price, ProductInput, SkuInput
from tiktok_shop.signing import sign_request

SECRET = "unit-secret-value"
TOKEN = "tok-OLD-value"
FRESH = "tok-NEW-value"
CFG = ClientConfig(
    app_key="k1",
    app_secret=SecretStr(SECRET),
    open_api_base_url="https://open.test",
    auth_base_url="https://auth.test",
    retry=RetryConfig(max_attempts=3, base_delay=0.0, max_delay=0.0),
    log_headers=True,
)

Handler = Callable[[httpx.Request], httpx.Response]


def envelope(
    data: Any = None, code: int = 0, message: str = "Success", status: int = 200
) -> httpx.Response:
    body = {"code": code, "message": message, "request_id": "RID", "data": data}
    return httpx.Response(status, content=orjson.dumps(body))


class FakeTikTok:
    def __init__(self, script: Callable[[httpx.Request, int], httpx.Response]) -> None:
        self.script = script
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = dict(request.url.params)
        is_multipart = request.headers.get("content-type", "").startswith("multipart/")
        body = request.content if request.method != "GET" and not is_multipart else None
        expected = sign_request(SECRET, request.url.path, params, body)
        if params.get("sign") != expected:
            return envelope(code=106001, message="Invalid credentials. sign", status=401)
        return self.script(request, len(self.requests))


async def refresher(key: str, expired: AccessToken) -> AccessToken:
    return AccessToken(FRESH, shop_ciphers=expired.shop_ciphers)


def make_client(
    fake: FakeTikTok, log: MemoryCallLog | None = None
) -> tuple[TikTokShopClient, StaticTokenProvider]:
    tokens = StaticTokenProvider(
        {"c1": AccessToken(TOKEN, shop_ciphers={"S1": "CIPHER1"})}, refresher=refresher
    )
    transport = Transport(CFG, http=httpx.AsyncClient(transport=httpx.MockTransport(fake)))

    async def no_sleep(_: float) -> None:
        return None

    client = TikTokShopClient(CFG, tokens, transport=transport, call_log=log, sleep=no_sleep)
    return client, tokens


PRODUCT = ProductInput(
    title="Mug",
    description="<p>Mug</p>",
    category_id="600001",
    main_images=[ImageRef(uri="img-1")],
    skus=[SkuInput(seller_sku="MUG-1", price=Price(amount="9.99", currency="USD"))],
)


async def test_get_is_signed_with_cipher_and_token_and_keeps_unknown_fields() -> None:
    fake = FakeTikTok(
        lambda r, n: envelope({"warehouses": [{"id": 7, "name": "W", "brand_new": "x"}]})
    )
    client, _ = make_client(fake)
    result = await client.shop("c1", "S1").logistics.get_warehouses()
    req = fake.requests[0]
    assert req.url.path == "/logistics/202309/warehouses"
    assert req.url.params["shop_cipher"] == "CIPHER1"
    assert req.url.params["app_key"] == "k1"
    assert req.headers["x-tts-access-token"] == TOKEN
    assert "access_token" not in req.url.params
    assert result.warehouses[0].id == "7"
    assert result.warehouses[0].model_extra == {"brand_new": "x"}


async def test_post_body_is_json_and_signed_exactly() -> None:
    fake = FakeTikTok(lambda r, n: envelope({"product_id": "P1", "skus": [{"id": "K1"}]}))
    client, _ = make_client(fake)
    result = await client.shop("c1", "S1").products.create_product(PRODUCT)
    req = fake.requests[0]
    assert req.headers["content-type"] == "application/json"
    sent = orjson.loads(req.content)
    assert sent["skus"][0]["price"] == {"amount": "9.99", "currency": "USD"}
    assert "brand_id" not in sent  # None fields are not sent
    assert result.product_id == "P1"


async def test_upload_is_multipart_unsigned_body_without_cipher() -> None:
    fake = FakeTikTok(lambda r, n: envelope({"uri": "tos-1", "use_case": "MAIN_IMAGE"}))
    client, _ = make_client(fake)
    img = await client.shop("c1", "S1").products.upload_image(b"\x89PNG....", filename="a.png")
    req = fake.requests[0]
    assert req.headers["content-type"].startswith("multipart/form-data")
    assert "shop_cipher" not in req.url.params
    assert b'name="use_case"' in req.content and b"MAIN_IMAGE" in req.content
    assert img.uri == "tos-1"


async def test_expired_token_refreshes_once_and_repeats() -> None:
    def script(r: httpx.Request, n: int) -> httpx.Response:
        if r.headers["x-tts-access-token"] == TOKEN:
            return envelope(code=105002, message="Expired credentials.", status=401)
        return envelope({"shops": []})

    fake = FakeTikTok(script)
    client, tokens = make_client(fake)
    await client.shop("c1").authorization.get_authorized_shops()
    assert [r.headers["x-tts-access-token"] for r in fake.requests] == [TOKEN, FRESH]
    assert tokens.refresh_calls == 1


async def test_expired_twice_gives_up_after_one_refresh() -> None:
    fake = FakeTikTok(lambda r, n: envelope(code=105002, message="Expired", status=401))
    client, tokens = make_client(fake)
    with pytest.raises(TokenExpiredError):
        await client.shop("c1").authorization.get_authorized_shops()
    assert len(fake.requests) == 2 and tokens.refresh_calls == 1


async def test_idempotent_read_retries_server_errors_to_the_cap() -> None:
    fake = FakeTikTok(lambda r, n: envelope(code=36009003, message="Internal error.", status=503))
    client, _ = make_client(fake)
    with pytest.raises(ServerError) as info:
        await client.shop("c1", "S1").products.get_product("P1")
    assert len(fake.requests) == 3
    assert info.value.retriable and info.value.request_id == "RID"


async def test_read_retry_then_success() -> None:
    fake = FakeTikTok(
        lambda r, n: (
            envelope(code=36009002, message="Too many", status=429)
            if n == 1
            else envelope({"id": "P1", "status": "ACTIVATE"})
        )
    )
    client, _ = make_client(fake)
    product = await client.shop("c1", "S1").products.get_product("P1")
    assert product.status == "ACTIVATE" and len(fake.requests) == 2
    assert client.limiter.current_qps("S1", "getProduct") < CFG.rate_limit.qps


async def test_create_is_not_retried_on_server_error() -> None:
    fake = FakeTikTok(lambda r, n: envelope(code=36009003, message="Internal", status=503))
    client, _ = make_client(fake)
    with pytest.raises(ServerError):
        await client.shop("c1", "S1").products.create_product(PRODUCT)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("exc", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError])
async def test_create_with_lost_response_is_outcome_unknown(
    exc: type[httpx.TransportError],
) -> None:
    def script(r: httpx.Request, n: int) -> httpx.Response:
        raise exc("lost", request=r)

    fake = FakeTikTok(script)
    client, _ = make_client(fake)
    with pytest.raises(OutcomeUnknownError) as info:
        await client.shop("c1", "S1").products.create_product(PRODUCT)
    assert len(fake.requests) == 1 and info.value.operation == "createProduct"


async def test_lost_response_on_a_read_is_retried() -> None:
    def script(r: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            raise httpx.ReadTimeout("slow", request=r)
        return envelope({"id": "P1"})

    fake = FakeTikTok(script)
    client, _ = make_client(fake)
    assert (await client.shop("c1", "S1").products.get_product("P1")).id == "P1"
    assert len(fake.requests) == 2


async def test_connect_failure_on_create_is_retried_because_nothing_was_sent() -> None:
    def script(r: httpx.Request, n: int) -> httpx.Response:
        if n == 1:
            raise httpx.ConnectError("refused", request=r)
        return envelope({"product_id": "P9"})

    fake = FakeTikTok(script)
    client, _ = make_client(fake)
    assert (await client.shop("c1", "S1").products.create_product(PRODUCT)).product_id == "P9"


async def test_gateway_page_on_ship_is_outcome_unknown() -> None:
    fake = FakeTikTok(lambda r, n: httpx.Response(502, content=b"<html>bad gateway</html>"))
    client, _ = make_client(fake)
    from tiktok_shop.models.fulfillment import SelfShipment, ShipPackageRequest

    with pytest.raises(OutcomeUnknownError):
        await client.shop("c1", "S1").fulfillment.ship_package(
            "PK1",
            ShipPackageRequest(
                self_shipment=SelfShipment(tracking_number="T", shipping_provider_id="P")
            ),
        )
    assert len(fake.requests) == 1


async def test_not_found_is_not_retried() -> None:
    fake = FakeTikTok(lambda r, n: envelope(code=12019150, message="Product does not exist"))
    client, _ = make_client(fake)
    with pytest.raises(NotFoundError):
        await client.shop("c1", "S1").products.get_product("nope")
    assert len(fake.requests) == 1


async def test_pagination_follows_page_tokens() -> None:
    pages = {
        None: {"brands": [{"id": "1"}, {"id": "2"}], "next_page_token": "a+b/c="},
        "a+b/c=": {"brands": [{"id": "3"}], "next_page_token": ""},
    }
    fake = FakeTikTok(lambda r, n: envelope(pages[r.url.params.get("page_token")]))
    client, _ = make_client(fake)
    ids = [b.id async for b in client.shop("c1", "S1").catalog.iter_brands(page_size=2)]
    assert ids == ["1", "2", "3"]
    # Sent percent-encoded on the wire, signed decoded (the fake verified the sign).
    assert b"page_token=a%2Bb%2Fc%3D" in fake.requests[1].url.query


async def test_call_log_has_one_redacted_record_per_attempt() -> None:
    log = MemoryCallLog()
    fake = FakeTikTok(
        lambda r, n: (
            envelope(code=105002, message="Expired", status=401)
            if n == 1
            else envelope({"shops": []})
        )
    )
    client, _ = make_client(fake, log)
    await client.shop("c1").authorization.get_authorized_shops()
    assert [(r.attempt, r.status, r.code) for r in log.records] == [(1, 401, 105002), (2, 200, 0)]
    assert log.records[0].request_id == "RID"
    dumped = orjson.dumps([r.as_dict() for r in log.records])
    for secret in (TOKEN, FRESH, SECRET, fake.requests[0].url.params["sign"]):
        assert secret.encode() not in dumped
    assert log.records[0].request_headers is not None


async def test_limiter_is_keyed_by_shop_however_the_shop_is_named() -> None:
    # shop("c1") (single-shop token), shop("c1", "S1") and shop("c1", shop_cipher=...) are
    # the same TikTok shop: they must share one (shop, operation) schedule, not one each.
    fake = FakeTikTok(
        lambda r, n: (
            envelope(code=36009002, message="Too many", status=429)
            if n == 1
            else envelope({"warehouses": []})
        )
    )
    client, _ = make_client(fake)
    await client.shop("c1").logistics.get_warehouses()
    slowed = client.limiter.current_qps("S1", "getWarehouseList")
    assert slowed < CFG.rate_limit.qps
    await client.shop("c1", shop_cipher="CIPHER1").logistics.get_warehouses()
    await client.shop("c1", "S1").logistics.get_warehouses()
    assert set(client.limiter._states) == {("S1", "getWarehouseList")}


async def test_unreadable_answer_to_a_create_is_outcome_unknown_not_a_pydantic_crash() -> None:
    # code 0: the product exists, but the SKU ids cannot be read. The caller must reconcile
    # (search by seller SKU), which OutcomeUnknownError tells it; a raw pydantic error would not.
    fake = FakeTikTok(lambda r, n: envelope({"product_id": "P1", "skus": [{"seller_sku": "S"}]}))
    client, _ = make_client(fake)
    with pytest.raises(OutcomeUnknownError) as info:
        await client.shop("c1", "S1").products.create_product(PRODUCT)
    assert info.value.operation == "createProduct" and "skus.0.id" in info.value.message
    assert info.value.__cause__ is None and len(fake.requests) == 1


async def test_unreadable_answer_to_a_read_is_a_non_retriable_server_error() -> None:
    fake = FakeTikTok(lambda r, n: envelope({"status": "ACTIVATE"}))
    client, _ = make_client(fake)
    with pytest.raises(ServerError) as info:
        await client.shop("c1", "S1").products.get_product("P1")
    assert not info.value.retriable and "getProduct" in info.value.message
    assert len(fake.requests) == 1

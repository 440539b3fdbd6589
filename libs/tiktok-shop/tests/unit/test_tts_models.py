"""Response models: secrets and buyer data never reach an error message
(token grants of "Authorization overview", buyer data of "Get Order Detail 202309")."""

from __future__ import annotations

import httpx
import orjson
import pydantic
import pytest
from pydantic import SecretStr
from tiktok_shop import ClientConfig, ServerError, TikTokError, Transport
from tiktok_shop.models.auth import TokenGrant
from tiktok_shop.models.orders import Order
from tiktok_shop.oauth import OAuthClient

ACCESS = "TTP_access_SECRET_value_0123456789"
REFRESH = "TTP_refresh_SECRET_value_0123456789"


def test_model_errors_do_not_echo_the_input() -> None:
    # A grant whose expiry is garbled: the message must name the field, not the tokens.
    with pytest.raises(pydantic.ValidationError) as info:
        TokenGrant.model_validate(
            {"access_token": ACCESS, "refresh_token": REFRESH, "access_token_expire_in": "x"}
        )
    text = str(info.value)
    assert "access_token_expire_in" in text and "refresh_token_expire_in" in text
    assert "TTP_" not in text and "SECRET" not in text


def test_order_errors_do_not_echo_buyer_data() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        Order.model_validate(
            {
                "id": "1",
                "status": "AWAITING_SHIPMENT",
                "recipient_address": {"phone_number": 15550100},
            }
        )
    assert "recipient_address.phone_number" in str(info.value)
    assert "15550100" not in str(info.value)


async def test_malformed_token_grant_is_a_typed_error_without_secrets() -> None:
    body = {
        "code": 0,
        "message": "success",
        "request_id": "RID",
        "data": {"access_token": ACCESS, "refresh_token": REFRESH},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=orjson.dumps(body))

    cfg = ClientConfig(app_key="k", app_secret=SecretStr("s"), auth_base_url="https://auth.test")
    transport = Transport(cfg, http=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    async with transport:
        with pytest.raises(TikTokError) as info:
            await OAuthClient(cfg, transport).get_token("CODE")
    err = info.value
    assert isinstance(err, ServerError) and not err.retriable
    assert "access_token_expire_in" in err.message
    # Nothing that holds the grant may travel with the error (message, cause, context).
    assert err.__cause__ is None and err.__suppress_context__
    assert ACCESS not in str(err) and REFRESH not in repr(err.args)


def test_null_for_a_defaulted_field_reads_as_absent() -> None:
    # Backends that marshal empty slices as `null` must not break a successful answer.
    from tiktok_shop.models.catalog import Category
    from tiktok_shop.models.common import BatchResult
    from tiktok_shop.models.products import ProductWriteResult

    result = ProductWriteResult.model_validate({"product_id": 7, "skus": None, "warnings": None})
    assert (result.product_id, result.skus, result.warnings) == ("7", [], [])
    assert BatchResult.model_validate({"errors": None}).ok
    category = Category.model_validate({"id": "1", "is_leaf": None, "permission_statuses": None})
    assert (category.is_leaf, category.permission_statuses) == (False, [])
    # A required field stays required: null there is a malformed answer.
    with pytest.raises(pydantic.ValidationError):
        Order.model_validate({"id": "1", "status": None})


def test_official_misspellings_and_the_net_spelling_are_read() -> None:
    from tiktok_shop.models.catalog import Attribute, Brand

    official = Attribute.model_validate({"id": 100392, "is_requried": True})
    net = Attribute.model_validate({"id": "100392", "is_required": True})
    neither = Attribute.model_validate({"id": "100392", "is_requried": False})
    assert (official.id, official.required, net.required, neither.required) == (
        "100392",
        True,
        True,
        False,
    )
    brand = Brand.model_validate({"id": 7082427311584347905, "authorized_status": "UNAUTHORIEZD"})
    assert (brand.id, brand.authorized, brand.authorized_status) == (
        "7082427311584347905",
        False,
        "UNAUTHORIEZD",
    )


def test_money_stays_a_decimal_string() -> None:
    from tiktok_shop.models.common import Price

    assert Price(amount="1.10", currency="USD").to_body() == {"amount": "1.10", "currency": "USD"}
    with pytest.raises(pydantic.ValidationError):
        Price.model_validate({"amount": 1.1, "currency": "USD"})  # a float would lose "1.10"

"""Envelope codes -> typed exceptions ("Common errors" and "Create Product 202309" codes)."""

from __future__ import annotations

import pytest
from tiktok_shop.errors import (
    AuthorizationExpiredError,
    CredentialsError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
    ScopeError,
    ServerError,
    ShopCipherError,
    SignatureError,
    TikTokError,
    TimestampError,
    TokenExpiredError,
    TokenInvalidError,
    ValidationError,
    error_from_response,
)


@pytest.mark.parametrize(
    ("status", "code", "message", "cls", "retriable"),
    [
        (
            401,
            106001,
            "Invalid credentials. The `sign` query parameter is invalid.",
            SignatureError,
            False,
        ),
        (
            401,
            105002,
            "Expired credentials. The `access_token` or `x-tts-access-token` header has expired.",
            TokenExpiredError,
            False,
        ),
        (200, 105001, "Authorization expired", AuthorizationExpiredError, False),
        (
            200,
            105005,
            "Access denied. scopes do not contain the required access scope.",
            ScopeError,
            False,
        ),
        (
            200,
            106013,
            "Missing identifier. The `shop_cipher` query parameter is required to identify the target shop.",
            ShopCipherError,
            False,
        ),
        (429, 36009002, "Too many requests.", RateLimitedError, True),
        (503, 36009003, "Internal error. Please try again.", ServerError, True),
        (
            400,
            36009004,
            "Invalid credentials. Invalid `app_key` query parameter.",
            CredentialsError,
            False,
        ),
        (
            400,
            36009004,
            "Missing credentials. The request does not include a required signature in the query.",
            SignatureError,
            False,
        ),
        (400, 36009004, "Invalid timestamp. The request is too old.", TimestampError, False),
        (
            401,
            36009004,
            "Invalid credentials. The `x-tts-access-token` header is invalid.",
            TokenInvalidError,
            False,
        ),
        (
            200,
            36009004,
            "Unexpected identifier. The `shop_cipher` query parameter is not required for this request.",
            ShopCipherError,
            False,
        ),
        (200, 36009004, "param body.address is missing", InvalidRequestError, False),
        (404, 36009009, "Invalid path.", NotFoundError, False),
        (
            200,
            36009033,
            "Access denied. Your IP address is not in the IP allow list.",
            CredentialsError,
            False,
        ),
        (200, 12019150, "Product does not exist", NotFoundError, False),
        (
            200,
            21008106,
            "This interface cannot be used in this region or this business type. "
            "Please don't use the api.",
            InvalidRequestError,
            False,
        ),
        (200, 12052048, "Product does not belong to the shop", NotFoundError, False),
        (200, 12052990, "batch failed", ValidationError, False),
        (200, 12052024, "Category is not final category", ValidationError, False),
        (200, 12052104, "property is required", ValidationError, False),
    ],
)
def test_documented_codes_map_to_types(
    status: int, code: int, message: str, cls: type[TikTokError], retriable: bool
) -> None:
    err = error_from_response(status, code, message, "REQ1")
    assert type(err) is cls
    assert err.retriable is retriable
    assert (err.code, err.message, err.request_id, err.http_status) == (
        code,
        message,
        "REQ1",
        status,
    )


def test_specific_types_are_catchable_by_family() -> None:
    assert isinstance(error_from_response(401, 105002, "x", None), CredentialsError)
    assert isinstance(error_from_response(200, 106013, "x", None), InvalidRequestError)
    assert isinstance(error_from_response(200, 12052024, "x", None), InvalidRequestError)


def test_unknown_codes_of_the_105_family_are_credential_errors() -> None:
    # 105xxx are the access-token/authorization family (105001, 105002, 105005; PHP SDK
    # groups them as token errors): an undocumented one is not a bad request.
    err = error_from_response(200, 105999, "Access token or authorization problem", None)
    assert type(err) is CredentialsError and not err.retriable


def test_unknown_code_falls_back_on_http_status() -> None:
    assert type(error_from_response(502, 99999999, "bad gateway", None)) is ServerError
    assert type(error_from_response(429, None, "slow down", None)) is RateLimitedError
    assert type(error_from_response(200, 99999999, "weird", None)) is InvalidRequestError


def test_validation_error_carries_per_item_details() -> None:
    data = {
        "errors": [
            {"code": 12052104, "message": "Occasion is required", "detail": {"product_id": 17}},
            {"code": 12052054, "message": "seller sku too long", "detail": {"sku_id": "9"}},
        ]
    }
    err = error_from_response(200, 12052990, "batch failed", "R", data)
    assert isinstance(err, ValidationError)
    assert [(e.code, e.item_id) for e in err.errors] == [(12052104, "17"), (12052054, "9")]


def test_validation_error_without_details_has_one_item() -> None:
    err = error_from_response(200, 12052051, "name too long", None)
    assert isinstance(err, ValidationError)
    assert [(e.code, e.message) for e in err.errors] == [(12052051, "name too long")]


def test_str_has_code_and_request_id() -> None:
    text = str(error_from_response(200, 12052024, "Category is not final category", "RID9"))
    assert "12052024" in text and "RID9" in text

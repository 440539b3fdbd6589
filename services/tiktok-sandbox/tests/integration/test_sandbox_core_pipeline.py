"""The request check pipeline over real HTTP: every documented error, in order."""

from __future__ import annotations

import time

import httpx
import pytest
from tiktok_sandbox import signing
from tiktok_sandbox.ratelimit import RateLimiter
from tiktok_sandbox.testing import RunningSandbox, SignedClient, run_sandbox

BRANDS = "/product/202309/brands"
SHOPS = "/authorization/202309/shops"


def _raw(sb: RunningSandbox, path: str, params: dict[str, str], token: str = "") -> httpx.Response:
    headers = {"x-tts-access-token": token} if token else {}
    return sb.http.get(path, params=params, headers=headers)


def _signed(sb: RunningSandbox, path: str, **params: str) -> dict[str, str]:
    query = {"app_key": sb.settings.app_key, "timestamp": str(int(time.time())), **params}
    query["sign"] = signing.sign(sb.settings.app_secret, path, query)
    return query


def _assert_error(resp: httpx.Response, status: int, code: int, message_start: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"code", "message", "request_id", "data"}
    assert body["code"] == code and body["data"] is None and body["request_id"]
    assert body["message"].startswith(message_start), body["message"]


def test_success_envelope(us: SignedClient) -> None:
    resp = us.request("GET", BRANDS, params={"page_size": 1})
    assert resp.status_code == 200
    body = resp.json()
    assert body["code"] == 0 and body["message"] == "Success"
    assert len(body["request_id"]) == 34 and body["request_id"].isalnum()


def test_unknown_path_is_404_36009009(us: SignedClient) -> None:
    _assert_error(us.request("GET", "/product/202309/nothing"), 404, 36009009, "Invalid path")
    # A known path with the wrong method is no API either.
    _assert_error(us.request("PATCH", BRANDS), 404, 36009009, "Invalid path")


def test_bad_app_key_is_400(sb: RunningSandbox, us: SignedClient) -> None:
    params = _signed(sb, SHOPS)
    params["app_key"] = "wrong"
    _assert_error(
        _raw(sb, SHOPS, params, us.access_token),
        400,
        36009004,
        "Invalid credentials. Invalid `app_key`",
    )
    del params["app_key"]
    _assert_error(
        _raw(sb, SHOPS, params, us.access_token),
        400,
        36009004,
        "Invalid credentials. Invalid `app_key`",
    )


@pytest.mark.parametrize("offset", [-301, +31])
def test_timestamp_window(us: SignedClient, offset: int) -> None:
    resp = us.request("GET", SHOPS, cipher=False, timestamp=int(time.time()) + offset)
    _assert_error(resp, 400, 36009004, "Invalid timestamp")


def test_timestamp_inside_the_window_passes(us: SignedClient) -> None:
    for offset in (-280, +20):
        resp = us.request("GET", SHOPS, cipher=False, timestamp=int(time.time()) + offset)
        assert resp.json()["code"] == 0


def test_missing_sign(sb: RunningSandbox, us: SignedClient) -> None:
    params = {"app_key": sb.settings.app_key, "timestamp": str(int(time.time()))}
    _assert_error(_raw(sb, SHOPS, params, us.access_token), 401, 36009004, "Missing credentials")


def test_invalid_sign_is_401_106001(us: SignedClient) -> None:
    resp = us.request("GET", SHOPS, cipher=False, sign_override="0" * 64)
    _assert_error(resp, 401, 106001, "Invalid credentials. The `sign` query parameter is invalid.")


def test_body_is_part_of_the_signature(sb: RunningSandbox, us: SignedClient) -> None:
    path = "/product/202309/categories/recommend"
    query = {
        "app_key": sb.settings.app_key,
        "timestamp": str(int(time.time())),
        "shop_cipher": us.cipher or "",
    }
    signed_body = b'{"product_title":"sofa","category_version":"v2"}'
    query["sign"] = signing.sign(sb.settings.app_secret, path, query, signed_body)
    headers = {"x-tts-access-token": us.access_token, "content-type": "application/json"}
    sent = b'{"product_title":"sofa", "category_version":"v2"}'  # same JSON, other bytes
    resp = sb.http.post(path, params=query, content=sent, headers=headers)
    _assert_error(resp, 401, 106001, "Invalid credentials")
    ok = sb.http.post(path, params=query, content=signed_body, headers=headers)
    assert ok.json()["code"] == 0


def test_invalid_or_missing_token(sb: RunningSandbox) -> None:
    params = _signed(sb, SHOPS)
    _assert_error(
        _raw(sb, SHOPS, params, "TTP_nope"),
        401,
        36009004,
        "Invalid credentials. The `x-tts-access-token`",
    )
    _assert_error(
        _raw(sb, SHOPS, params), 401, 36009004, "Invalid credentials. The `x-tts-access-token`"
    )


def test_legacy_access_token_query_param_still_works(sb: RunningSandbox, us: SignedClient) -> None:
    params = _signed(sb, SHOPS)
    params["access_token"] = us.access_token  # not signed, per the algorithm
    assert _raw(sb, SHOPS, params).json()["code"] == 0


def test_cipher_required_and_forbidden(sb: RunningSandbox, us: SignedClient) -> None:
    _assert_error(us.request("GET", BRANDS, cipher=False), 400, 106013, "Missing identifier")
    _assert_error(us.request("GET", SHOPS), 400, 36009004, "Unexpected identifier")
    uk_cipher = sb.state.shops[sb.shop_id("UK")]["cipher"]
    foreign = us.request("GET", BRANDS, cipher=False, params={"shop_cipher": uk_cipher})
    _assert_error(foreign, 400, 36009004, "Invalid identifier")


def test_checks_run_in_the_documented_order(sb: RunningSandbox, us: SignedClient) -> None:
    old = str(int(time.time()) - 3600)
    # bad app_key wins over bad timestamp, bad sign and bad token
    r = _raw(sb, BRANDS, {"app_key": "x", "timestamp": old, "sign": "bad"}, "bad")
    assert r.json()["code"] == 36009004 and "app_key" in r.json()["message"]
    # bad timestamp wins over bad sign
    r = _raw(sb, BRANDS, {"app_key": sb.settings.app_key, "timestamp": old, "sign": "bad"}, "bad")
    assert r.json()["message"].startswith("Invalid timestamp")
    # bad sign wins over bad token and missing cipher
    r = _raw(
        sb,
        BRANDS,
        {"app_key": sb.settings.app_key, "timestamp": str(int(time.time())), "sign": "bad"},
        "bad",
    )
    assert r.json()["code"] == 106001
    # bad token wins over missing cipher
    r = _raw(sb, BRANDS, _signed(sb, BRANDS), "bad")
    assert r.json()["code"] == 36009004 and "x-tts-access-token" in r.json()["message"]
    # then the cipher
    r = _raw(sb, BRANDS, _signed(sb, BRANDS), us.access_token)
    assert r.json()["code"] == 106013


def test_page_token_is_signed_decoded(sb: RunningSandbox, us: SignedClient) -> None:
    first = us.call("GET", BRANDS, params={"page_size": 100})["data"]["next_page_token"]
    assert "+" in first or "/" in first
    # SignedClient signs the decoded value and httpx percent-encodes it on the wire.
    second = us.call("GET", BRANDS, params={"page_size": 100, "page_token": first})
    assert second["code"] == 0 and second["data"]["brands"]


def test_rate_limit_per_operation() -> None:
    with run_sandbox(qps=5) as sandbox:
        # The bucket's clock moves only when the test says so: the refill does not
        # depend on how fast the requests go.
        now = [0.0]
        sandbox.state.ratelimiter = RateLimiter(5, now=lambda: now[0])
        client = sandbox.client("UK")
        codes = [client.request("GET", BRANDS).status_code for _ in range(12)]
        assert codes == [200] * 5 + [429] * 7
        limited = client.request("GET", BRANDS)
        _assert_error(limited, 429, 36009002, "Too many requests")
        # Another operation has its own bucket.
        assert client.request("GET", "/product/202309/categories").status_code == 200
        now[0] += 0.2  # one token back at 5/s
        assert client.request("GET", BRANDS).status_code == 200
        assert client.request("GET", BRANDS).status_code == 429
        stats = sandbox.admin("GET", "/sandbox/v1/stats")["data"]
        assert stats["rate_limited"][f"GET {BRANDS}"] == 9
        assert stats["total_rate_limited"] == 9


def test_stats_count_calls_per_operation(sb: RunningSandbox, us: SignedClient) -> None:
    before = sb.admin("GET", "/sandbox/v1/stats")["data"]["calls"].get(f"GET {BRANDS}", 0)
    for _ in range(3):
        us.request("GET", BRANDS)
    after = sb.admin("GET", "/sandbox/v1/stats")["data"]["calls"][f"GET {BRANDS}"]
    assert after == before + 3

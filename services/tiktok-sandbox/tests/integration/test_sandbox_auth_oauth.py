"""OAuth over real HTTP: authorize page, code exchange, refresh rotation, authorized shops."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlparse

import pytest
from tiktok_sandbox.testing import RunningSandbox, run_sandbox


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    with run_sandbox(redirect_url="http://127.0.0.1:9/cb?x=1") as sandbox:
        yield sandbox


def _token_get(sb: RunningSandbox, code: str, **over: str) -> dict:
    params = {"auth_code": code, "grant_type": "authorized_code", **over}
    return sb.token_call("/api/v2/token/get", **params)


def _refresh(sb: RunningSandbox, refresh_token: str) -> dict:
    return sb.token_call(
        "/api/v2/token/refresh", refresh_token=refresh_token, grant_type="refresh_token"
    )


def _new_code(sb: RunningSandbox, region: str = "US") -> str:
    return sb.admin("POST", "/sandbox/v1/authorizations", {"region": region})["data"]["code"]


def test_authorize_page_approve_redirects_with_code_and_state(sb: RunningSandbox) -> None:
    page = sb.http.get(
        "/open/authorize", params={"service_id": sb.settings.service_id, "state": "s-123"}
    )
    assert page.status_code == 200
    assert 'id="approve-US"' in page.text and 'id="approve-UK"' in page.text
    approve = sb.http.get(
        "/open/authorize/approve",
        params={"service_id": sb.settings.service_id, "state": "s-123", "region": "UK"},
    )
    assert approve.status_code == 302
    target = urlparse(approve.headers["location"])
    assert (target.scheme, target.netloc, target.path) == ("http", "127.0.0.1:9", "/cb")
    query = parse_qs(target.query)
    assert query["state"] == ["s-123"] and query["x"] == ["1"]
    token = _token_get(sb, query["code"][0])
    assert token["code"] == 0
    assert token["data"]["seller_base_region"] == "GB"


def test_authorize_page_rejects_unknown_service_id(sb: RunningSandbox) -> None:
    resp = sb.http.get("/open/authorize", params={"service_id": "nope", "state": "s"})
    assert resp.status_code == 400
    assert resp.json()["code"] == 36009004


def test_token_get_returns_documented_fields_with_absolute_expiry(sb: RunningSandbox) -> None:
    before = sb.state.clock.now_int()
    body = _token_get(sb, _new_code(sb))
    assert body["code"] == 0 and body["message"] == "Success" and body["request_id"]
    data = body["data"]
    assert set(data) >= {
        "access_token",
        "access_token_expire_in",
        "refresh_token",
        "refresh_token_expire_in",
        "open_id",
        "seller_name",
        "seller_base_region",
        "user_type",
        "granted_scopes",
    }
    ttl = sb.settings.access_token_ttl_seconds
    assert before + ttl <= data["access_token_expire_in"] <= sb.state.clock.now_int() + ttl
    assert data["refresh_token_expire_in"] > data["access_token_expire_in"]
    assert data["seller_base_region"] == "US" and data["user_type"] == 0
    assert "seller.product.write" in data["granted_scopes"]


def test_code_is_single_use(sb: RunningSandbox) -> None:
    code = _new_code(sb)
    assert _token_get(sb, code)["code"] == 0
    again = _token_get(sb, code)
    assert again["code"] == 36004005 and again["data"] is None


def test_code_expires_after_30_minutes_on_the_sandbox_clock(sb: RunningSandbox) -> None:
    code = _new_code(sb)
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 30 * 60 + 1})
    assert _token_get(sb, code)["code"] == 36004005


def test_token_get_checks_app_credentials_and_grant_type(sb: RunningSandbox) -> None:
    code = _new_code(sb)
    assert _token_get(sb, code, app_secret="wrong")["code"] == 36009004
    assert _token_get(sb, code, app_key="wrong")["code"] == 36009004
    assert _token_get(sb, code, grant_type="refresh_token")["code"] == 36009004
    # A rejected call does not consume the code.
    assert _token_get(sb, code)["code"] == 0


def test_refresh_rotates_and_the_old_refresh_token_stops_working(sb: RunningSandbox) -> None:
    first = _token_get(sb, _new_code(sb))["data"]
    second = _refresh(sb, first["refresh_token"])
    assert second["code"] == 0
    new = second["data"]
    assert new["refresh_token"] != first["refresh_token"]
    assert new["access_token"] != first["access_token"]
    assert _refresh(sb, first["refresh_token"])["code"] == 36004005
    # The new access token works against the Open API.
    client = sb.client("US", access_token=new["access_token"])
    assert client.call("GET", "/authorization/202309/shops", cipher=False)["code"] == 0
    assert _refresh(sb, new["refresh_token"])["code"] == 0


def test_refresh_counts_are_visible_in_stats(sb: RunningSandbox) -> None:
    data = _token_get(sb, _new_code(sb))["data"]
    before = sb.admin("GET", "/sandbox/v1/stats")["data"]["token_refreshes"]
    _refresh(sb, data["refresh_token"])
    after = sb.admin("GET", "/sandbox/v1/stats")["data"]
    assert after["token_refreshes"] == before + 1
    assert after["calls"]["GET /api/v2/token/refresh"] >= 1


def test_authorized_shops_per_seller(sb: RunningSandbox) -> None:
    us = sb.client("US").call("GET", "/authorization/202309/shops", cipher=False)
    uk = sb.client("UK").call("GET", "/authorization/202309/shops", cipher=False)
    (us_shop,) = us["data"]["shops"]
    (uk_shop,) = uk["data"]["shops"]
    assert us_shop["region"] == "US" and uk_shop["region"] == "GB"
    for shop in (us_shop, uk_shop):
        assert set(shop) == {"id", "name", "region", "seller_type", "cipher", "code"}
        assert shop["seller_type"] == "LOCAL" and isinstance(shop["id"], str)


def test_access_token_expires_with_the_clock() -> None:
    with run_sandbox(access_token_ttl_seconds=60) as sandbox:
        client = sandbox.client("US")
        assert client.call("GET", "/authorization/202309/shops", cipher=False)["code"] == 0
        sandbox.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 61})
        resp = client.request("GET", "/authorization/202309/shops", cipher=False)
        assert resp.status_code == 401
        assert resp.json()["code"] == 105002


def test_browserless_authorization_rejects_unknown_region(sb: RunningSandbox) -> None:
    body = sb.admin("POST", "/sandbox/v1/authorizations", {"region": "FR"})
    assert body["code"] == 36009004


def test_timestamps_are_unix_seconds(sb: RunningSandbox) -> None:
    data = _token_get(sb, _new_code(sb))["data"]
    # Absolute times in seconds, not milliseconds nor relative durations.
    assert 1_600_000_000 < data["access_token_expire_in"] < 10_000_000_000
    assert data["access_token_expire_in"] > time.time()


def test_legacy_authorize_link_with_app_key(sb: RunningSandbox) -> None:
    page = sb.http.get("/oauth/authorize", params={"app_key": sb.settings.app_key, "state": "x"})
    assert page.status_code == 200 and "approve-US" in page.text


def test_healthz(sb: RunningSandbox) -> None:
    assert sb.http.get("/healthz").json() == {"status": "ok"}

"""Core building blocks without HTTP: rate limiter, faults, settings, paging, OAuth store."""

from __future__ import annotations

import pytest
from tiktok_sandbox.errors import ApiError
from tiktok_sandbox.faults import Faults, parse_rule
from tiktok_sandbox.paging import decode_token, encode_token, page_size
from tiktok_sandbox.ratelimit import RateLimiter
from tiktok_sandbox.seed import US_SELLER_ID
from tiktok_sandbox.settings import Settings
from tiktok_sandbox.state import SandboxState


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_token_bucket_allows_a_burst_then_refills() -> None:
    clock = FakeTime()
    limiter = RateLimiter(qps=5, now=clock)
    assert [limiter.allow("app", "shop", "op") for _ in range(6)] == [True] * 5 + [False]
    assert limiter.allow("app", "shop", "other-op")  # separate bucket per operation
    assert limiter.allow("app", "other-shop", "op")  # and per shop
    clock.t += 0.2  # one token at 5/s
    assert limiter.allow("app", "shop", "op") and not limiter.allow("app", "shop", "op")
    clock.t += 100  # capacity caps the refill
    assert sum(limiter.allow("app", "shop", "op") for _ in range(10)) == 5


def test_rate_limiter_disabled_with_zero_qps() -> None:
    limiter = RateLimiter(qps=0)
    assert all(limiter.allow("a", "s", "o") for _ in range(1000))


def test_fault_rules_match_and_count_down() -> None:
    faults = Faults(seed=1)
    faults.add(parse_rule({"error_rate": 1, "operations": ["POST /product/*"], "remaining": 2}))
    assert faults.decide("GET /product/202309/brands", "s", is_write=False) is None
    first = faults.decide("POST /product/202309/products", "s", is_write=True)
    assert first is not None and first.action == "error"
    assert faults.decide("POST /product/202309/products", "s", is_write=True) is not None
    assert faults.decide("POST /product/202309/products", "s", is_write=True) is None
    faults.clear()
    assert faults.rules() == []


def test_drop_response_never_hits_reads() -> None:
    faults = Faults(seed=1)
    faults.add(parse_rule({"drop_response_rate": 1}))
    decision = faults.decide("GET /x", "s", is_write=False)
    assert decision is not None and decision.action is None
    write = faults.decide("POST /x", "s", is_write=True)
    assert write is not None and write.action == "drop_response"


def test_fault_rates_are_honoured_statistically() -> None:
    faults = Faults(seed=7)
    faults.add(parse_rule({"error_rate": 0.3, "reset_rate": 0.2}))
    actions = [faults.decide("GET /x", "s", False).action for _ in range(5000)]  # type: ignore[union-attr]
    assert 0.27 < actions.count("error") / 5000 < 0.33
    assert 0.17 < actions.count("reset") / 5000 < 0.23


@pytest.mark.parametrize("bad", [{"error_rate": 1.5}, {"latency_ms": -1}, {"remaining": "x"}])
def test_bad_fault_rules(bad: dict[str, object]) -> None:
    with pytest.raises(ApiError) as info:
        parse_rule(bad)
    assert info.value.code == 36009004


def test_settings_from_env() -> None:
    env = {
        "SANDBOX_APP_KEY": "k",
        "SANDBOX_QPS": "7.5",
        "SANDBOX_ACCESS_TOKEN_TTL_SECONDS": "60",
        "SANDBOX_WEBHOOK_RETRY_DELAYS_SECONDS": "0.1,0.2",
    }
    s = Settings.from_env(env, audit_delay_seconds=0)
    assert (s.app_key, s.qps, s.access_token_ttl_seconds) == ("k", 7.5, 60)
    assert s.webhook_retry_delays_seconds == (0.1, 0.2) and s.audit_delay_seconds == 0
    assert Settings.from_env({}).access_token_ttl_seconds == 7 * 24 * 3600
    with pytest.raises(ValueError, match="SANDBOX_QPS"):
        Settings.from_env({"SANDBOX_QPS": "fast"})
    assert "app_secret" not in repr(s)


def test_page_tokens_round_trip_and_reject_others() -> None:
    token = encode_token("brands", 40)
    assert token.startswith("+/") and decode_token("brands", token) == 40
    assert decode_token("brands", "") == 0
    for bad in ("nope", encode_token("products", 40), "+/8=", "!!!"):
        with pytest.raises(ApiError):
            decode_token("brands", bad)
    assert page_size(None) == 20 and page_size("100") == 100
    for bad_size in ("0", "101", "x"):
        with pytest.raises(ApiError):
            page_size(bad_size)


def test_auth_store_rotation_and_revocation() -> None:
    state = SandboxState(Settings())
    grant = state.auth.exchange_code(state.auth.issue_code(US_SELLER_ID))
    again = state.auth.refresh_grant(grant["refresh_token"])
    with pytest.raises(ApiError) as info:
        state.auth.refresh_grant(grant["refresh_token"])
    assert info.value.code == 36004005
    assert state.auth.lookup_access(grant["access_token"]) is not None
    state.auth.revoke_seller(US_SELLER_ID)
    assert state.auth.lookup_access(again["access_token"]) is None
    with pytest.raises(ApiError):
        state.auth.refresh_grant(again["refresh_token"])


def test_refresh_token_expiry_uses_the_sandbox_clock() -> None:
    state = SandboxState(Settings(refresh_token_ttl_seconds=100))
    grant = state.auth.exchange_code(state.auth.issue_code(US_SELLER_ID))
    state.clock.advance(101)
    with pytest.raises(ApiError) as info:
        state.auth.refresh_grant(grant["refresh_token"])
    assert info.value.code == 36004001


class RecordingWebhooks:
    """Stands in for the dispatcher (a collaborator here): records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, object]]] = []

    def emit(self, shop_id: str, event_type: str, data: dict[str, object]) -> None:
        self.sent.append((shop_id, event_type, data))


def test_upcoming_authorization_expiration_daily_in_the_last_30_days() -> None:
    state = SandboxState(Settings(refresh_token_ttl_seconds=40 * 86400))
    recorder = RecordingWebhooks()
    state.webhooks = recorder  # type: ignore[assignment]
    grant = state.auth.exchange_code(state.auth.issue_code(US_SELLER_ID))
    state.advance()
    assert recorder.sent == []  # 40 days left
    state.clock.advance(11 * 86400)
    state.advance()
    state.advance()  # same day: no second notice
    (notice,) = recorder.sent
    assert notice[1] == "UPCOMING_AUTHORIZATION_EXPIRATION"
    assert notice[2]["expiration_time"] == str(grant["refresh_token_expire_in"])
    state.clock.advance(86400)
    state.advance()
    assert len(recorder.sent) == 2
    state.clock.advance(30 * 86400)  # past the end: no more notices
    state.advance()
    assert len(recorder.sent) == 2


async def test_drop_fallback_without_a_uvicorn_transport() -> None:
    from tiktok_sandbox.faults import ConnectionFaultMiddleware, mark_drop

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        mark_drop(scope)  # as the pipeline does for a reset
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]

    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    with pytest.raises(ConnectionAbortedError):
        await ConnectionFaultMiddleware(app)({"type": "http"}, receive, send)
    # The app's own response was swallowed; only the truncated promise went out.
    assert sent == [
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]}
    ]

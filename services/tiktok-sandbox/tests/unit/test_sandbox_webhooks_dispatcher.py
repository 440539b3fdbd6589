"""WebhookDispatcher without a network: subscriptions, the bounded queue, emit never raising."""

from __future__ import annotations

import asyncio

import pytest
from tiktok_sandbox import webhooks
from tiktok_sandbox.errors import ApiError
from tiktok_sandbox.settings import Settings
from tiktok_sandbox.state import SandboxState

SHOP = "7495540735365777507"


@pytest.fixture
def dispatcher() -> webhooks.WebhookDispatcher:
    return webhooks.WebhookDispatcher(SandboxState(Settings()))


def test_emit_without_subscription_is_counted_not_queued(
    dispatcher: webhooks.WebhookDispatcher,
) -> None:
    dispatcher.emit(SHOP, "ORDER_STATUS_CHANGE", {"order_id": "1"})
    snap = dispatcher.snapshot()
    assert snap["emitted"] == 1 and snap["not_subscribed"] == 1 and snap["queued"] == 0


def test_queue_before_start_is_bounded(
    dispatcher: webhooks.WebhookDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "QUEUE_MAX", 3)
    dispatcher.subscribe(SHOP, "ORDER_STATUS_CHANGE", "http://127.0.0.1:9/hook")
    for i in range(5):
        dispatcher.emit(SHOP, "ORDER_STATUS_CHANGE", {"order_id": str(i)})
    snap = dispatcher.snapshot()
    assert snap["queued"] == 3 and snap["dropped_queue_full"] == 2
    dropped = [d for d in dispatcher.deliveries() if d["outcome"] == "dropped"]
    assert [d["payload"]["data"]["order_id"] for d in dropped] == ["3", "4"]
    assert all(d["payload"]["type"] == 1 for d in dropped)


def test_emit_never_raises(dispatcher: webhooks.WebhookDispatcher) -> None:
    dispatcher.subscribe(SHOP, "ORDER_STATUS_CHANGE", "http://127.0.0.1:9/hook")
    dispatcher.emit(SHOP, "ORDER_STATUS_CHANGE", {"not_json": object()})  # unserialisable
    dispatcher.emit(SHOP, "NOT_A_TYPE", {})  # no subscription for it: ignored
    assert dispatcher.snapshot()["queued"] == 0


def test_subscription_validation_and_replacement(dispatcher: webhooks.WebhookDispatcher) -> None:
    with pytest.raises(ApiError) as err:
        dispatcher.subscribe(SHOP, "ORDER_STATUS_CHANGE", "")
    assert (err.value.code, err.value.message) == (36009004, "param body.address is missing")
    dispatcher.subscribe(SHOP, "ORDER_STATUS_CHANGE", "https://a.example/1")
    dispatcher.subscribe(SHOP, "ORDER_STATUS_CHANGE", "https://a.example/2")
    assert [w["address"] for w in dispatcher.list(SHOP)] == ["https://a.example/2"]
    dispatcher.delete(SHOP, "ORDER_STATUS_CHANGE")
    dispatcher.delete(SHOP, "ORDER_STATUS_CHANGE")
    assert dispatcher.list(SHOP) == []


async def test_pending_deliveries_are_flushed_on_start(
    dispatcher: webhooks.WebhookDispatcher,
) -> None:
    # Port 9 (discard) is closed on the loopback: the attempt fails fast and is retried later.
    dispatcher.subscribe(SHOP, "ORDER_STATUS_CHANGE", "http://127.0.0.1:9/hook")
    dispatcher.emit(SHOP, "ORDER_STATUS_CHANGE", {"order_id": "1"})
    assert dispatcher.snapshot()["queued"] == 1
    await dispatcher.start()
    try:
        async with asyncio.timeout(30):  # a bound, not a speed requirement
            while True:
                if dispatcher.snapshot().get("failed_attempts"):
                    break
                await asyncio.sleep(0.01)
        snap = dispatcher.snapshot()
        assert snap["failed_attempts"] == 1 and snap["retries_scheduled"] == 1
        assert snap["retry_timers"] == 1  # the real schedule: next try in 120 s
    finally:
        await dispatcher.stop()
    assert dispatcher.snapshot()["retry_timers"] == 0

"""Webhooks over real HTTP: subscription API ("Update Shop Webhook 202309" & co)
and signed deliveries with retries ("TikTok Shop webhooks overview").

A tiny `http.server` receiver on 127.0.0.1 plays the app's webhook endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from tiktok_sandbox.seed import US_SHOP_ID
from tiktok_sandbox.testing import RunningSandbox, SignedClient, install_mug_catalog, run_sandbox

WEBHOOKS = "/event/202309/webhooks"
MUG_RED = "1729592969712207012"  # a US SKU of the stand-in catalogue


class Receiver:
    """Records every POST; answers with the queued statuses, then 200."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses = list(statuses or [])
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.cond:
                    receiver.received.append((dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    receiver.cond.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tiktok/webhook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[dict[str, str], bytes]]:
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            assert ok, f"expected {count} deliveries, got {len(self.received)}"
            return list(self.received)

    def payloads(self) -> list[dict[str, Any]]:
        with self.cond:
            return [orjson.loads(body) for _, body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    with run_sandbox(webhook_retry_delays_seconds=(0.1, 0.2, 0.3)) as sandbox:
        # The product store is another area's: a fixed catalogue keeps these tests focused.
        install_mug_catalog(sandbox)
        yield sandbox


def subscribe(client: SignedClient, event_type: str, address: str) -> dict[str, Any]:
    return client.call("PUT", WEBHOOKS, json={"event_type": event_type, "address": address})


def place(sb: RunningSandbox, **body: Any) -> dict[str, Any]:
    body.setdefault("region", "US")
    body.setdefault("line_items", [{"sku_id": MUG_RED}])
    resp = sb.admin("POST", "/sandbox/v1/orders", body)
    assert resp["code"] == 0, resp
    return resp["data"]


# ---- subscription API -----------------------------------------------------------------------


def test_subscribe_list_update_delete(sb: RunningSandbox, us: SignedClient) -> None:
    assert subscribe(us, "PACKAGE_UPDATE", "https://partner.example/a")["code"] == 0
    listed = us.call("GET", WEBHOOKS)["data"]
    hook = next(w for w in listed["webhooks"] if w["event_type"] == "PACKAGE_UPDATE")
    assert hook["address"] == "https://partner.example/a"
    assert listed["total_count"] == len(listed["webhooks"])
    created = hook["create_time"]
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 5})
    assert subscribe(us, "PACKAGE_UPDATE", "https://partner.example/b")["code"] == 0
    hook = next(
        w
        for w in us.call("GET", WEBHOOKS)["data"]["webhooks"]
        if w["event_type"] == "PACKAGE_UPDATE"
    )
    assert hook["address"].endswith("/b") and hook["create_time"] == created
    assert hook["update_time"] >= created + 5
    # Another shop does not see it.
    uk_hooks = sb.client("UK").call("GET", WEBHOOKS)["data"]["webhooks"]
    assert all(w["event_type"] != "PACKAGE_UPDATE" for w in uk_hooks)
    assert us.call("DELETE", WEBHOOKS, json={"event_type": "PACKAGE_UPDATE"})["code"] == 0
    assert all(
        w["event_type"] != "PACKAGE_UPDATE" for w in us.call("GET", WEBHOOKS)["data"]["webhooks"]
    )
    # Deleting again (nothing subscribed) still succeeds, as documented.
    assert us.call("DELETE", WEBHOOKS, json={"event_type": "PACKAGE_UPDATE"})["code"] == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"event_type": "ORDER_STATUS_CHANGE"}, "param body.address is missing"),
        ({"address": "https://x.example"}, "param body.event_type is missing"),
        (
            {"event_type": "ORDER_STATUS_CHANGE", "address": "https://x.example/" + "a" * 240},
            "param body.address is too long",
        ),
        (
            {"event_type": "NOT_AN_EVENT", "address": "https://x.example"},
            "param body.event_type is invalid",
        ),
        (
            {"event_type": "ORDER_STATUS_CHANGE", "address": "ftp://x.example"},
            "param body.address is invalid",
        ),
    ],
)
def test_subscribe_errors(us: SignedClient, body: dict[str, Any], message: str) -> None:
    resp = us.request("PUT", WEBHOOKS, json=body)
    assert resp.status_code == 200
    data = resp.json()
    assert data["code"] == 36009004 and data["message"].startswith(message) and data["data"] is None


def test_subscription_api_requires_the_shop_cipher(us: SignedClient) -> None:
    resp = us.call("GET", WEBHOOKS, cipher=False)
    assert resp["code"] == 106013


def test_address_of_exactly_255_chars_is_accepted(us: SignedClient) -> None:
    address = "https://x.example/" + "a" * (255 - len("https://x.example/"))
    assert len(address) == 255
    assert subscribe(us, "RETURN_STATUS_CHANGE", address)["code"] == 0


# ---- deliveries -----------------------------------------------------------------------------


def test_order_status_changes_are_delivered_signed(
    sb: RunningSandbox, us: SignedClient, receiver: Receiver
) -> None:
    assert subscribe(us, "ORDER_STATUS_CHANGE", receiver.url)["code"] == 0
    placed = place(sb)
    oid = placed["order"]["id"]
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 3600})
    shipment = {
        "tracking_number": "9400111899223100001",
        "shipping_provider_id": "7117858858072016686",
    }
    assert (
        us.call(
            "POST",
            f"/fulfillment/202309/packages/{placed['package_ids'][0]}/ship",
            json={"self_shipment": shipment},
        )["code"]
        == 0
    )
    for action in ("collect", "deliver", "complete"):
        sb.admin("POST", f"/sandbox/v1/orders/{oid}/{action}")
    expected = [
        "ON_HOLD",
        "AWAITING_SHIPMENT",
        "AWAITING_COLLECTION",
        "IN_TRANSIT",
        "DELIVERED",
        "COMPLETED",
    ]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        mine = [p for p in receiver.payloads() if p["data"]["order_id"] == oid]
        if len(mine) >= len(expected):
            break
        time.sleep(0.05)
    # Workers deliver concurrently, so compare in update order, not arrival order.
    mine.sort(key=lambda p: (p["data"]["update_time"], expected.index(p["data"]["order_status"])))
    assert [p["data"]["order_status"] for p in mine] == expected
    first = mine[0]
    assert first["type"] == 1 and first["shop_id"] == US_SHOP_ID
    assert isinstance(first["tts_notification_id"], str) and isinstance(first["timestamp"], int)
    assert (
        first["data"]["is_on_hold_order"] is True and mine[1]["data"]["is_on_hold_order"] is False
    )
    assert len({p["tts_notification_id"] for p in mine}) == len(mine)
    for headers, body in receiver.received:
        lowered = {k.lower(): v for k, v in headers.items()}
        assert lowered["content-type"] == "application/json"
        # Recomputed here from the documented formula, not with the sandbox's own helper.
        expected_sig = hmac.new(
            sb.settings.app_secret.encode(), sb.settings.app_key.encode() + body, hashlib.sha256
        ).hexdigest()
        assert lowered["authorization"] == expected_sig
        assert not lowered["authorization"].lower().startswith("bearer")


def test_failed_delivery_is_retried_with_the_same_id_and_signature(
    sb: RunningSandbox, us: SignedClient
) -> None:
    flaky = Receiver(statuses=[500, 503])
    try:
        subscribe(us, "ORDER_STATUS_CHANGE", flaky.url)
        oid = place(sb)["order"]["id"]
        got = flaky.wait_for(3)
        bodies = {body for _, body in got}
        signatures = {{k.lower(): v for k, v in h.items()}["authorization"] for h, _ in got}
        assert len(bodies) == 1 and len(signatures) == 1  # byte-identical re-sends
        assert orjson.loads(got[0][1])["data"]["order_id"] == oid
        nid = orjson.loads(got[0][1])["tts_notification_id"]
        # The receiver has answered the third attempt; the sandbox logs the outcome
        # once it has read that answer.
        deadline = time.monotonic() + 10
        while True:
            log = sb.admin("GET", "/sandbox/v1/webhooks/deliveries?limit=500")["data"]
            outcomes = [d["outcome"] for d in log["deliveries"] if d["tts_notification_id"] == nid]
            if "delivered" in outcomes or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert outcomes == ["retrying", "retrying", "delivered"]
        time.sleep(0.5)  # would-be extra attempts have time to show up
        assert len(flaky.received) == 3  # delivered on the third attempt: no more tries
        assert log["stats"]["retries_scheduled"] >= 2
    finally:
        flaky.close()


def test_delivery_gives_up_after_the_retry_schedule(sb: RunningSandbox, us: SignedClient) -> None:
    down = Receiver(statuses=[500] * 10)
    try:
        subscribe(us, "ORDER_STATUS_CHANGE", down.url)
        before = sb.admin("GET", "/sandbox/v1/webhooks/deliveries")["data"]["stats"].get(
            "gave_up", 0
        )
        place(sb)
        down.wait_for(4)  # first attempt + 3 retries
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            stats = sb.admin("GET", "/sandbox/v1/webhooks/deliveries")["data"]["stats"]
            if stats.get("gave_up", 0) > before:
                break
            time.sleep(0.05)
        assert stats["gave_up"] == before + 1
        time.sleep(0.5)
        assert len(down.received) == 4
    finally:
        down.close()


def test_unreachable_address_is_retried_then_given_up(sb: RunningSandbox, us: SignedClient) -> None:
    closed = Receiver()
    url = closed.url
    closed.close()  # nothing listens there any more: connection refused
    subscribe(us, "ORDER_STATUS_CHANGE", url)
    place(sb)
    deadline = time.monotonic() + 5
    attempts: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        log = sb.admin("GET", "/sandbox/v1/webhooks/deliveries?limit=500")["data"]["deliveries"]
        attempts = [d for d in log if d["address"] == url]
        if any(d["outcome"] == "gave_up" for d in attempts):
            break
        time.sleep(0.05)
    assert [d["outcome"] for d in attempts] == ["retrying"] * 3 + ["gave_up"]
    assert all(d["http_status"] is None and d["error"] for d in attempts)


def test_deauthorization_webhook_from_revoke(sb: RunningSandbox, receiver: Receiver) -> None:
    client = sb.client("UK")
    assert subscribe(client, "SELLER_DEAUTHORIZATION", receiver.url)["code"] == 0
    shop_id = sb.shop_id("UK")
    assert (
        sb.admin("POST", "/sandbox/v1/faults", {"revoke_authorization": {"shop_id": shop_id}})[
            "code"
        ]
        == 0
    )
    (_headers, body), *_ = receiver.wait_for(1)
    payload = orjson.loads(body)
    assert payload["type"] == 6 and payload["shop_id"] == shop_id and payload["data"]["message"]


def test_split_shipment_sends_package_update(
    sb: RunningSandbox, us: SignedClient, receiver: Receiver
) -> None:
    assert subscribe(us, "PACKAGE_UPDATE", receiver.url)["code"] == 0
    placed = place(sb, line_items=[{"sku_id": MUG_RED, "quantity": 2}])
    sb.admin("POST", "/sandbox/v1/clock", {"advance_seconds": 3600})
    oid = placed["order"]["id"]
    first_item = placed["order"]["line_items"][0]["id"]
    mark = {
        "tracking_number": "9400111899223100050",
        "shipping_provider_id": "7117858858072016686",
        "order_line_item_ids": [first_item],
    }
    resp = us.call("POST", f"/fulfillment/202309/orders/{oid}/packages", json=mark)
    assert resp["code"] == 0
    (_, body), *_ = receiver.wait_for(1)
    payload = orjson.loads(body)
    assert payload["type"] == 4 and payload["data"]["sc_type"] == "SPLIT"
    packages = {p["package_id"] for p in payload["data"]["package_list"]}
    assert packages == {placed["package_ids"][0], resp["data"]["package_id"]}
    assert all(p["order_id_list"] == [oid] for p in payload["data"]["package_list"])

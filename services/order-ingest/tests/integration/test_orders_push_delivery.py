"""The OMS push against a real HTTP receiver, real Kafka and PostgreSQL (order-ingest in
process): every order change delivered, zero duplicate effects also while the OMS answers
500 for a while, version order per order, dead letters after the retry budget and their
replay, the delivery API, and the push secret kept out of logs, errors and responses."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from order_ingest.app import NAME, create_app
from order_ingest.cli import MIGRATIONS
from order_ingest.config import Settings
from orders_push_testkit import (
    PUSH_GROUP,
    Receiver,
    add_import,
    fetch,
    order_event,
    publish,
    published_order,
    resend,
    running,
    start_at_the_end,
    wait_for,
)
from tts_common.migrate import migrate_async
from tts_common.testing.ready import until_ready

pytestmark = pytest.mark.integration

AUTH = {"Authorization": "Bearer dev-api-key"}
SECRET = "oms-push-secret-" + uuid.uuid4().hex
MAX_ATTEMPTS = 4


@dataclass
class Service:
    app: FastAPI
    http: httpx.AsyncClient
    database_url: str
    settings_bootstrap: str

    async def statuses(self) -> dict[str, int]:
        rows = await fetch(self.database_url, "SELECT status, count(*) FROM deliveries GROUP BY 1")
        return {status: count for status, count in rows}


def fast_settings(database_url: str, kafka_bootstrap: str, **override: Any) -> Settings:
    options: dict[str, Any] = {
        "push_poll_seconds": 0.05,
        "push_backoff_base_seconds": 0.05,
        "push_backoff_cap_seconds": 0.2,
        "push_max_attempts": MAX_ATTEMPTS,
        "push_timeout_seconds": 5,
        "push_lease_seconds": 10,
        "push_concurrency": 8,
        **override,
    }
    return Settings(database_url=database_url, kafka_bootstrap=kafka_bootstrap, **options)


@pytest.fixture
async def service(
    fresh_database: str, kafka_bootstrap: str, request: pytest.FixtureRequest
) -> AsyncIterator[Service]:
    """order-ingest in process; `indirect` parametrization overrides settings."""
    await migrate_async(fresh_database, MIGRATIONS, NAME)
    settings = fast_settings(fresh_database, kafka_bootstrap, **getattr(request, "param", {}))
    await start_at_the_end(kafka_bootstrap, settings.consumer_group_prefix + PUSH_GROUP)
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        await until_ready(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://orders", headers=AUTH, timeout=60
        ) as http:
            yield Service(app, http, fresh_database, kafka_bootstrap)


# A budget no delivery can spend while the OMS fails its first 60 requests.
@pytest.mark.parametrize("service", [{"push_max_attempts": 100}], indirect=True)
async def test_every_change_is_delivered_once_while_the_oms_answers_500_for_a_while(
    service: Service,
) -> None:
    connection = f"conn-{uuid.uuid4().hex[:8]}"
    with running(Receiver(SECRET, fail_first=60)) as oms:
        import_id = await add_import(
            service.database_url, connection, push_url=oms.url, push_secret=SECRET
        )
        # Another connection's import and an inactive one of this connection get nothing.
        other = await add_import(
            service.database_url, "conn-other", push_url=oms.url, push_secret=SECRET
        )
        await add_import(
            service.database_url, connection, push_url=oms.url, push_secret=SECRET, active=False
        )
        events = [order_event("order.received", connection, f"o{i}") for i in range(120)]
        events += [order_event("order.updated", connection, f"o{i}", 1) for i in range(0, 120, 3)]
        events += [order_event("order.cancelled", connection, f"o{i}", 2) for i in range(0, 30, 5)]
        # Two changes within one second of update_time (the hold ending by time alone): two
        # events, two deliveries.
        events += [
            order_event("order.updated", connection, f"o{i}", 2, ready=False, same_second=True)
            for i in range(1, 120, 30)
        ]
        expected = {(f"o{i}", "order.received") for i in range(120)}
        expected |= {(f"o{i}", "order.updated") for i in range(0, 120, 3)}
        expected |= {(f"o{i}", "order.cancelled") for i in range(0, 30, 5)}
        expected |= {(f"o{i}", "order.updated") for i in range(1, 120, 30)}  # not multiples of 3
        changes = len(expected)
        await publish(service.database_url, events)
        # The same changes announced again (a relay resending after a crash: same event ids).
        await resend(service.settings_bootstrap, events[:10])

        async def all_delivered() -> bool:
            return (await service.statuses()).get("delivered", 0) >= changes

        assert await wait_for(all_delivered, within=120), await service.statuses()
        assert await service.statuses() == {"delivered": changes}

        assert oms.bad_signatures == 0
        assert len(oms.requests) > changes  # the 500s were retried
        assert {(k[0], k[2]) for k in oms.effects} == expected
        assert all(count == 1 for count in oms.effects.values()), "a change applied twice"
        assert len(oms.effects) == len(oms.applied) == changes  # one key per change
        # Per order, versions arrive in order (received, then updated, then cancelled).
        assert oms.order_of_effects == published_order(events)
        bodies = list(oms.applied.values())
        assert {b["import_id"] for b in bodies} == {import_id} != {other}
        first = next(
            b for b in bodies if b["data"]["order_id"] == "o0" and b["type"] == "order.received"
        )
        assert first["data"]["order"]["recipient_address"]["name"] == "Jane Doe"
        assert first["id"] in oms.applied

        rows = await fetch(
            service.database_url,
            "SELECT max(attempts), count(*) FILTER (WHERE attempts > 1) FROM deliveries",
        )
        assert rows[0][0] > 1 and rows[0][1] > 0


async def test_a_dead_delivery_after_the_budget_is_visible_and_replayable(
    service: Service,
) -> None:
    connection = f"conn-{uuid.uuid4().hex[:8]}"
    with running(Receiver(SECRET, fail_orders={"dead-1", "dead-2"})) as oms:
        import_id = await add_import(
            service.database_url, connection, push_url=oms.url, push_secret=SECRET
        )
        events = [
            order_event("order.received", connection, "dead-1"),
            order_event("order.received", connection, "dead-2"),
            order_event("order.updated", connection, "dead-2", 1),
            order_event("order.received", connection, "fine"),
        ]
        await publish(service.database_url, events)

        async def settled() -> bool:
            s = await service.statuses()
            return s.get("dead", 0) == 3 and s.get("delivered", 0) == 1

        assert await wait_for(settled, within=90), await service.statuses()
        r = await service.http.get("/v1/deliveries", params={"status": "dead"})
        assert r.status_code == 200, r.text
        dead = r.json()["items"]
        assert {(d["order_id"], d["event_type"]) for d in dead} == {
            ("dead-1", "order.received"),
            ("dead-2", "order.received"),
            ("dead-2", "order.updated"),  # not held back forever by its dead predecessor
        }
        for d in dead:
            assert d["attempts"] == MAX_ATTEMPTS and d["last_status_code"] == 500
            assert d["next_attempt_at"] is None and d["import_id"] == import_id
        tries = {d["id"]: oms.requests_for(d["id"]) for d in dead}
        assert set(tries.values()) == {MAX_ATTEMPTS}

        # Per order: its deliveries and their states.
        r = await service.http.get("/v1/orders/dead-2/deliveries")
        assert [(d["event_type"], d["status"]) for d in r.json()["items"]] == [
            ("order.received", "dead"),
            ("order.updated", "dead"),
        ]
        fine = (await service.http.get("/v1/orders/fine/deliveries")).json()["items"]
        assert [d["status"] for d in fine] == ["delivered"]
        # Replaying a delivered one is refused; an unknown one is 404.
        r = await service.http.post(f"/v1/deliveries/{fine[0]['id']}:replay")
        assert r.status_code == 409, r.text
        r = await service.http.post(f"/v1/deliveries/{uuid.uuid4()}:replay")
        assert r.status_code == 404
        assert (await service.http.post("/v1/deliveries/not-a-uuid:replay")).status_code == 404

        # The OMS is fixed: replay one by id, the others by filter.
        oms.fail_orders.clear()
        one = next(d for d in dead if d["order_id"] == "dead-1")
        r = await service.http.post(f"/v1/deliveries/{one['id']}:replay")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "pending" and r.json()["attempts"] == 0
        r = await service.http.post("/v1/deliveries:replay", json={"order_id": "dead-2"})
        assert r.json() == {"replayed": 2}

        async def all_delivered() -> bool:
            return (await service.statuses()) == {"delivered": 4}

        assert await wait_for(all_delivered, within=60), await service.statuses()
        # Same key on the replay: the first attempts failed, so each change applied once now.
        assert set(oms.applied) >= set(tries)
        assert all(count == 1 for count in oms.effects.values())
        assert oms.requests_for(one["id"]) == MAX_ATTEMPTS + 1
        r = await service.http.post("/v1/deliveries:replay", json={})
        assert r.json() == {"replayed": 0}


async def test_the_delivery_api_pages_and_filters(service: Service) -> None:
    connection = f"conn-{uuid.uuid4().hex[:8]}"
    with running(Receiver(SECRET)) as oms:
        await add_import(service.database_url, connection, push_url=oms.url, push_secret=SECRET)
        await publish(
            service.database_url,
            [order_event("order.received", connection, f"p{i}") for i in range(25)],
        )

        async def delivered() -> bool:
            return (await service.statuses()).get("delivered", 0) == 25

        assert await wait_for(delivered, within=60), await service.statuses()
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 10, "status": "delivered"}
        if cursor:
            params["cursor"] = cursor
        page = (await service.http.get("/v1/deliveries", params=params)).json()
        seen += [d["order_id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"p{i}" for i in range(25)) and len(seen) == 25
    one = (await service.http.get("/v1/deliveries", params={"order_id": "p7"})).json()["items"]
    detail = (await service.http.get(f"/v1/deliveries/{one[0]['id']}")).json()
    assert detail["body"]["data"]["order_id"] == "p7" and detail["body"]["id"] == one[0]["id"]
    r = await service.http.get("/v1/deliveries", params={"cursor": "nonsense"})
    assert r.status_code == 400
    assert (await service.http.get("/v1/deliveries", params={"status": "lost"})).status_code == 422
    anonymous = await service.http.get("/v1/deliveries", headers={"Authorization": ""})
    assert anonymous.status_code == 401


async def test_the_push_secret_never_reaches_logs_errors_or_responses(
    service: Service, captured_logs: io.StringIO
) -> None:
    secret = "oms-echoed-secret-" + uuid.uuid4().hex
    connection = f"conn-{uuid.uuid4().hex[:8]}"
    # An OMS that echoes the secret in its 500 answers, until the budget is spent.
    with running(Receiver(secret, fail_orders={"s1"}, echo=f"your secret is {secret}")) as oms:
        await add_import(service.database_url, connection, push_url=oms.url, push_secret=secret)
        await publish(service.database_url, [order_event("order.received", connection, "s1")])

        async def dead() -> bool:
            return (await service.statuses()).get("dead", 0) == 1

        assert await wait_for(dead, within=60), await service.statuses()
        assert (
            oms.requests_for(
                (await fetch(service.database_url, "SELECT id::text FROM deliveries"))[0][0]
            )
            == MAX_ATTEMPTS
        )
    rows = await fetch(service.database_url, "SELECT last_error, body::text FROM deliveries")
    last_error, body = rows[0]
    assert "OMS unavailable" in last_error and secret not in last_error
    assert secret not in body
    answers = [
        (await service.http.get("/v1/deliveries")).text,
        (await service.http.get("/v1/orders/s1/deliveries")).text,
    ]
    delivery_id = (await service.http.get("/v1/deliveries")).json()["items"][0]["id"]
    answers.append((await service.http.get(f"/v1/deliveries/{delivery_id}")).text)
    answers.append((await service.http.post(f"/v1/deliveries/{delivery_id}:replay")).text)
    assert all(secret not in a for a in answers)
    logged = captured_logs.getvalue()
    assert "push attempt failed" in logged and "OMS unavailable" in logged
    assert secret not in logged


async def test_an_import_gets_the_orders_its_filters_select_and_their_later_changes(
    service: Service,
) -> None:
    connection = f"conn-{uuid.uuid4().hex[:8]}"
    recent = datetime.now(UTC) - timedelta(days=2)
    old = datetime.now(UTC) - timedelta(days=40)
    with running(Receiver(SECRET)) as oms:
        filtered = await add_import(
            service.database_url,
            connection,
            push_url=oms.url,
            push_secret=SECRET,
            statuses=("AWAITING_SHIPMENT",),
            created_within_days=30,
        )
        everything = await add_import(
            service.database_url, connection, push_url=oms.url, push_secret=SECRET
        )
        events = [
            order_event("order.received", connection, "f1", 0, status="UNPAID", created=recent),
            order_event("order.updated", connection, "f1", 1, created=recent),
            order_event("order.cancelled", connection, "f1", 2, created=recent),
            order_event("order.received", connection, "f2", 0, created=old),
            order_event("order.updated", connection, "f2", 1, status="IN_TRANSIT", created=old),
            order_event("order.received", connection, "f3", 0, created=recent),
            order_event("order.updated", connection, "f3", 1, status="IN_TRANSIT", created=recent),
        ]
        await publish(service.database_url, events)

        async def settled() -> bool:
            return (await service.statuses()).get("delivered", 0) == len(events) + 4

        assert await wait_for(settled, within=60), await service.statuses()
        got = {(b["import_id"], b["data"]["order_id"], b["type"]) for b in oms.applied.values()}
        assert {(o, t) for i, o, t in got if i == everything} == {
            (e.data["order_id"], e.type) for e in events
        }
        # The status set and the earliest creation select the first delivery; the order's
        # later changes (a cancellation, a status outside the set) follow it.
        assert {(o, t) for i, o, t in got if i == filtered} == {
            ("f1", "order.updated"),
            ("f1", "order.cancelled"),
            ("f3", "order.received"),
            ("f3", "order.updated"),
        }

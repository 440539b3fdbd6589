"""The OMS push against a real HTTP receiver, real Kafka and PostgreSQL (order-ingest in
process): every order change delivered, zero duplicate effects also while the OMS answers
500 for a while, version order per order, dead letters after the retry budget and their
replay, the delivery API, and the push secret kept out of logs, errors and responses."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

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

    async def statuses(self) -> dict[str, int]:
        rows = await fetch(self.database_url, "SELECT status, count(*) FROM deliveries GROUP BY 1")
        return {status: count for status, count in rows}


def fast_settings(database_url: str, kafka_bootstrap: str) -> Settings:
    return Settings(
        database_url=database_url,
        kafka_bootstrap=kafka_bootstrap,
        push_poll_seconds=0.05,
        push_backoff_base_seconds=0.05,
        push_backoff_cap_seconds=0.2,
        push_max_attempts=MAX_ATTEMPTS,
        push_timeout_seconds=5,
        push_lease_seconds=10,
        push_concurrency=8,
    )


@pytest.fixture
async def service(fresh_database: str, kafka_bootstrap: str) -> AsyncIterator[Service]:
    await migrate_async(fresh_database, MIGRATIONS, NAME)
    settings = fast_settings(fresh_database, kafka_bootstrap)
    await start_at_the_end(kafka_bootstrap, settings.consumer_group_prefix + PUSH_GROUP)
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        await until_ready(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://orders", headers=AUTH, timeout=60
        ) as http:
            yield Service(app, http, fresh_database)


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
        # The same change announced twice (a re-import publishing it again: another event id).
        events += [order_event("order.received", connection, f"o{i}") for i in range(10)]
        expected = {(f"o{i}", "order.received") for i in range(120)}
        expected |= {(f"o{i}", "order.updated") for i in range(0, 120, 3)}
        expected |= {(f"o{i}", "order.cancelled") for i in range(0, 30, 5)}
        await publish(service.database_url, events)

        async def all_delivered() -> bool:
            return (await service.statuses()).get("delivered", 0) >= len(expected)

        assert await wait_for(all_delivered, within=120), await service.statuses()
        assert await service.statuses() == {"delivered": len(expected)}

        assert oms.bad_signatures == 0
        assert len(oms.requests) > len(expected)  # the 500s were retried
        assert {(k[0], k[2]) for k in oms.effects} == expected
        assert all(count == 1 for count in oms.effects.values()), "a change applied twice"
        assert len(oms.applied) == len(expected)  # one key per change
        # Per order, versions arrive in order (received, then updated, then cancelled).
        for order_id, versions in oms.order_of_effects.items():
            assert versions == sorted(versions), (order_id, versions)
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

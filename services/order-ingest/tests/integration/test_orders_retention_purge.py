"""Personal-data retention on real PostgreSQL: orders created more than N days ago lose the
buyer's address, e-mail and message (orders and push delivery bodies), nothing else changes,
newer orders keep theirs; the app's worker runs it when TTS_PII_RETENTION_DAYS is set."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from order_ingest import retention
from order_ingest.app import NAME, create_app
from order_ingest.cli import MIGRATIONS
from order_ingest.config import Settings
from order_ingest.push import payload, store
from orders_push_testkit import fetch, wait_for
from sqlalchemy import text
from tts_common.db import create_engine, session_factory, session_scope
from tts_common.migrate import migrate_async

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PERSONAL = {
    "recipient_address": {"name": "Jane Doe", "phone_number": "(+1)213*****67"},
    "buyer_email": "v2buyer0sandbox@scs.tiktokw.us",
    "buyer_message": "ring twice",
}


async def _seed(database_url: str, ages_days: dict[str, float]) -> None:
    """One order per id, created ``age`` days before NOW, and one push delivery of it."""
    engine = create_engine(database_url)
    try:
        async with session_scope(session_factory(engine)) as session:
            for order_id, age in ages_days.items():
                created = NOW - timedelta(days=age)
                doc = {"id": order_id, "status": "COMPLETED", "line_items": [{"id": "1"}]}
                await session.execute(
                    text(
                        "INSERT INTO orders (id, connection_id, shop_id, status, create_time,"
                        " update_time, doc, personal) VALUES (:id, 'c', 's', 'COMPLETED', :ct,"
                        " :ut, CAST(:doc AS jsonb), CAST(:personal AS jsonb))"
                    ),
                    {
                        "id": order_id,
                        "ct": int(created.timestamp()),
                        "ut": int(created.timestamp()) + 60,
                        "doc": json.dumps(doc),
                        "personal": json.dumps(PERSONAL),
                    },
                )
                data = {
                    "order_id": order_id,
                    "order": {**doc, **PERSONAL, "create_time": int(created.timestamp())},
                }
                key = payload.delivery_key("i", f"e-{order_id}")
                body = payload.build_body(
                    key=key,
                    import_id=str(uuid.UUID(int=1)),
                    event_type="order.received",
                    event_id="e",
                    event_time=created,
                    data=data,
                )
                await store.queue(
                    session,
                    key=key,
                    import_id=str(uuid.UUID(int=1)),
                    connection_id="c",
                    order_id=order_id,
                    update_time=created,
                    event_type="order.received",
                    event_id="e",
                    body=payload.encode(body),
                    order_created_at=payload.order_created_at(data),
                )
    finally:
        await engine.dispose()


async def _orders(database_url: str) -> dict[str, Any]:
    rows = await fetch(
        database_url, "SELECT id, personal, personal_purged_at, doc, seq FROM orders"
    )
    return {r[0]: r for r in rows}


async def _bodies(database_url: str) -> dict[str, Any]:
    rows = await fetch(database_url, "SELECT order_id, body::text, pii_purged_at FROM deliveries")
    return {r[0]: (json.loads(r[1]), r[2]) for r in rows}


async def test_orders_older_than_the_retention_lose_their_personal_data_only(
    fresh_database: str,
) -> None:
    await migrate_async(fresh_database, MIGRATIONS, NAME)
    await _seed(fresh_database, {"old-1": 45, "old-2": 31, "new-1": 29, "new-2": 0.5})
    before = await _orders(fresh_database)
    engine = create_engine(fresh_database)
    try:
        done = await retention.purge(session_factory(engine), 30, now=NOW, batch=1)
        assert (done.orders, done.deliveries) == (2, 2)  # in batches of one: the loop ends
        after = await _orders(fresh_database)
        for order_id in ("old-1", "old-2"):
            assert after[order_id][1] is None and after[order_id][2] is not None
        for order_id in ("new-1", "new-2"):
            assert after[order_id][1] == PERSONAL and after[order_id][2] is None
        # The rest of the order and its place in the update sequence are unchanged.
        assert {k: (v[3], v[4]) for k, v in after.items()} == {
            k: (v[3], v[4]) for k, v in before.items()
        }

        bodies = await _bodies(fresh_database)
        for order_id in ("old-1", "old-2"):
            body, purged_at = bodies[order_id]
            order = body["data"]["order"]
            assert purged_at is not None
            assert not set(retention.PERSONAL_FIELDS) & set(order)
            assert order["line_items"] == [{"id": "1"}] and body["type"] == "order.received"
        for order_id in ("new-1", "new-2"):
            body, purged_at = bodies[order_id]
            assert purged_at is None and body["data"]["order"]["buyer_email"]
        dumped = json.dumps([bodies[o][0] for o in ("old-1", "old-2")])
        assert "Jane Doe" not in dumped and "scs.tiktokw.us" not in dumped

        # A second pass has nothing to do; an old order that got its address back (TikTok
        # sent it again) is erased again.
        again = await retention.purge(session_factory(engine), 30, now=NOW)
        assert (again.orders, again.deliveries) == (0, 0)
        async with session_scope(session_factory(engine)) as session:
            await session.execute(
                text("UPDATE orders SET personal = CAST(:p AS jsonb) WHERE id = 'old-1'"),
                {"p": json.dumps(PERSONAL)},
            )
        again = await retention.purge(session_factory(engine), 30, now=NOW)
        assert again.orders == 1
    finally:
        await engine.dispose()


async def test_the_app_purges_when_retention_is_set_and_not_otherwise(
    fresh_database: str, kafka_bootstrap: str
) -> None:
    await migrate_async(fresh_database, MIGRATIONS, NAME)
    now = datetime.now(UTC)
    await _seed(fresh_database, {"kept": 1})
    engine = create_engine(fresh_database)
    try:
        async with session_scope(session_factory(engine)) as session:
            await session.execute(
                text("UPDATE orders SET create_time = :t"),
                {"t": int((now - timedelta(days=400)).timestamp())},
            )
    finally:
        await engine.dispose()

    off = create_app(Settings(database_url=fresh_database, kafka_bootstrap=kafka_bootstrap))
    async with LifespanManager(off, startup_timeout=60, shutdown_timeout=60):
        pass  # started and stopped: no retention configured, nothing erased
    assert (await _orders(fresh_database))["kept"][1] == PERSONAL

    on = create_app(
        Settings(
            database_url=fresh_database,
            kafka_bootstrap=kafka_bootstrap,
            pii_retention_days=365,
            retention_interval_seconds=0.2,
        )
    )
    async with LifespanManager(on, startup_timeout=60, shutdown_timeout=60):

        async def purged() -> bool:
            return (await _orders(fresh_database))["kept"][1] is None

        assert await wait_for(purged, within=30)

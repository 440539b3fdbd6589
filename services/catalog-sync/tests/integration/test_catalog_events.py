"""`product-changed` events from an outside producer (a PIM), on real Kafka and PostgreSQL.

Valid events change the feed's source like the HTTP intake does, once even when delivered
twice; invalid ones go to `tiktok.product-changed.v1.dlq` with the reason in its headers.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import TopicPartition
from tts_common.events import PRODUCT_CHANGED, dlq_topic, encode, make_event
from tts_common.kafka import make_consumer, make_producer
from tts_common.settings import ServiceSettings
from tts_common.testing.infra import libpq_dsn

pytestmark = pytest.mark.integration


async def _rows(database_url: str, product_id: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(libpq_dsn(database_url))
    try:
        return list(
            await conn.fetch(
                "SELECT product_id, parent_id, data FROM source_products WHERE product_id = $1",
                product_id,
            )
        )
    finally:
        await conn.close()


async def _eventually(check, within: float = 60.0):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await check()
        if result or loop.time() > deadline:
            return result
        await asyncio.sleep(0.1)


async def test_pim_events_upsert_and_delete_and_bad_ones_are_dead_lettered(
    client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    feed = (await client.post("/v1/feeds", json={"name": "pim-fed", "market": "US"})).json()
    run = uuid.uuid4().hex[:8]
    sku = f"sku-{run}"
    key = f"{feed['id']}:p-{run}".encode()
    upserted = make_event(
        "product.upserted",
        "/pim",
        sku,
        {
            "feed_id": feed["id"],
            "product_id": sku,
            "parent_id": f"p-{run}",
            "attributes": {"product_name": "Linen shirt", "sku.price": 19.5, "tags": ["a", "b"]},
        },
    )
    unknown_feed = make_event(
        "product.upserted",
        "/pim",
        None,
        {"feed_id": str(uuid.uuid4()), "product_id": f"x-{run}", "parent_id": f"x-{run}"},
    )
    # A well-formed envelope whose data lacks product_id: fails the JSON Schema.
    invalid = upserted.model_copy(
        update={"id": str(uuid.uuid4()), "data": {"feed_id": feed["id"], "parent_id": "p"}}
    )

    dlq = dlq_topic(PRODUCT_CHANGED)
    group = ServiceSettings().consumer_group_prefix + "catalog-sync"
    watcher = make_consumer(kafka_bootstrap, f"dlq-watch-{run}")
    await watcher.start()
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    try:
        parts = [TopicPartition(dlq, p) for p in await producer.partitions_for(dlq)]
        watcher.assign(parts)
        for tp, offset in (await watcher.end_offsets(parts)).items():
            watcher.seek(tp, offset)  # only what this test dead-letters

        for event in (upserted, upserted, unknown_feed, invalid):  # the upsert twice
            await producer.send_and_wait(PRODUCT_CHANGED, encode(event), key=key)

        async def stored() -> list[asyncpg.Record]:
            return await _rows(client.database_url, sku)  # type: ignore[attr-defined]

        rows = await _eventually(stored)
        assert len(rows) == 1 and rows[0]["parent_id"] == f"p-{run}"
        data = (
            orjson.loads(rows[0]["data"]) if isinstance(rows[0]["data"], str) else rows[0]["data"]
        )
        assert data["sku.price"] == "19.5" and data["tags"] == "a#b"
        via_http = (await client.get(f"/v1/feeds/{feed['id']}/products/{sku}")).json()
        assert via_http["data"]["product_name"] == "Linen shirt"

        dead: dict[str, dict[str, str]] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while len(dead) < 2 and loop.time() < deadline:
            batch = await watcher.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    # Only this app's dead letters: another consumer group on this broker
                    # (another catalog-sync, with other feeds) may dead-letter the same events.
                    if record.key == key and headers.get("consumer.group") == group:
                        dead[orjson.loads(record.value)["id"]] = headers
        assert set(dead) == {unknown_feed.id, invalid.id}, dead
        assert dead[unknown_feed.id]["error.class"] == "NotFound"
        assert "product_id" in dead[invalid.id]["error.message"]
        assert dead[invalid.id]["original.topic"] == PRODUCT_CHANGED

        deleted = make_event(
            "product.deleted",
            "/pim",
            sku,
            {"feed_id": feed["id"], "product_id": sku, "parent_id": f"p-{run}"},
        )
        await producer.send_and_wait(PRODUCT_CHANGED, encode(deleted), key=key)

        async def gone() -> bool:
            return not await stored()

        assert await _eventually(gone)
    finally:
        await producer.stop()
        await watcher.stop()

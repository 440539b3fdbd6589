"""The shared fixtures hand out a Kafka and a PostgreSQL that really work."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = pytest.mark.integration


async def test_kafka_round_trips_one_record(kafka_bootstrap: str, unique_topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        sent = await producer.send_and_wait(unique_topic, b"payload-1", key=b"k1")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        unique_topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{unique_topic}.group",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()

    assert (record.key, record.value) == (b"k1", b"payload-1")
    assert (record.partition, record.offset) == (sent.partition, sent.offset)


async def test_fresh_database_is_a_new_empty_database(
    pg_server_url: str, fresh_database: str
) -> None:
    name = make_url(fresh_database).database
    assert name and name != make_url(pg_server_url).database

    engine = create_async_engine(fresh_database)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("select 1"))).scalar_one() == 1
            assert (await conn.execute(text("select current_database()"))).scalar_one() == name
            tables = await conn.execute(
                text("select count(*) from pg_tables where schemaname = 'public'")
            )
            assert tables.scalar_one() == 0
    finally:
        await engine.dispose()

"""Topic bootstrap on a real broker."""

from __future__ import annotations

import pytest
from tts_common.events import ALL_TOPICS, dlq_topic
from tts_common.kafka import ensure_topics, partition_count

pytestmark = pytest.mark.integration


async def test_ensure_topics_creates_six_partitions_and_dlq_twins(
    kafka_bootstrap: str, unique_topic: str
) -> None:
    created = await ensure_topics(kafka_bootstrap, [unique_topic])
    assert sorted(created) == sorted([unique_topic, dlq_topic(unique_topic)])
    assert await partition_count(kafka_bootstrap, unique_topic) == 6
    assert await partition_count(kafka_bootstrap, dlq_topic(unique_topic)) == 6
    # Idempotent: a second run creates nothing and does not fail.
    assert await ensure_topics(kafka_bootstrap, [unique_topic]) == []


async def test_default_bootstrap_covers_every_contract_topic(kafka_bootstrap: str) -> None:
    await ensure_topics(kafka_bootstrap)
    for topic in ALL_TOPICS:
        assert await partition_count(kafka_bootstrap, topic) >= 1, topic
        assert await partition_count(kafka_bootstrap, dlq_topic(topic)) >= 1, topic

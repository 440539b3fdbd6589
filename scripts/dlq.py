"""List and replay dead-lettered events (docs/operations.md, "DLQ records and replay").

    uv run --no-sync python scripts/dlq.py list tiktok.shipment-created.v1.dlq [--group G]
    uv run --no-sync python scripts/dlq.py replay tiktok.shipment-created.v1.dlq --group G \
        [--offsets 0-41] [--dry-run]

A consumer runner that gives up on a record (tts_common.consumer) writes it to `<topic>.dlq`
with its original key and value and the headers `error.class`, `error.message`,
`error.retriable`, `original.topic`, `original.partition`, `original.offset` and
`consumer.group`. `list` prints them; `replay` sends each selected record back to its original
topic with its own key, value and headers (the DLQ's are dropped). That is safe for every
consumer group of the topic: the inbox of each group holds the event ids it has applied, so a
group that handled the event before skips it as a duplicate, and only the group that failed
applies it now. Fix the cause first (a mapping, a deployment), or the record goes back to the
DLQ. Reads the DLQ without a consumer group (no offsets are committed), so `list` can be run
any number of times. Kafka: `--bootstrap` or TTS_KAFKA_BOOTSTRAP (127.0.0.1:9092).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

DLQ_HEADERS = frozenset(
    {
        "error.class",
        "error.message",
        "error.retriable",
        "original.topic",
        "original.partition",
        "original.offset",
        "consumer.group",
    }
)


@dataclass
class Dead:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    def header(self, name: str) -> str:
        for k, v in self.headers:
            if k == name:
                return v.decode(errors="replace")
        return ""

    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v) for k, v in self.headers if k not in DLQ_HEADERS]

    def summary(self) -> dict[str, object]:
        return {
            "dlq_partition": self.partition,
            "dlq_offset": self.offset,
            "key": self.key.decode(errors="replace") if self.key else None,
            "group": self.header("consumer.group"),
            "topic": self.header("original.topic"),
            "original": f"{self.header('original.partition')}@{self.header('original.offset')}",
            "error": self.header("error.class"),
            "message": self.header("error.message"),
            "retriable": self.header("error.retriable") == "true",
        }


async def read_all(bootstrap: str, topic: str) -> list[Dead]:
    """Every record of `topic` up to its current end, without a consumer group."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        # aiokafka's public calls only know the topics the consumer was started with.
        partitions = (await consumer._client.fetch_all_metadata()).partitions_for_topic(topic)
        if not partitions:
            raise SystemExit(f"dlq.py: no topic {topic} on {bootstrap}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: list[Dead] = []
        pending = {tp for tp in tps if end[tp] > 0}
        for tp in tps:
            if end[tp] > 0 and await consumer.position(tp) >= end[tp]:
                pending.discard(tp)
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batch.items():
                for r in records:
                    if r.offset < end[tp]:
                        out.append(Dead(r.partition, r.offset, r.key, r.value, list(r.headers)))
                if await consumer.position(tp) >= end[tp]:
                    pending.discard(tp)
        return sorted(out, key=lambda d: (d.partition, d.offset))
    finally:
        await consumer.stop()


def select(records: list[Dead], group: str | None, offsets: str | None) -> list[Dead]:
    low, high = 0, sys.maxsize
    if offsets:
        first, _, last = offsets.partition("-")
        low, high = int(first), int(last or first)
    return [
        d
        for d in records
        if (group is None or d.header("consumer.group") == group) and low <= d.offset <= high
    ]


async def replay(bootstrap: str, records: Sequence[Dead]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for d in records:
            topic = d.header("original.topic")
            if not topic:
                raise SystemExit(f"dlq.py: record {d.partition}@{d.offset} names no original.topic")
            await producer.send_and_wait(
                topic, d.value, key=d.key, headers=d.original_headers() or None
            )
        return len(records)
    finally:
        await producer.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dlq.py", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("list", "replay"))
    parser.add_argument("topic", help="the dead-letter topic, <topic>.dlq")
    parser.add_argument("--group", help="only records this consumer group dead-lettered")
    parser.add_argument("--offsets", help="only these DLQ offsets: N or FIRST-LAST")
    parser.add_argument("--dry-run", action="store_true", help="replay: list, send nothing")
    parser.add_argument(
        "--bootstrap", default=os.environ.get("TTS_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    )
    args = parser.parse_args(argv)
    if not args.topic.endswith(".dlq"):
        parser.error("the topic must be a dead-letter topic (<topic>.dlq)")
    if args.command == "replay" and args.group is None:
        parser.error("replay needs --group: the consumer group whose failures are replayed")
    chosen = select(asyncio.run(read_all(args.bootstrap, args.topic)), args.group, args.offsets)
    for d in chosen:
        print(json.dumps(d.summary()))
    if args.command == "list" or args.dry_run:
        print(f"{len(chosen)} record(s)", file=sys.stderr)
        return 0
    sent = asyncio.run(replay(args.bootstrap, chosen))
    print(f"replayed {sent} record(s) to their original topics", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

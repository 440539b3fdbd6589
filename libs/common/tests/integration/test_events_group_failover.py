"""Two consumer-group members in separate processes; one is SIGKILLed mid-stream.

The moment of the kill is arranged, not hoped for: the victim (``events_member.py
--stall-after``) works alone first, shares the group once the survivor joins, then
applies one more round and withholds its offset commit. It is killed there: that
round's records are in the database but not committed in Kafka, so the survivor
must replay them and the inbox must turn the replays into no-ops.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from events_testkit import LagProbe, create_schema, fetchval, produce, wait_for
from tts_common.events import CloudEvent, encode, make_event
from tts_common.kafka import ensure_topics

pytestmark = pytest.mark.integration

TOTAL = 3000
MEMBER = Path(__file__).with_name("events_member.py")


def _member(name: str, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, str(MEMBER), "--member", name, *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def _cancelled(seq: int) -> CloudEvent:
    event = make_event(
        "order.cancelled",
        "/test",
        f"o{seq}",
        {
            "connection_id": "c",
            "shop_id": "s",
            "order_id": f"o{seq}",
            "status": "CANCELLED",
            "update_time": "2026-11-27T00:00:00Z",
            "fulfillment_type": "FULFILLMENT_BY_SELLER",
        },
    )
    return event.model_copy(update={"data": {**event.data, "seq": seq}})


async def _count(url: str, where: str = "true") -> int:
    return await fetchval(url, f"SELECT count(*) FROM effects WHERE {where}")


async def test_killed_member_loses_nothing_and_duplicates_nothing(
    kafka_bootstrap: str, fresh_database: str, unique_topic: str, tmp_path: Path
) -> None:
    await create_schema(fresh_database)
    await ensure_topics(kafka_bootstrap, [unique_topic], partitions=6)
    await produce(
        kafka_bootstrap,
        unique_topic,
        ((encode(_cancelled(seq)), f"o{seq}".encode()) for seq in range(TOTAL)),
    )

    group = f"g-{uuid.uuid4().hex[:10]}"
    args = [
        "--database-url", fresh_database,
        "--bootstrap", kafka_bootstrap,
        "--group", group,
        "--topic", unique_topic,
        "--delay-ms", "4",
    ]  # fmt: skip
    stalled = tmp_path / "victim.stalled"
    victim_log, survivor_log = tmp_path / "victim.log", tmp_path / "survivor.log"
    stall = ["--stall-after", "150", "--stall-file", str(stalled)]
    victim = _member("victim", [*args, *stall], victim_log)
    survivor: subprocess.Popen[bytes] | None = None
    try:

        async def victim_working() -> bool:
            return await _count(fresh_database, "member = 'victim'") >= 100

        assert await wait_for(victim_working, within=60), victim_log.read_text()
        survivor = _member("survivor", args, survivor_log)

        async def both_working() -> bool:
            return stalled.exists() and await _count(fresh_database, "member = 'survivor'") >= 1

        assert await wait_for(both_working, within=60), victim_log.read_text()[-3000:]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        at_kill = await fetchval(fresh_database, "SELECT count(DISTINCT event_id) FROM effects")
        assert at_kill < TOTAL  # the victim stalls with most of its partitions left

        async def all_done() -> bool:
            return (
                await fetchval(fresh_database, "SELECT count(DISTINCT event_id) FROM effects")
                == TOTAL
                and await probe.lag() == 0
            )

        async with LagProbe(kafka_bootstrap, group, unique_topic) as probe:
            assert await wait_for(all_done, within=120, interval=0.5), survivor_log.read_text()[
                -3000:
            ]
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(30) == 0
    finally:
        for proc in (victim, survivor):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)

    # Nothing lost, nothing applied twice: the inbox absorbed the replays.
    assert await _count(fresh_database) == TOTAL
    assert await fetchval(fresh_database, "SELECT count(DISTINCT seq) FROM effects") == TOTAL
    assert await fetchval(fresh_database, "SELECT count(*) FROM inbox") == TOTAL
    assert await _count(fresh_database, "member = 'victim'") >= 100
    assert await _count(fresh_database, "member = 'survivor'") > 0
    # The victim's last round was applied but not committed: the survivor replayed it.
    found = re.search(r"stats processed=(\d+) duplicates=(\d+)", survivor_log.read_text())
    assert found is not None, survivor_log.read_text()[-3000:]
    assert int(found.group(2)) >= 1

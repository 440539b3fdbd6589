"""Consumer runner failure branches and rebalance hook, on fakes (pure control flow).

The database and Kafka are stood in for by small fakes, so that an outage can
be switched on and off between two poll rounds; the integration tests run the
same runner on the real ones.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaTimeoutError
from tts_common.consumer import ConsumerRunner, _Rebalance
from tts_common.events import CloudEvent, encode, make_event

TOPIC = "t"
TP0, TP1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)


class _Result:
    def __init__(self, ids: list[str]) -> None:
        self._ids = ids

    def scalars(self) -> list[str]:
        return self._ids


class _Session:
    async def __aenter__(self) -> _Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self, statement: Any, params: dict[str, Any]) -> _Result:
        return _Result(list(params["ids"]))  # every id is new

    async def commit(self) -> None:
        return None

    async def rollback(self) -> None:
        return None


class _Database:
    """A session factory whose database can be switched off (connection refused)."""

    def __init__(self) -> None:
        self.down = False
        self.connects = 0

    def __call__(self) -> _Session:
        self.connects += 1
        if self.down:
            raise ConnectionRefusedError(111, "Connect call failed")
        return _Session()


class _Consumer:
    def __init__(self) -> None:
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.commits: list[dict[TopicPartition, int]] = []

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    def assignment(self) -> set[TopicPartition]:
        return {TP0, TP1}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))


class _Dlq:
    def __init__(self, *, reachable: bool = True) -> None:
        self.reachable = reachable
        self.sent: list[bytes] = []

    async def send(self, topic: str, value: bytes, **kw: Any) -> asyncio.Future[None]:
        if not self.reachable:
            raise KafkaTimeoutError()
        self.sent.append(value)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _record(tp: TopicPartition, offset: int, value: bytes) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, None, value, None, 0, 0, [])


def _event(n: int) -> bytes:
    event: CloudEvent = make_event(
        "connection.revoked", "/test", f"c{n}", {"connection_id": f"c{n}", "market": "US"}
    )
    return encode(event)


def _runner(db: _Database, dlq: _Dlq, applied: list[str], **kw: Any) -> ConsumerRunner:
    async def handler(session: Any, event: CloudEvent, record: Any) -> None:
        applied.append(event.id)

    options: dict[str, Any] = {"max_retries": 1, "backoff_base": 0.0, "backoff_cap": 1.0}
    options.update(kw)
    runner = ConsumerRunner(
        "unused:9092",
        "g",
        [TOPIC],
        db,
        handler,
        dlq_producer=dlq,
        **options,  # type: ignore[arg-type]
    )
    runner._consumer = _Consumer()  # type: ignore[assignment]
    return runner


def _round() -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
    return {
        TP0: [_record(TP0, 5, _event(5)), _record(TP0, 6, _event(6))],
        TP1: [_record(TP1, 40, _event(40))],
    }


async def test_outage_rewinds_every_partition_and_dead_letters_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    db, dlq, applied = _Database(), _Dlq(), []
    runner = _runner(db, dlq, applied)
    db.down = True
    with caplog.at_level(logging.INFO, logger="tts_common.consumer"):
        await runner._round(_round())

    consumer: Any = runner._consumer
    # The first partition's first record tried 1 + max_retries times (batch first);
    # the other partition is not knocked on again, only rewound.
    assert consumer.seeks == [(TP0, 5), (TP1, 40)]
    assert db.connects == 1 + 2
    assert dlq.sent == [] and runner.stats.dead_lettered == 0 and applied == []
    assert runner._pending == {}  # nothing to commit
    outage = [r for r in caplog.records if "database unreachable" in r.getMessage()]
    assert len(outage) == 1 and outage[0].levelno == logging.WARNING
    assert "will re-read from offset 5" in outage[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert runner._pause == 1.0  # the first pause: backoff_cap


async def test_outage_backoff_grows_is_capped_and_resets_on_success(
    caplog: pytest.LogCaptureFixture,
) -> None:
    db, dlq, applied = _Database(), _Dlq(), []
    runner = _runner(db, dlq, applied, outage_backoff_cap=3.0)
    db.down = True
    pauses = []
    for _ in range(4):
        await runner._round(_round())
        pauses.append(runner._pause)
    assert pauses == [1.0, 2.0, 3.0, 3.0]

    db.down = False
    runner._pause = 0.0  # run() takes the pause before polling again
    with caplog.at_level(logging.INFO, logger="tts_common.consumer"):
        await runner._round(_round())
    assert len(applied) == 3 and runner._pause == 0.0
    assert runner._pending == {TP0: 7, TP1: 41}
    assert any("reachable again" in r.getMessage() for r in caplog.records)

    await runner._commit()  # as run() does after each round

    db.down = True
    await runner._round(_round())
    assert runner._pause == 1.0  # a new outage starts from the first pause again


async def test_unreachable_dlq_is_the_generic_branch(caplog: pytest.LogCaptureFixture) -> None:
    db, dlq, applied = _Database(), _Dlq(reachable=False), []
    runner = _runner(db, dlq, applied)
    batch = {TP0: [_record(TP0, 8, b"not a cloud event"), _record(TP0, 9, _event(9))]}
    with caplog.at_level(logging.INFO, logger="tts_common.consumer"):
        await runner._round(batch)
    consumer: Any = runner._consumer
    assert consumer.seeks == [(TP0, 8)]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "partition batch aborted; will re-read"
    ]
    assert not any("database unreachable" in r.getMessage() for r in caplog.records)
    assert runner._pause == 1.0 and runner._outage_streak == 0


class _Recorder:
    def __init__(self, runner: ConsumerRunner, *, fail: bool = False) -> None:
        self.runner = runner
        self.fail = fail
        self.calls: list[tuple[str, bool]] = []
        self.told = asyncio.Event()

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.calls.append(("revoked", self.runner._lock.locked()))
        self.told.set()
        if self.fail:
            raise RuntimeError("observer bug")

    def on_partitions_assigned(self, assigned: Any) -> None:  # plain methods work too
        self.calls.append(("assigned", self.runner._lock.locked()))


@pytest.mark.parametrize("fail", [False, True], ids=["ok", "listener-raises"])
async def test_rebalance_listener_hears_the_revoke_while_a_round_runs(fail: bool) -> None:
    runner = _runner(_Database(), _Dlq(), [])
    listener = _Recorder(runner, fail=fail)
    rebalance = _Rebalance(runner, listener)  # type: ignore[arg-type]
    runner._pending = {TP0: 7}

    await runner._lock.acquire()  # a round in progress
    revoke = asyncio.create_task(rebalance.on_partitions_revoked({TP0}))
    await asyncio.wait_for(listener.told.wait(), 10)
    assert listener.calls == [("revoked", True)]  # told before the round ended
    consumer: Any = runner._consumer
    assert consumer.commits == [] and not revoke.done()
    runner._lock.release()
    await revoke
    assert consumer.commits == [{TP0: 7}]  # the revoked partition's work, committed

    await rebalance.on_partitions_assigned({TP1})
    assert listener.calls[-1] == ("assigned", False)

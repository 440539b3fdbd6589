"""Consumer runner: inbox-deduplicated handlers, retries, dead letters, manual commits.

For every record, in partition order:

1. decode the CloudEvent; malformed → ``<topic>.dlq`` at once;
2. in ONE database transaction: insert ``(group, event id)`` into ``inbox``
   (``ON CONFLICT DO NOTHING``) — already there means already applied, skip —
   then call ``handler(session, event, record)``; commit;
3. only then move the Kafka offset (``offset + 1``), committed after each poll
   round and on partition revoke.

Failure policy (one branch per kind):

- exception with ``retriable = True`` (``RetriableError``, ``AppError(retriable=True)``…)
  → capped exponential backoff, at most ``max_retries`` retries, then DLQ;
- exception with ``retriable = False`` (``NonRetriableError``, ``PoisonEvent``,
  ``AppError`` by default…) → DLQ at once;
- any other exception (no ``retriable`` attribute: a driver error, a bug) is
  treated as retriable, since most such failures are transient (deadlocks,
  serialization failures); the bounded retries keep a real bug from blocking
  the partition — it ends in the DLQ like the rest;
- except an outage (:func:`is_outage`: the database or network is unreachable):
  after the bounded retries the record is NOT dead-lettered — the runner logs a
  WARNING, rewinds every partition of the round to its first unfinished record
  and pauses (a backoff that grows while the outage lasts, capped at
  ``outage_backoff_cap``, reset by the first success), for as long as it takes.
  No record is at fault, and no partition can progress without a database.

Batch mode (default) applies all decodable records of a poll round (every
partition) in one transaction with one bulk inbox insert. If that batch fails,
it is rolled back and its records are processed one by one, so one bad record
cannot sink its neighbours. A handler may therefore run twice for a record
whose batch failed; handlers with effects outside the database should be
idempotent or run with ``batch_mode=False``.

Rebalances: the runner commits the offsets of revoked partitions once the
round in progress is done, so the next owner replays nothing that was applied.
``rebalance_listener`` lets a service (metrics, logs, tests) watch rebalances;
see :class:`ConsumerRunner`.

Throughput: a worker process should call ``gc.freeze()`` once start-up is done;
otherwise the cyclic GC re-walks every start-up object while collecting the
per-record garbage (≈20% of the consumer's CPU in ``bench/events_bench.py``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tts_common.db import session_scope
from tts_common.events import CloudEvent, decode, dlq_topic
from tts_common.fabric_errors import PoisonEvent, is_outage, is_retriable
from tts_common.inbox import mark_seen
from tts_common.kafka import make_consumer, make_producer, new_group_start_ms
from tts_common.logging import correlation, redact_text

log = logging.getLogger(__name__)

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
Handler = Callable[[AsyncSession, CloudEvent, Record], Awaitable[None]]
# Applies many fresh (never seen by this group) events at once, e.g. with one
# executemany/COPY; called with a single pair when records are retried one by one.
BatchHandler = Callable[[AsyncSession, list[tuple[CloudEvent, Record]]], Awaitable[None]]


class _Outage(Exception):
    """Raised to the round: stop, re-read from the first unfinished record later."""


@dataclass
class RunnerStats:
    processed: int = 0
    duplicates: int = 0
    retries: int = 0
    dead_lettered: int = 0
    batch_fallbacks: int = 0


class _Interrupted(Exception):
    """stop() was called while a record was waiting to be retried."""


class _Rebalance(ConsumerRebalanceListener):
    def __init__(
        self,
        runner: ConsumerRunner,
        user: ConsumerRebalanceListener | None,
        consumer: AIOKafkaConsumer | None = None,
        start_ms: int | None = None,
    ) -> None:
        self._runner = runner
        self._user = user
        self._consumer = consumer
        self._start_ms = start_ms

    async def on_partitions_revoked(self, revoked: Any) -> None:
        # The user's listener first: the lock below is held while a round (and so
        # a handler) runs, and a listener may be what that handler waits for.
        if self._user is not None:
            await self._tell("on_partitions_revoked", revoked)
        # Wait for the batch in progress, then commit what was done with the
        # revoked partitions before another member takes them over.
        async with self._runner._lock:
            await self._runner._commit(only=set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info(
            "partitions assigned",
            extra={"group": self._runner.group_id, "partitions": sorted(map(str, assigned))},
        )
        if self._start_ms is not None and self._consumer is not None and assigned:
            await self._start_new_partitions(set(assigned))
        self._runner.joined.set()  # a member of the group now (even with nothing assigned)
        if self._user is not None:
            await self._tell("on_partitions_assigned", assigned)

    async def _start_new_partitions(self, assigned: set[TopicPartition]) -> None:
        """Partitions this group has never committed on start at `start_ms`, not the earliest
        (`tts_common.kafka.new_group_start_ms`); before the member counts as joined."""
        consumer = self._consumer
        assert consumer is not None and self._start_ms is not None
        fresh = [tp for tp in sorted(assigned) if await consumer.committed(tp) is None]
        if not fresh:
            return
        found = await consumer.offsets_for_times({tp: self._start_ms for tp in fresh})
        for tp in fresh:
            at = found.get(tp)
            if at is None:  # nothing written since: from the end
                await consumer.seek_to_end(tp)
            else:
                consumer.seek(tp, at.offset)

    async def _tell(self, method: str, partitions: Any) -> None:
        try:
            result = getattr(self._user, method)(partitions)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            # An observer's bug must not stop the commit on revoke.
            log.error(
                "rebalance listener failed",
                extra={
                    "group": self._runner.group_id,
                    "callback": method,
                    "error_class": type(exc).__name__,
                },
            )


class ConsumerRunner:
    """Runs ``handler`` for every event of ``topics`` as member ``group_id``.

    ``rebalance_listener`` (an aiokafka ``ConsumerRebalanceListener``, methods
    plain or async) is told of every rebalance of this member, e.g. for metrics
    or logs. Its ``on_partitions_revoked(revoked)`` runs as the rebalance begins,
    BEFORE the runner waits for the round in progress to finish and commits the
    revoked partitions: it sees the rebalance while a handler may still be
    running, and must not wait for that handler itself. Its
    ``on_partitions_assigned(assigned)`` runs after the new assignment is in
    place. Both are also called on the first join (``revoked`` empty). An
    exception in them is logged and does not stop the rebalance.

    ``outage_backoff_cap`` caps the pause between re-reads during an outage
    (see the module docstring); the first pause is ``backoff_cap``.
    """

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        topics: Sequence[str],
        session_factory: async_sessionmaker[AsyncSession],
        handler: Handler | None = None,
        *,
        batch_handler: BatchHandler | None = None,
        max_retries: int = 3,
        backoff_base: float = 0.2,
        backoff_cap: float = 5.0,
        dlq_producer: AIOKafkaProducer | None = None,
        batch_mode: bool = True,
        max_records: int = 1000,
        consumer_options: dict[str, Any] | None = None,
        rebalance_listener: ConsumerRebalanceListener | None = None,
        outage_backoff_cap: float = 30.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.topics = list(topics)
        self._factory = session_factory
        if (handler is None) == (batch_handler is None):
            raise ValueError("give exactly one of handler or batch_handler")
        self._handler = handler
        self._batch_handler = batch_handler
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._dlq = dlq_producer
        self._own_dlq = dlq_producer is None
        self._batch_mode = batch_mode
        self._max_records = max_records
        self._consumer_options = consumer_options or {}
        self._listener = rebalance_listener
        self._outage_backoff_cap = max(outage_backoff_cap, backoff_cap)
        self._outage_streak = 0  # consecutive rounds stopped by an outage
        self._pause = 0.0  # seconds to wait, outside the lock, before the next poll
        self._consumer: AIOKafkaConsumer | None = None
        self._pending: dict[TopicPartition, int] = {}
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._started = asyncio.Event()
        # Set once the group's first rebalance assigned this member (readiness).
        self.joined = asyncio.Event()
        self.stats = RunnerStats()

    async def partition_lag(self) -> dict[tuple[str, int], int]:
        """(topic, partition) -> records on it not yet fetched by this member (metrics; no
        broker request, unlike :meth:`lag`)."""
        consumer = self._consumer
        if consumer is None:
            return {}
        out: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:  # nothing fetched from it yet
                continue
            out[(tp.topic, tp.partition)] = max(0, high - await consumer.position(tp))
        return out

    # --- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Join the group (idempotent); :meth:`run` calls it."""
        if self._consumer is not None:
            return
        if self._dlq is None:
            self._dlq = make_producer(self.bootstrap)
            await self._dlq.start()
        consumer = make_consumer(self.bootstrap, self.group_id, **self._consumer_options)
        listener = _Rebalance(self, self._listener, consumer, new_group_start_ms())
        consumer.subscribe(self.topics, listener=listener)
        await consumer.start()
        self._consumer = consumer
        self._started.set()

    async def run(self) -> None:
        """Consume until :meth:`stop`; never raises for a bad record."""
        await self.start()
        assert self._consumer is not None
        try:
            while not self._stopping.is_set():
                batches = await self._consumer.getmany(
                    timeout_ms=200, max_records=self._max_records
                )
                if not batches:
                    continue
                async with self._lock:
                    await self._round(batches)
                    await self._commit()
                if self._pause:
                    # Outside the lock: a rebalance need not wait for the pause.
                    pause, self._pause = self._pause, 0.0
                    await self._sleep(pause)
        finally:
            await self._shutdown()

    def stop(self) -> None:
        """Ask :meth:`run` to commit what is done and return."""
        self._stopping.set()

    async def wait_started(self) -> None:
        await self._started.wait()

    async def lag(self) -> int:
        """Records on the assigned partitions not yet committed by this group."""
        consumer = self._consumer
        if consumer is None:
            return 0
        assigned = list(consumer.assignment())
        if not assigned:
            return 0
        ends = await consumer.end_offsets(assigned)
        total = 0
        for tp in assigned:
            committed = await consumer.committed(tp)
            total += ends[tp] - (committed or 0)
        return total

    async def _shutdown(self) -> None:
        async with self._lock:
            await self._commit()
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        if self._own_dlq and self._dlq is not None:
            await self._dlq.stop()
            self._dlq = None

    # --- offsets -----------------------------------------------------------

    async def _commit(self, only: set[TopicPartition] | None = None) -> None:
        if self._consumer is None or not self._pending:
            return
        assigned = self._consumer.assignment()
        offsets = {
            tp: off
            for tp, off in self._pending.items()
            if tp in assigned and (only is None or tp in only)
        }
        for tp in list(self._pending):
            if only is None or tp in only:
                del self._pending[tp]
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # The partitions moved to another member; it re-reads from the last
            # committed offset and the inbox turns the replays into no-ops.
            log.warning(
                "offset commit failed",
                extra={"group": self.group_id, "error_class": type(exc).__name__},
            )

    # --- processing --------------------------------------------------------

    async def _round(self, batches: dict[TopicPartition, list[Record]]) -> None:
        """Apply one poll's records: all in one transaction if possible, else one by one."""
        items: dict[TopicPartition, list[tuple[Record, CloudEvent | PoisonEvent]]] = {}
        good: list[tuple[Record, CloudEvent]] = []
        for tp, records in batches.items():
            items[tp] = []
            for record in records:
                try:
                    event = decode(record.value)
                except PoisonEvent as exc:
                    items[tp].append((record, exc))
                else:
                    items[tp].append((record, event))
                    good.append((record, event))
        if self._batch_mode and len(good) > 1:
            try:
                await self._apply_batch(good)
            except Exception as exc:
                self.stats.batch_fallbacks += 1
                log.info(
                    "batch failed; retrying its records one by one",
                    extra={"group": self.group_id, "error_class": type(exc).__name__},
                )
            else:  # only the poison records are left to deal with
                items = {
                    tp: [(r, x) for r, x in pairs if isinstance(x, PoisonEvent)]
                    for tp, pairs in items.items()
                }
        outage = False
        for tp, pairs in items.items():
            if self._stopping.is_set():
                break  # not committed: redelivered, and the inbox skips what was applied
            if outage:
                # One database for every partition: do not knock on it once per
                # partition; re-read them all after the pause.
                assert self._consumer is not None
                self._consumer.seek(tp, batches[tp][0].offset)
                continue
            outage = await self._one_by_one(tp, pairs, batches[tp])

    async def _one_by_one(
        self,
        tp: TopicPartition,
        pairs: list[tuple[Record, CloudEvent | PoisonEvent]],
        records: list[Record],
    ) -> bool:
        """Apply a partition's records in order; True if an outage stopped it."""
        assert self._consumer is not None
        try:
            for record, item in pairs:
                if isinstance(item, PoisonEvent):
                    await self._dead_letter(record, item)
                else:
                    await self._apply_one(record, item)
                self._pending[tp] = record.offset + 1
            self._pending[tp] = records[-1].offset + 1
        except _Interrupted:
            self._consumer.seek(tp, self._pending.get(tp, records[0].offset))
        except _Outage as exc:
            # Nothing is wrong with the record: wait for the database, then re-read.
            offset = self._pending.get(tp, records[0].offset)
            self._consumer.seek(tp, offset)
            self._outage_streak += 1
            growth = 2 ** min(self._outage_streak - 1, 16)
            self._pause = min(self._outage_backoff_cap, self._backoff_cap * growth)
            log.warning(
                "database unreachable (%s); partition %s paused, will re-read from offset %d",
                exc,
                f"{tp.topic}-{tp.partition}",
                offset,
                extra={
                    "group": self.group_id,
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "offset": offset,
                    "error_class": str(exc),
                    "outage_rounds": self._outage_streak,
                    "retry_in_s": round(self._pause, 3),
                },
            )
            return True
        except Exception as exc:
            # Infrastructure trouble (DLQ unreachable, database down during a
            # dead-letter): re-read from the first unfinished record later.
            log.error(
                "partition batch aborted; will re-read",
                extra={"group": self.group_id, "error_class": type(exc).__name__},
            )
            self._consumer.seek(tp, self._pending.get(tp, records[0].offset))
            self._pause = max(self._pause, self._backoff_cap)
        return False

    def _recovered(self) -> None:
        """A transaction went through: an outage in progress is over."""
        if self._outage_streak:
            log.info(
                "database reachable again; resuming",
                extra={"group": self.group_id, "outage_rounds": self._outage_streak},
            )
            self._outage_streak = 0

    async def _apply_batch(self, segment: list[tuple[Record, CloudEvent]]) -> None:
        """One transaction, one bulk inbox insert, for a whole poll round."""
        async with session_scope(self._factory) as session:
            fresh = await mark_seen(session, self.group_id, [e.id for _, e in segment])
            todo: list[tuple[CloudEvent, Record]] = []
            for record, event in segment:
                if event.id in fresh:  # else seen before, or twice in this batch
                    fresh.discard(event.id)
                    todo.append((event, record))
            await self._call(session, todo)
        self._recovered()
        self.stats.processed += len(todo)
        self.stats.duplicates += len(segment) - len(todo)

    async def _call(self, session: AsyncSession, todo: list[tuple[CloudEvent, Record]]) -> None:
        if self._batch_handler is not None:
            if todo:
                await self._batch_handler(session, todo)
            return
        assert self._handler is not None
        for event, record in todo:
            with correlation(event.correlationid):
                await self._handler(session, event, record)

    async def _apply_one(self, record: Record, event: CloudEvent) -> None:
        attempt = 0
        while True:
            try:
                async with session_scope(self._factory) as session:
                    fresh = await mark_seen(session, self.group_id, [event.id])
                    if fresh:
                        await self._call(session, [(event, record)])
            except Exception as exc:
                if attempt >= self._max_retries and is_outage(exc):
                    raise _Outage(type(exc).__name__) from exc
                if not is_retriable(exc) or attempt >= self._max_retries:
                    await self._dead_letter(record, exc)
                    return
                attempt += 1
                self.stats.retries += 1
                delay = min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
                delay *= 0.5 + random.random() / 2  # jitter: replicas do not retry in lockstep
                log.warning(
                    "handler failed; retrying",
                    extra={
                        "group": self.group_id,
                        "event_id": event.id,
                        "event_type": event.type,
                        "attempt": attempt,
                        "error_class": type(exc).__name__,
                        "retry_in_s": round(delay, 3),
                    },
                )
                if await self._sleep(delay):
                    raise _Interrupted from exc
                continue
            self._recovered()
            if fresh:
                self.stats.processed += 1
            else:
                self.stats.duplicates += 1
            return

    async def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopped; True if stop() was called."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _dead_letter(self, record: Record, exc: BaseException) -> None:
        assert self._dlq is not None
        # Exception texts may quote input; cap and redact before they leave the process.
        message = redact_text(str(exc))[:1000]
        headers = [
            *(record.headers or ()),
            ("error.class", type(exc).__name__.encode()),
            ("error.message", message.encode()),
            ("error.retriable", str(is_retriable(exc)).lower().encode()),
            ("original.topic", record.topic.encode()),
            ("original.partition", str(record.partition).encode()),
            ("original.offset", str(record.offset).encode()),
            ("consumer.group", self.group_id.encode()),
        ]
        ack = await self._dlq.send(
            dlq_topic(record.topic), record.value, key=record.key, headers=headers
        )
        await ack  # the offset moves only once the dead letter is safely stored
        self.stats.dead_lettered += 1
        log.error(
            "record dead-lettered",
            extra={
                "group": self.group_id,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error_class": type(exc).__name__,
            },
        )

"""Transactional outbox: write events with the business change, publish them later.

A service calls :func:`add_event` inside the transaction that changes its state;
:class:`OutboxRelay` publishes committed rows with an idempotent producer; its
delete of those rows commits only after the broker acknowledged all of them. A
crash anywhere loses nothing; it can only cause a re-send, which the consumers'
inbox (``tts_common.inbox``) absorbs.

Ordering: rows are claimed and handed to the producer in ``id`` order, so events
with the same key keep their order on the normal path. After a failed send the
rows are re-sent later and may land after newer ones — consumers must be
version-aware (they are: orders carry ``update_time``, products a hash).

The relay runs inside every service (the ``outbox-relay`` task of
``tts_common.app``), or standalone through :func:`run_relay`, which is the
``<service> relay`` command (SIGTERM/SIGINT stop it gracefully). Since it claims
rows with ``FOR UPDATE SKIP LOCKED``, several relays on one database are safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy import LargeBinary, bindparam, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tts_common.events import STRUCTURED_CONTENT_TYPE, CloudEvent, encode
from tts_common.inbox import INBOX_DDL, INBOX_DROP_DDL

log = logging.getLogger(__name__)

OUTBOX_DDL = """
CREATE TABLE IF NOT EXISTS outbox (
    id          BIGSERIAL PRIMARY KEY,
    event_id    UUID NOT NULL UNIQUE,
    topic       TEXT NOT NULL,
    key         TEXT,
    value       BYTEA NOT NULL,
    headers     JSONB,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""

# Every service's first migration creates both tables (tts_common.migrate).
OUTBOX_INBOX_DDL = OUTBOX_DDL + INBOX_DDL
OUTBOX_INBOX_DROP_DDL = "\n" + INBOX_DROP_DDL + "DROP TABLE IF EXISTS outbox;\n"

_INSERT = text(
    "INSERT INTO outbox (event_id, topic, key, value, headers)"
    " VALUES (:event_id, :topic, :key, :value, :headers)"
).bindparams(
    bindparam("event_id", type_=UUID(as_uuid=True)),
    bindparam("value", type_=LargeBinary),
    bindparam("headers", type_=JSONB),
)


def _row(
    topic: str, key: str | None, event: CloudEvent, headers: Mapping[str, str] | None
) -> dict[str, Any]:
    all_headers = {"content-type": STRUCTURED_CONTENT_TYPE, "ce_type": event.type}
    if headers:
        all_headers.update(headers)
    return {
        "event_id": uuid.UUID(event.id),
        "topic": topic,
        "key": key,
        "value": encode(event),
        "headers": all_headers,
    }


async def add_event(
    session: AsyncSession,
    topic: str,
    key: str | None,
    event: CloudEvent,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Queue ``event`` in the caller's transaction (never commits; the entrypoint does).

    ``event.id`` must be a UUID (``make_event`` makes one).
    """
    await session.execute(_INSERT, _row(topic, key, event, headers))


_COPY_THRESHOLD = 64
_COPY_COLUMNS = ("event_id", "topic", "key", "value", "headers")


async def add_events(
    session: AsyncSession, items: Iterable[tuple[str, str | None, CloudEvent]]
) -> None:
    """Queue many events (topic, key, event) in the caller's transaction.

    Large batches go through COPY, several times faster than INSERT for
    kilobyte-sized rows; small ones through one multi-row INSERT.
    """
    rows = [_row(topic, key, event, None) for topic, key, event in items]
    if not rows:
        return
    if len(rows) < _COPY_THRESHOLD:
        await session.execute(_INSERT, rows)
        return
    conn = await session.connection()
    # The asyncpg adapter opens its transaction lazily on the first statement;
    # run one so COPY cannot slip outside the caller's transaction.
    await conn.exec_driver_sql("SELECT 1")
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(
        "outbox",
        # asyncpg's own jsonb codec (used by COPY) takes JSON text, not a dict.
        records=[
            (r["event_id"], r["topic"], r["key"], r["value"], orjson.dumps(r["headers"]).decode())
            for r in rows
        ],
        columns=_COPY_COLUMNS,
    )


# Claim = delete, inside the transaction that stays open until the broker has
# acknowledged every row: a crash or failed send rolls the delete back, and the
# deleted-but-uncommitted rows are locked, so other relays SKIP them. One
# statement instead of SELECT … FOR UPDATE + DELETE (half the row writes).
_CLAIM = text(
    "DELETE FROM outbox WHERE id IN"
    " (SELECT id FROM outbox ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED)"
    " RETURNING id, topic, key, value, headers"
)


def _kafka_headers(headers: Mapping[str, Any] | None) -> list[tuple[str, bytes]]:
    if not headers:
        return []
    return [(k, str(v).encode()) for k, v in headers.items()]


class OutboxRelay:
    """Publishes outbox rows to Kafka; several batches in flight (``pipeline``)."""

    def __init__(
        self,
        engine: AsyncEngine,
        producer: AIOKafkaProducer,
        batch_size: int = 1000,
        poll_interval: float = 0.2,
        *,
        pipeline: int = 2,
    ) -> None:
        self._engine = engine
        self._producer = producer
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._pipeline = max(1, pipeline)
        # Claiming and handing rows to the producer happen under one lock so
        # concurrent batches enter the producer in id order.
        self._claim_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._partitioner = DefaultPartitioner()
        self.published = 0

    async def drain_once(self) -> int:
        """Claim one batch, publish it, wait for the acks, delete it; return its size."""
        async with self._engine.connect() as conn, conn.begin():
            async with self._claim_lock:
                claimed = (await conn.execute(_CLAIM, {"n": self._batch_size})).all()
                if not claimed:
                    return 0
                rows = sorted(claimed, key=lambda row: row.id)  # RETURNING has no order
                acks = await self._enqueue(rows)
            # Commit (make the delete final) only once every ack is in.
            await asyncio.gather(*acks)
        self.published += len(rows)
        return len(rows)

    async def _enqueue(self, rows: Sequence[Any]) -> list[asyncio.Future[Any]]:
        """Hand rows to the producer as whole per-partition batches, in id order.

        Building record batches ourselves (aiokafka's C batch builder) instead of
        one ``send()`` per record saves a future and a task hop per event, which
        is most of the relay's CPU. Partitions are chosen exactly like a keyed
        ``send()`` would (murmur2 of the key), so keys keep their partition.
        """
        producer = self._producer
        open_batches: dict[tuple[str, int], Any] = {}
        acks: list[asyncio.Future[Any]] = []
        partitions: dict[str, tuple[list[int], list[int]]] = {}
        for row in rows:
            topic: str = row.topic
            if topic not in partitions:
                all_parts = sorted(await producer.partitions_for(topic))
                partitions[topic] = (all_parts, all_parts)
            key = row.key.encode() if row.key is not None else None
            partition = self._partitioner(key, *partitions[topic])
            value = bytes(row.value)
            headers = _kafka_headers(row.headers)
            batch = open_batches.get((topic, partition))
            if batch is None:
                batch = open_batches[(topic, partition)] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                # Full: ship it and start the next one for this partition.
                acks.append(await producer.send_batch(batch, topic, partition=partition))
                batch = open_batches[(topic, partition)] = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    raise ValueError(f"outbox row {row.id} is larger than a producer batch")
        for (topic, partition), batch in open_batches.items():
            acks.append(await producer.send_batch(batch, topic, partition=partition))
        return acks

    async def _worker(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                sent = await self.drain_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = min(0.5 * 2 ** (failures - 1), 10.0)
                log.warning(
                    "outbox relay batch failed; retrying",
                    extra={"error_class": type(exc).__name__, "retry_in_s": delay},
                )
                await self._wait(delay)
                continue
            if sent < self._batch_size:
                await self._wait(self._poll_interval)

    async def _wait(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    async def run(self) -> None:
        """Publish until :meth:`stop` is called."""
        self._stopping.clear()
        await asyncio.gather(*(self._worker() for _ in range(self._pipeline)))

    def stop(self) -> None:
        """Ask :meth:`run` to return after the batches in flight are done."""
        self._stopping.set()


async def outbox_size(engine: AsyncEngine) -> int:
    """Rows not yet published (for metrics and tests)."""
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM outbox"))).scalar_one())


# --- standalone relay -----------------------------------------------------


@contextlib.contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGTERM/SIGINT call ``stop`` while the block runs (main thread's loop only)."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # a loop without signal support (e.g. Windows' proactor)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def run_relay(
    database_url: str,
    bootstrap: str,
    *,
    batch_size: int = 1000,
    poll_interval: float = 0.2,
    pipeline: int = 2,
    stop: asyncio.Event | None = None,
) -> int:
    """Publish the outbox of ``database_url`` until stopped; return how many rows were sent.

    Stops when ``stop`` is set or, when called from the main thread's event loop,
    on SIGTERM/SIGINT; the batches in flight finish first. For a process that
    does nothing else (``<service> relay``); ``serve`` runs an :class:`OutboxRelay`
    of its own.
    """
    from tts_common.db import create_engine
    from tts_common.kafka import make_producer

    stopping = stop if stop is not None else asyncio.Event()
    with _stop_on_signals(stopping.set):
        engine = create_engine(database_url, pool_size=pipeline + 1, max_overflow=0)
        producer = make_producer(bootstrap)
        try:
            await producer.start()
            relay = OutboxRelay(
                engine,
                producer,
                batch_size=batch_size,
                poll_interval=poll_interval,
                pipeline=pipeline,
            )
            # Start-up objects (modules, metadata) never die: keep the cyclic GC from
            # re-walking them on every collection of the steady state's garbage.
            gc.freeze()

            async def stop_when_asked() -> None:
                await stopping.wait()
                relay.stop()

            log.info("outbox relay started", extra={"batch_size": batch_size})
            watcher = asyncio.create_task(stop_when_asked())
            try:
                await relay.run()
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
                log.info("outbox relay stopped", extra={"published": relay.published})
            return relay.published
        finally:
            await producer.stop()
            await engine.dispose()

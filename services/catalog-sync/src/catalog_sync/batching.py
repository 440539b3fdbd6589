"""Group commit: the small database steps of many products in flight, one transaction for all.

A run has up to `run_concurrency` products in flight, and each of them needs a few small
statements at a few moments (its state before and after each TikTok call, its result, its
images' rows). One transaction each costs more than the statements in it (a pool checkout,
BEGIN, COMMIT, the connection's reset, and each a round trip), and that was most of the
export's CPU per product (docs/feeds.md, "Throughput"). A `Batcher` gathers what the tasks
submit while the previous batch is being written and hands it to `flush` as one list: the
caller makes it one transaction of set-based statements, and each submitter resumes when its
own item is committed, so "committed before TikTok is called" still holds for each of them.

No timer: a batch is whatever arrived while the last one was written (one item when the run
is quiet, dozens when it is busy), so batching adds no latency of its own. A batch that fails
is written again item by item, so one bad item fails alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH = 500


def _resolve(future: asyncio.Future[R], result: R) -> None:
    if not future.done():
        future.set_result(result)


def _reject(future: asyncio.Future[R], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


class Batcher(Generic[T, R]):
    """`await submit(item)` returns `flush`'s result for `item`, `flush` taking every item
    submitted meanwhile at once (at most `max_batch`) and answering one result per item, in
    order."""

    def __init__(
        self, flush: Callable[[list[T]], Awaitable[list[R]]], *, max_batch: int = MAX_BATCH
    ) -> None:
        self._flush = flush
        self._max = max(1, max_batch)
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Future[None] | None = None
        self.batches = 0  # flushes so far, for tests and the run's log
        self.items = 0

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._task is None:
            # Starts at the loop's next turn: whatever the other tasks submit in this one
            # joins the same batch.
            self._task = asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        batch: list[tuple[T, asyncio.Future[R]]] = []
        try:
            while self._pending:
                batch = self._pending[: self._max]
                del self._pending[: self._max]
                await self._write(batch)
                batch = []
        except BaseException as exc:  # cancelled (shutdown): nobody is left waiting forever
            for _, future in (*batch, *self._pending):
                if isinstance(exc, Exception):
                    _reject(future, exc)
                else:
                    future.cancel()
            self._pending = []
            raise
        finally:
            self._task = None

    async def _write(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.batches += 1
        self.items += len(batch)
        try:
            results = await self._flush([item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _reject(batch[0][1], exc)
                return
            log.warning(
                "a batched write failed; writing its items one by one",
                extra={"items": len(batch), "error_class": type(exc).__name__},
            )
            for item, future in batch:
                try:
                    (result,) = await self._flush([item])
                except Exception as one:
                    _reject(future, one)
                else:
                    _resolve(future, result)
            return
        for (_, future), result in zip(batch, results, strict=True):
            _resolve(future, result)

"""The run's group commit (`catalog_sync.batching`): batches form from what waits, a failing
batch is written again item by item, nobody is left waiting."""

from __future__ import annotations

import asyncio

import pytest
from catalog_sync.batching import Batcher


class Recorder:
    def __init__(self, bad: set[int] | None = None) -> None:
        self.batches: list[list[int]] = []
        self.bad = bad or set()
        self.gate: asyncio.Event | None = None
        self.writing = asyncio.Event()  # a batch is being written

    async def flush(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        self.writing.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.bad & set(items):
            raise ValueError(f"bad items {sorted(self.bad & set(items))}")
        return [i * 10 for i in items]


async def test_items_submitted_together_are_one_batch_with_their_own_results() -> None:
    rec = Recorder()
    batcher = Batcher(rec.flush)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert rec.batches == [[0, 1, 2, 3, 4]]


async def test_what_arrives_while_a_batch_is_written_is_the_next_batch() -> None:
    rec = Recorder()
    rec.gate = asyncio.Event()
    batcher = Batcher(rec.flush)
    first = asyncio.ensure_future(batcher.submit(1))
    await rec.writing.wait()  # the first batch is being written
    later = [asyncio.ensure_future(batcher.submit(i)) for i in (2, 3)]
    await asyncio.sleep(0)
    assert rec.batches == [[1]] and not first.done()
    rec.gate.set()
    assert await first == 10 and [await f for f in later] == [20, 30]
    assert rec.batches == [[1], [2, 3]]
    assert batcher.batches == 2 and batcher.items == 3


async def test_a_failing_batch_fails_only_its_bad_item() -> None:
    rec = Recorder(bad={2})
    batcher = Batcher(rec.flush)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(4)), return_exceptions=True)
    assert results[0] == 0 and results[1] == 10 and results[3] == 30
    assert isinstance(results[2], ValueError)
    assert rec.batches == [[0, 1, 2, 3], [0], [1], [2], [3]]


async def test_batches_are_bounded() -> None:
    rec = Recorder()
    batcher = Batcher(rec.flush, max_batch=2)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(5))) == [0, 10, 20, 30, 40]
    assert rec.batches == [[0, 1], [2, 3], [4]]


async def test_a_cancelled_writer_leaves_nobody_waiting() -> None:
    rec = Recorder()
    rec.gate = asyncio.Event()  # never set: the write hangs until cancelled
    batcher = Batcher(rec.flush)
    waiting = [asyncio.ensure_future(batcher.submit(i)) for i in range(3)]
    await rec.writing.wait()
    task = batcher._task
    assert task is not None
    task.cancel()
    for future in waiting:
        with pytest.raises(asyncio.CancelledError):
            await future
    # The batcher works again afterwards.
    rec.gate.set()
    assert await batcher.submit(7) == 70

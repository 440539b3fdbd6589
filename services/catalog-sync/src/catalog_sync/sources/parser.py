"""The incremental parser every format implements: `feed(chunk)` and `close()`."""

from __future__ import annotations

from abc import ABC, abstractmethod

from catalog_sync.sources.base import Parsed, RowChecker, Summary
from catalog_sync.sources.options import SourceOptions
from catalog_sync.sources.stream import Block, LineStream


class Parser(ABC):
    """Fed the bytes of an upload as they arrive; returns what each chunk completed.

    Whatever the chunking (1 byte or 64 KiB at a time), the concatenated output of all
    `feed` calls and `close` is the same.
    """

    def __init__(self, options: SourceOptions) -> None:
        self.options = options
        self.summary = Summary()
        self._stream = LineStream(options.max_line_bytes)
        self._checker = RowChecker(options.columns, self.summary, options.check_duplicates)

    def feed(self, chunk: bytes) -> list[Parsed]:
        out: list[Parsed] = []
        for block in self._stream.feed(chunk):
            self._block(block, out)
        return out

    def close(self) -> list[Parsed]:
        out: list[Parsed] = []
        for block in self._stream.close():
            self._block(block, out)
        self._finish(out)
        self.summary.lines = self._stream.next_line - 1
        return out

    @abstractmethod
    def _block(self, block: Block, out: list[Parsed]) -> None:
        """Parse the lines of `block`, appending to `out`; `block.final` only at close."""

    def _finish(self, out: list[Parsed]) -> None:  # noqa: B027 (optional hook)
        """Emit what is still held once the last block was parsed."""

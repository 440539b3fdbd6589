"""Bytes as they arrive → blocks of whole decoded lines (gzip, BOM, UTF-8).

The only layer that sees bytes. It cuts the stream after its last newline, so a block never
splits a line nor a UTF-8 sequence (a newline byte is never part of one), and decodes each
block in one call. A block that fails to decode is decoded again line by line: the bad lines
are decoded with replacement characters (so the CSV structure around them survives) and
their numbers are put in `bad_lines`, for the format layer to refuse the rows they belong to.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

from catalog_sync.sources.base import SourceError

GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
# Bytes inflated per step: a small gzip chunk may expand a thousandfold; never hold more.
_INFLATE_STEP = 1 << 20
# wbits=47 (32 + 15): zlib reads the gzip (or zlib) header itself.
_GZIP_WBITS = 47


class Block(NamedTuple):
    """Whole lines without their `\\n` (a `\\r` before it is kept), from `first_line` on."""

    first_line: int
    lines: list[str]
    final: bool = False


class LineStream:
    """Incremental bytes → `Block`s; one per `feed` (more for a gzip chunk that inflates a lot)."""

    def __init__(self, max_line_bytes: int = 16 << 20) -> None:
        self._max_line = max_line_bytes
        self._head = b""  # the first bytes, until gzip or not is known
        self._gzip: bool | None = None
        self._inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
        self._bom_checked = False
        self._buf = bytearray()
        self._closed = False
        self.next_line = 1
        self.bad_lines: set[int] = set()
        self.gzip_members = 0

    @property
    def is_gzip(self) -> bool:
        return bool(self._gzip)

    def feed(self, chunk: bytes) -> list[Block]:
        if self._closed:
            raise SourceError("the upload was already closed")
        if not chunk:
            return []
        if self._gzip is None:
            self._head += chunk
            if len(self._head) < len(GZIP_MAGIC):
                return []
            chunk, self._head = self._head, b""
            self._gzip = chunk.startswith(GZIP_MAGIC)
        if self._gzip:
            return self._inflate(chunk)
        block = self._take(chunk)
        return [block] if block else []

    def close(self) -> list[Block]:
        """The remaining blocks; the last one has `final=True` (possibly with no lines)."""
        if self._closed:
            raise SourceError("the upload was already closed")
        blocks: list[Block] = []
        if self._gzip is None:  # fewer than two bytes: plain text (or nothing)
            self._gzip = False
            block = self._take(self._head)
            if block:
                blocks.append(block)
        elif self._gzip:
            try:
                tail = self._inflater.flush()
            except zlib.error as exc:
                raise SourceError(f"the gzip stream is corrupt ({exc})") from None
            block = self._take(tail)
            if block:
                blocks.append(block)
            if not self._inflater.eof:
                raise SourceError("the gzip stream is truncated (the upload was cut short)")
        self._closed = True
        buf = self._buf
        if not self._bom_checked and buf.startswith(UTF8_BOM):
            del buf[: len(UTF8_BOM)]
        self._bom_checked = True
        lines: list[str] = []
        first = self.next_line
        if buf:
            lines = self._decode(bytes(buf), first, final=True)
            self.next_line += len(lines)
            buf.clear()
        blocks.append(Block(first, lines, final=True))
        return blocks

    def _inflate(self, data: bytes) -> list[Block]:
        blocks: list[Block] = []
        while data:
            try:
                out = self._inflater.decompress(data, _INFLATE_STEP)
            except zlib.error as exc:
                raise SourceError(f"the gzip stream is corrupt ({exc})") from None
            block = self._take(out)
            if block:
                blocks.append(block)
            if self._inflater.eof:
                self.gzip_members += 1
                data = self._inflater.unused_data
                if data:  # concatenated gzip members (as `cat a.gz b.gz` makes) are one file
                    self._inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
            else:
                data = self._inflater.unconsumed_tail
        return blocks

    def _take(self, data: bytes) -> Block | None:
        """Append decoded bytes; return the whole lines now complete, if any."""
        if not data:
            return None
        buf = self._buf
        start = len(buf)
        buf += data
        if not self._bom_checked:
            if len(buf) < len(UTF8_BOM):
                return None
            if buf.startswith(UTF8_BOM):
                del buf[: len(UTF8_BOM)]
            self._bom_checked = True
            start = 0
        end = buf.rfind(b"\n", start) + 1
        if not end:
            if len(buf) > self._max_line:
                raise SourceError(
                    f"line {self.next_line} is longer than {self._max_line} bytes: "
                    "not a product file"
                )
            return None
        first = self.next_line
        with memoryview(buf) as view:
            try:
                text = str(view[:end], "utf-8")
            except UnicodeDecodeError:
                lines = self._decode(bytes(view[:end]), first, final=False)
            else:
                lines = text.split("\n")
                lines.pop()  # the empty string after the block's last newline
        del buf[:end]
        self.next_line += len(lines)
        return Block(first, lines)

    def _decode(self, raw: bytes, first: int, final: bool) -> list[str]:
        try:
            lines = raw.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            lines = []
            for number, piece in enumerate(raw.split(b"\n"), start=first):
                try:
                    lines.append(piece.decode("utf-8"))
                except UnicodeDecodeError:
                    lines.append(piece.decode("utf-8", errors="replace"))
                    self.bad_lines.add(number)
        if not final:
            lines.pop()
        return lines

"""CSV (RFC 4180) with a header row: any columns, quotes with line breaks inside.

The stdlib's C reader (strict mode) parses each block of whole lines; Python only builds
the row dicts. A record may span lines (a quoted line break), so a block whose last record
is still open is carried to the next block. The reader is given lines without their `\\n`
(one `split` per block): it still finds the record boundaries, and the few records that do
span several lines are read again with their line breaks, so quoted values keep them.

A broken quote never swallows the rest of the file: the record that failed is refused with
the line it started on, and parsing resumes on the next line, so each later line is read
again as a record of its own (kept when it is one, refused when it is a fragment). A record
still open after `max_record_bytes` characters is treated the same way.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from typing import Any

from catalog_sync.sources.base import Parsed, Reason, Refused, SourceError, refusal
from catalog_sync.sources.options import SourceOptions
from catalog_sync.sources.parser import Parser
from catalog_sync.sources.stream import Block

# (line, row) → None: what a format built on CSV (Shopify) does with each well-formed row.
_Reader = Any  # `_csv.Reader` (its `line_num` counts the lines it consumed)
RowSink = Callable[[int, dict[str, str], list[Parsed]], None]


class CsvParser(Parser):
    """`format=csv`: each well-formed record becomes a row keyed by the header's names."""

    def __init__(self, options: SourceOptions, sink: RowSink | None = None) -> None:
        super().__init__(options)
        self._quote = options.quotechar
        self._sink = sink
        self.header: list[str] | None = None
        self._product_id_index: int | None = None
        self._carry: list[str] = []
        self._carry_line = 0
        self._carry_chars = 0
        self._carry_new = 0

    def _reader(self, lines: Iterator[str] | list[str]) -> _Reader:
        return csv.reader(
            lines,
            delimiter=self.options.delimiter,
            quotechar=self.options.quotechar,
            doublequote=True,
            strict=True,
        )

    def _on_header(self, header: list[str]) -> None:
        """Hook for formats that need the column names before the first row."""

    def _finish(self, out: list[Parsed]) -> None:
        if self.header is None:
            raise SourceError("the upload has no header row (it is empty or blank)")

    def _block(self, block: Block, out: list[Parsed]) -> None:
        lines, first = block.lines, block.first_line
        if self._carry:
            # An open record waits for at least as much new text as it holds, so a record
            # that stays open is re-read a logarithmic number of times, never once per line.
            self._carry.extend(lines)
            self._carry_new += sum(map(len, lines))
            if not block.final and self._carry_new < self._carry_chars:
                return
            lines, first = self._carry, self._carry_line
            self._carry = []
        if lines:
            self._parse(lines, first, block.final, out)

    def _parse(self, lines: list[str], first: int, final: bool, out: list[Parsed]) -> None:
        n = len(lines)
        bad = self._stream.bad_lines
        summary = self.summary
        check = self._checker.check
        refuse = self._checker.refuse
        sink = self._sink
        append = out.append
        header = self.header
        width = len(header) if header is not None else 0
        rows = blank = 0
        pos = 0  # index in `lines` of the next record's first line
        base = 0  # index where the current reader started
        reader = self._reader(lines)
        while True:
            try:
                for fields in reader:
                    end = base + reader.line_num
                    line = first + pos
                    if end - pos > 1:
                        fields = self._with_line_breaks(lines, pos, end)
                    if not fields:
                        blank += 1
                    elif header is None:
                        if bad and not bad.isdisjoint(range(line, first + end)):
                            raise SourceError(f"the header (line {line}) is not UTF-8")
                        header = self._set_header(line, fields)
                        width = len(header)
                    elif bad and not bad.isdisjoint(range(line, first + end)):
                        rows += 1
                        append(refuse(self._undecodable(line, first + end - 1, fields)))
                    elif len(fields) != width:
                        rows += 1
                        append(refuse(self._wrong_width(line, fields, width)))
                    else:
                        rows += 1
                        if sink is None:
                            append(check(line, dict(zip(header, fields, strict=True))))
                        else:
                            sink(line, dict(zip(header, fields, strict=True)), out)
                    pos = end
                break
            except csv.Error as exc:
                end = base + reader.line_num
                if end >= n and not final:
                    open_chars = sum(map(len, lines[pos:]))
                    if open_chars <= self.options.max_record_bytes:
                        self._carry = lines[pos:]
                        self._carry_line = first + pos
                        self._carry_chars = open_chars
                        self._carry_new = 0
                        break
                if header is None:
                    raise SourceError(
                        f"the header (line {first + pos}) is not valid CSV: {exc}"
                    ) from None
                rows += 1
                append(
                    refuse(
                        self._broken(first + pos, first + max(end, pos + 1) - 1, lines[pos], exc)
                    )
                )
                pos += 1
                if pos >= n:
                    break
                rest = iter(lines)
                rest.__setstate__(pos)  # type: ignore[attr-defined]
                reader = self._reader(rest)
                base = pos
        summary.rows_read += rows
        summary.blank_lines += blank

    def _with_line_breaks(self, lines: list[str], start: int, end: int) -> list[str]:
        """Read a record spanning lines again, with the line breaks its quotes hold."""
        return next(self._reader([line + "\n" for line in lines[start:end]]))

    def _set_header(self, line: int, fields: list[str]) -> list[str]:
        header: list[str] = []
        seen: dict[str, int] = {}
        duplicates: list[str] = []
        for number, raw in enumerate(fields, start=1):
            name = raw.strip() or f"column_{number}"
            if name in seen:
                duplicates.append(name)
            seen[name] = number
            header.append(name)
        if duplicates:
            raise SourceError(
                f"the header (line {line}) names a column twice: {', '.join(sorted(set(duplicates)))}"
            )
        self.header = header
        source = next((s for s, t in self.options.columns.items() if t == "product_id"), None)
        self._product_id_index = seen.get(source or "product_id", 0) - 1
        if self._product_id_index < 0:
            self._product_id_index = None
        self._on_header(header)
        return header

    def _product_id_of(self, fields: list[str]) -> str | None:
        index = self._product_id_index
        if index is None or index >= len(fields):
            return None
        return fields[index] or None

    def _wrong_width(self, line: int, fields: list[str], width: int) -> Refused:
        return refusal(
            line,
            Reason.FIELD_COUNT,
            f"{len(fields)} fields where the header has {width}",
            self._product_id_of(fields),
        )

    def _undecodable(self, line: int, last: int, fields: list[str]) -> Refused:
        where = f"line {line}" if last == line else f"lines {line}-{last}"
        return refusal(
            line,
            Reason.INVALID_UTF8,
            f"{where}: bytes that are not UTF-8",
            self._product_id_of(fields),
        )

    def _broken(self, line: int, last: int, text: str, exc: csv.Error) -> Refused:
        if last > line or self._quote in text:
            return refusal(
                line,
                Reason.BROKEN_QUOTE,
                f"a quoted field opened on line {line} is not closed properly ({exc}, "
                f"read up to line {last}); parsing resumed on line {line + 1}",
            )
        return refusal(line, Reason.MALFORMED_CSV, f"{exc}")

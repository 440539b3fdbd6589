"""NDJSON: one JSON object per line, its values turned into strings.

Numbers keep the text they were written with (`12.50` stays `12.50`, never `12.5`), `true`
and `false` stay as written, `null` is empty, a list is its items joined with `#` (the
multi-value separator), and a nested object is flattened into dotted names
(`{"sku": {"price": 9}}` → `sku.price`), which is how the export attributes are named.
"""

from __future__ import annotations

import json
from typing import Any

from catalog_sync.sources.base import Parsed, Reason, refusal
from catalog_sync.sources.options import SourceOptions
from catalog_sync.sources.parser import Parser
from catalog_sync.sources.stream import Block


def _stringify(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, list):  # null items carry nothing: `[1, null, 2]` is `1#2`
        return "#".join(_stringify(item) for item in value if item is not None)
    # A nested object inside a list: its JSON text (numbers were kept as strings).
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _flatten(prefix: str, value: dict[str, Any], out: dict[str, str]) -> None:
    for key, item in value.items():
        name = f"{prefix}.{key}"
        if isinstance(item, dict):
            _flatten(name, item, out)
        else:
            out[name] = _stringify(item)


def to_row(obj: dict[str, Any]) -> dict[str, str]:
    """A decoded JSON object as a row (strings only); the object itself is reused if it can be."""
    flat = True
    for key, value in obj.items():
        if type(value) is not str:
            if isinstance(value, dict):
                flat = False
            else:
                obj[key] = _stringify(value)
    if flat:
        return obj
    row: dict[str, str] = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            _flatten(key, value, row)
        else:
            row[key] = value
    return row


class NdjsonParser(Parser):
    """`format=ndjson`: a line is one row; blank lines are skipped (and counted)."""

    def __init__(self, options: SourceOptions) -> None:
        super().__init__(options)
        # Numbers and constants (NaN…) are kept as the text they were written with.
        self._decode = json.JSONDecoder(parse_float=str, parse_int=str, parse_constant=str).decode

    def _block(self, block: Block, out: list[Parsed]) -> None:
        decode = self._decode
        check = self._checker.check
        refuse = self._checker.refuse
        bad = self._stream.bad_lines
        append = out.append
        rows = blank = 0
        for line, text in enumerate(block.lines, start=block.first_line):
            if not text or text.isspace():
                blank += 1
                continue
            rows += 1
            if bad and line in bad:
                append(refuse(refusal(line, Reason.INVALID_UTF8, "bytes that are not UTF-8")))
                continue
            try:
                obj = decode(text)
            except ValueError as exc:
                append(refuse(refusal(line, Reason.INVALID_JSON, str(exc))))
                continue
            if not isinstance(obj, dict):
                detail = "valid JSON, but not an object ({...})"
                append(refuse(refusal(line, Reason.NOT_AN_OBJECT, detail)))
                continue
            append(check(line, to_row(obj)))
        self.summary.rows_read += rows
        self.summary.blank_lines += blank

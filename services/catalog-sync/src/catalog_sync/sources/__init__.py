"""Product sources: streaming parsers for uploads (docs/feeds.md, "Product sources").

    parser = open_parser("csv", SourceOptions(delimiter=";"))
    async for chunk in body:
        for item in parser.feed(chunk):    # Row(line, data) or Refused(line, reason, product_id)
            ...
    for item in parser.close():
        ...
    parser.summary                        # rows read, emitted, refused by reason…

Formats: `csv` (header row, RFC 4180 quotes), `ndjson` (one object per line) and
`shopify` (a Shopify product CSV export as is). Any of them may be gzip-compressed (found
by its magic bytes) and UTF-8 with or without a BOM. Nothing is loaded whole: memory is one
chunk, one open record and (for Shopify) one product's rows, plus one entry per product_id
for the duplicate check.
"""

from __future__ import annotations

from catalog_sync.sources.base import (
    Parsed,
    Reason,
    Refused,
    Row,
    SourceError,
    Summary,
)
from catalog_sync.sources.csv_format import CsvParser
from catalog_sync.sources.ndjson_format import NdjsonParser
from catalog_sync.sources.options import FORMATS, Format, SourceOptions
from catalog_sync.sources.parser import Parser
from catalog_sync.sources.shopify_format import ShopifyParser


def open_parser(format: str, options: SourceOptions | dict[str, object] | None = None) -> Parser:
    """A new incremental parser for one upload of `format` (`csv`, `ndjson`, `shopify`)."""
    if options is None:
        opts = SourceOptions()
    elif isinstance(options, SourceOptions):
        opts = options
    else:
        opts = SourceOptions.model_validate(options)
    if format == "csv":
        return CsvParser(opts)
    if format == "ndjson":
        return NdjsonParser(opts)
    if format == "shopify":
        return ShopifyParser(opts)
    raise ValueError(f"unknown source format {format!r}; expected one of {', '.join(FORMATS)}")


def parse_bytes(
    format: str, data: bytes, options: SourceOptions | None = None, chunk_size: int = 1 << 16
) -> tuple[list[Parsed], Summary]:
    """Parse a whole upload held in memory (tests, small files), in `chunk_size` pieces."""
    parser = open_parser(format, options)
    out: list[Parsed] = []
    for start in range(0, len(data), chunk_size):
        out += parser.feed(data[start : start + chunk_size])
    out += parser.close()
    return out, parser.summary


__all__ = [
    "FORMATS",
    "CsvParser",
    "Format",
    "NdjsonParser",
    "Parsed",
    "Parser",
    "Reason",
    "Refused",
    "Row",
    "ShopifyParser",
    "SourceError",
    "SourceOptions",
    "Summary",
    "open_parser",
    "parse_bytes",
]

"""What every parser yields and counts, and the checks all formats share.

A parser turns an upload into `Row`s (kept) and `Refused`s (reported with their line and
reason, never silently dropped). Every value of a row is a string (docs/feeds.md, "Product
sources"); the checks here run once per row, so they are plain dict operations.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple


class Row(NamedTuple):
    """A kept row: `line` is the physical line (1-based, the header is line 1) it starts on."""

    line: int
    data: dict[str, str]


class Refused(NamedTuple):
    """A refused row. `reason` is `<code>: <detail>`; the code is one of `Reason`."""

    line: int
    reason: str
    product_id: str | None = None

    @property
    def code(self) -> str:
        """The reason's kind (the text before the first colon), e.g. `duplicate_product_id`."""
        return self.reason.split(":", 1)[0]


Parsed = Row | Refused


class Reason(StrEnum):
    """Why a row was refused; the counters of `Summary.refused` use these codes."""

    MISSING_PRODUCT_ID = "missing_product_id"
    DUPLICATE_PRODUCT_ID = "duplicate_product_id"
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    BROKEN_QUOTE = "broken_quote"
    MALFORMED_CSV = "malformed_csv"
    FIELD_COUNT = "field_count"
    MISSING_HANDLE = "missing_handle"
    HANDLE_NOT_CONTIGUOUS = "handle_not_contiguous"
    EMPTY_ROW = "empty_row"


class SourceError(ValueError):
    """The upload as a whole cannot be read (corrupt gzip, no header, a line too long...).

    Raised by `feed`/`close`; the caller refuses the whole upload (a truncated snapshot must
    never be applied: it would delete the products it lost).
    """


@dataclass
class Summary:
    """Counters of one upload.

    `rows_read` counts the data records parsed (not the header, not blank lines); every one
    of them ends up `emitted` (a `Row`), `refused` (by reason code) or, for Shopify, `merged`
    (an image-only row whose image went into its product's `images`).
    """

    lines: int = 0
    rows_read: int = 0
    emitted: int = 0
    merged: int = 0
    blank_lines: int = 0
    refused: Counter[str] = field(default_factory=Counter)

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "lines": self.lines,
            "rows_read": self.rows_read,
            "emitted": self.emitted,
            "merged": self.merged,
            "blank_lines": self.blank_lines,
            "refused": self.refused_total,
            "refused_by_reason": dict(sorted(self.refused.items())),
        }


def refusal(line: int, reason: Reason, detail: str, product_id: str | None = None) -> Refused:
    return Refused(line, f"{reason.value}: {detail}", product_id)


class RowChecker:
    """The checks every emitted row passes: column copies, a product_id, no duplicate.

    `copies` are the `columns` option (source column → attribute): the value is copied, the
    source column stays, so the dataflow can still use it.
    """

    __slots__ = ("_check_duplicates", "_copies", "_seen", "summary")

    def __init__(
        self, copies: dict[str, str], summary: Summary, check_duplicates: bool = True
    ) -> None:
        self._copies = tuple(copies.items())
        self._seen: dict[str, int] = {}
        self._check_duplicates = check_duplicates
        self.summary = summary

    def check(self, line: int, data: dict[str, str]) -> Parsed:
        for source, target in self._copies:
            data[target] = data.get(source, "")
        product_id = data.get("product_id", "")
        if not product_id or product_id.isspace():
            return self.refuse(
                refusal(line, Reason.MISSING_PRODUCT_ID, "the row has no product_id")
            )
        if self._check_duplicates:
            first = self._seen.setdefault(product_id, line)
            if first != line:
                return self.refuse(
                    refusal(
                        line,
                        Reason.DUPLICATE_PRODUCT_ID,
                        f"product_id already on line {first}",
                        product_id,
                    )
                )
        self.summary.emitted += 1
        return Row(line, data)

    def refuse(self, refused: Refused) -> Refused:
        self.summary.refused[refused.code] += 1
        return refused

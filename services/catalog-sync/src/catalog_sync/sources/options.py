"""How an upload is read: the `source` block of a feed file (docs/feeds.md, "Product sources")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Format = Literal["csv", "ndjson", "shopify"]
FORMATS: tuple[Format, ...] = ("csv", "ndjson", "shopify")


class SourceOptions(BaseModel):
    """Options of the streaming parsers; every field has a default that suits most uploads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    delimiter: str = Field(
        default=",",
        description="CSV field delimiter, one character (`\\t` for tab-separated files).",
    )
    quotechar: str = Field(default='"', description='CSV quote character (RFC 4180: `"`).')
    columns: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Source column → attribute, e.g. `{SKU: product_id, Parent: parent_id}`. The value "
            "is copied before the product_id check; the source column is kept as well."
        ),
    )
    check_duplicates: bool = Field(
        default=True,
        description=(
            "Refuse a second row with a product_id already seen in this upload (keeps one "
            "dict entry per product in memory)."
        ),
    )
    max_record_bytes: int = Field(
        default=1 << 20,
        ge=1024,
        description=(
            "A CSV record still open (inside quotes) beyond this many characters is refused "
            "as a broken quote from the line it started on; parsing resumes on the next line."
        ),
    )
    max_line_bytes: int = Field(
        default=16 << 20,
        ge=1024,
        description="A physical line longer than this makes the whole upload unreadable.",
    )

    @field_validator("delimiter", "quotechar")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if value == "\\t":
            value = "\t"
        if len(value) != 1 or value in "\r\n":
            raise ValueError("must be exactly one character other than a line break")
        return value

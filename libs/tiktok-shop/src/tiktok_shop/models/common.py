"""Shared model plumbing: unknown fields are kept (extra="allow"), ids are strings."""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from ..errors import ItemError


def _to_str(value: Any) -> Any:
    # TikTok sends ids as strings, but some payloads (webhooks, old samples) use numbers.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Id = Annotated[str, BeforeValidator(_to_str)]


def invalid_fields(exc: pydantic.ValidationError) -> str:
    """Where a payload failed validation ("fields: skus.0.id, ..."), never the values."""
    return "fields: " + ", ".join(sorted({".".join(map(str, e["loc"])) for e in exc.errors()}))


class TikTokModel(BaseModel):
    """Base of every request and response model: tolerant of fields TikTok adds later."""

    # hide_input_in_errors: a validation error must not quote the payload, which can hold
    # tokens (token grant) or buyer data (order address) -- error texts end up in logs.
    model_config = ConfigDict(extra="allow", populate_by_name=True, hide_input_in_errors=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        """`null` for a field with a non-null default (`[]`, `False`...) means "absent".

        Backends often marshal an empty list as `null`; a successful answer must not fail
        on that. Required fields keep failing on null: that answer is malformed.
        """
        if not isinstance(data, dict) or None not in data.values():
            return data
        fields = cls.model_fields
        return {
            key: value
            for key, value in data.items()
            if value is not None
            or key not in fields
            or fields[key].is_required()
            or fields[key].default is None
        }

    def to_body(self) -> dict[str, Any]:
        """JSON body as TikTok expects it: no nulls, aliases applied."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


class Price(TikTokModel):
    """Money is a decimal STRING plus an ISO currency code."""

    amount: str
    currency: str


class ImageRef(TikTokModel):
    uri: str


class ItemErrorModel(TikTokModel):
    code: int = 0
    message: str = ""
    detail: dict[str, Any] = {}


class BatchResult(TikTokModel):
    """`data` of batch writes: per-item failures inside a `code: 0` envelope."""

    errors: list[ItemErrorModel] = []

    @property
    def item_errors(self) -> list[ItemError]:
        return [
            ItemError(code=e.code, message=e.message, detail=dict(e.detail)) for e in self.errors
        ]

    @property
    def ok(self) -> bool:
        return not self.errors


class Page(TikTokModel):
    next_page_token: str | None = None
    total_count: int | None = None

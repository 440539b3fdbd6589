"""Query parsing and keyset paging shared by orders search and package search.

Messages follow the documented `36009004 "param <where>.<name> is ..."` pattern.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ApiError

PARAM_ERROR = 36009004
SORT_FIELDS = ("create_time", "update_time")
TIME_FILTERS = ("create_time_ge", "create_time_lt", "update_time_ge", "update_time_lt")


@dataclass(frozen=True)
class Paging:
    page_size: int
    page_token: str
    sort_field: str
    descending: bool


def parse_paging(params: Mapping[str, str]) -> Paging:
    """`page_size` (required, 1-100), `page_token`, `sort_field`, `sort_order` (default DESC)."""
    raw = params.get("page_size")
    if raw is None or raw == "":
        raise ApiError(PARAM_ERROR, "param query.page_size is missing")
    try:
        size = int(raw)
    except ValueError:
        raise ApiError(PARAM_ERROR, "param query.page_size is invalid") from None
    if not 1 <= size <= 100:
        raise ApiError(PARAM_ERROR, "param query.page_size is invalid: must be between 1 and 100")
    sort_field = params.get("sort_field") or "create_time"
    if sort_field not in SORT_FIELDS:
        raise ApiError(PARAM_ERROR, "param query.sort_field is invalid: create_time or update_time")
    sort_order = (params.get("sort_order") or "DESC").upper()
    if sort_order not in ("ASC", "DESC"):
        raise ApiError(PARAM_ERROR, "param query.sort_order is invalid: ASC or DESC")
    return Paging(size, params.get("page_token") or "", sort_field, sort_order == "DESC")


def parse_time_filters(body: Mapping[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name in TIME_FILTERS:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ApiError(PARAM_ERROR, f"param body.{name} is invalid: Unix seconds expected")
        out[name] = value
    return out


def parse_enum(body: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    if value not in allowed:
        raise ApiError(PARAM_ERROR, f"param body.{name} is invalid: one of {', '.join(allowed)}")
    return str(value)


def paginate(items: list[dict[str, Any]], paging: Paging) -> tuple[list[dict[str, Any]], str]:
    """The page of `items` after the cursor, in sort order, plus the next cursor ("" = last).

    Keyset paging on (sort value, id): stable while new items arrive between pages. Only the
    items past the cursor are ranked, and only the page's worth of them (a heap, not a sort of
    the whole shop), so a search stays cheap at 100,000 orders.
    """
    field, page_size, descending = paging.sort_field, paging.page_size, paging.descending

    def key(item: dict[str, Any]) -> tuple[int, int]:
        return item[field], int(item["id"])

    after = items
    if paging.page_token:
        value, item_id = decode_cursor(paging.page_token)
        # The sort value alone decides most items; the id only breaks ties at the cursor.
        if descending:
            after = [
                it
                for it in items
                if it[field] < value or (it[field] == value and int(it["id"]) < item_id)
            ]
        else:
            after = [
                it
                for it in items
                if it[field] > value or (it[field] == value and int(it["id"]) > item_id)
            ]
    pick = heapq.nlargest if descending else heapq.nsmallest
    window = pick(page_size + 1, after, key=key)
    page = window[:page_size]
    more = len(window) > page_size
    return page, encode_cursor(*key(page[-1])) if more and page else ""


def encode_cursor(sort_value: int, item_id: int) -> str:
    # Standard base64 on purpose: real page tokens contain '+' and '/' ("Sign your API request"),
    # so clients must sign them decoded and send them percent-encoded.
    return base64.b64encode(_CURSOR.pack(sort_value, item_id)).decode()


def decode_cursor(token: str) -> tuple[int, int]:
    try:
        value, order_id = _CURSOR.unpack(base64.b64decode(token, validate=True))
        return int(value), int(order_id)
    except (binascii.Error, struct.error, ValueError):
        raise ApiError(36009004, "param page_token is invalid") from None


_CURSOR = struct.Struct(">qQ")

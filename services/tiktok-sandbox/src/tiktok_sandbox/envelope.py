"""The TikTok response envelope `{code, message, request_id, data}`, rendered with orjson."""

from __future__ import annotations

import os
import time
from typing import Any

import orjson
from fastapi import Response

from .errors import ApiError


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def new_request_id() -> str:
    """Shaped like TikTok's sample: UTC yyyymmddHHMMSS + 20 upper-case hex chars (34 chars)."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + os.urandom(10).hex().upper()


def ok(data: Any = None, request_id: str | None = None) -> Response:
    """A success envelope (code 0, message "Success"). `data=None` renders as `{}`."""
    body = {
        "code": 0,
        "message": "Success",
        "request_id": request_id or new_request_id(),
        "data": {} if data is None else data,
    }
    return JsonResponse(body)


def error_response(err: ApiError, request_id: str | None = None) -> Response:
    body = {
        "code": err.code,
        "message": err.message,
        "request_id": request_id or new_request_id(),
        "data": err.data,
    }
    return JsonResponse(body, status_code=err.http_status)

"""The one error type of the sandbox: a TikTok business error rendered in the envelope."""

from __future__ import annotations


class ApiError(Exception):
    """A TikTok-style error: business `code`, verbatim `message`, HTTP status (200 for most)."""

    def __init__(
        self, code: int, message: str, http_status: int = 200, data: object = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status
        self.data = data

"""Upload routes get the body size and the time a large snapshot needs; other routes do not."""

from __future__ import annotations

from catalog_sync.app import create_app
from catalog_sync.config import Settings


def test_uploads_have_their_own_limits() -> None:
    settings = Settings()
    limits = create_app(settings).state.http_limits
    upload = "/v1/feeds/0f6c8e8d-5e4a-43a9-a3e5-d1b0b7f0a01a/products"
    assert limits.body_limit(upload) == settings.max_upload_bytes
    assert limits.timeouts_for(upload) == (
        settings.upload_body_timeout_seconds,
        settings.upload_request_timeout_seconds,
    )
    assert limits.body_limit("/healthz") == settings.max_body_bytes
    assert limits.timeouts_for("/healthz") == (
        settings.body_timeout_seconds,
        settings.request_timeout_seconds,
    )

"""catalog-sync settings (env prefix `TTS_`)."""

from __future__ import annotations

from pydantic import Field
from tts_common.settings import ServiceSettings


class Settings(ServiceSettings):
    http_port: int = Field(default=8102, ge=1, le=65535)
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:55432/catalog_sync"
    # Product uploads (PUT /v1/feeds/{id}/products, /v1/sources/…) may be this large (gzip or
    # not); every other request keeps TTS_MAX_BODY_BYTES.
    max_upload_bytes: int = Field(default=4 * 1024**3, ge=1024)

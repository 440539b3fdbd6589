"""order-ingest settings (env prefix `TTS_`)."""

from __future__ import annotations

from pydantic import Field
from tts_common.settings import ServiceSettings

from order_ingest.push.config import PushSettings
from order_ingest.retention import RetentionSettings


class Settings(ServiceSettings, PushSettings, RetentionSettings):  # TTS_PUSH_*, TTS_PII_*
    http_port: int = Field(default=8103, ge=1, le=65535)
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:55432/order_ingest"

"""Settings fragments shared by every service (env prefix `TTS_`).

A service composes its own `BaseSettings` class from these fragments; invalid
values make the process refuse to start with a message naming the setting.
"""

from __future__ import annotations

import sys
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tts_common.api_auth import check_api_keys

PLACEHOLDER = "change-me"


class ServiceSettings(BaseSettings):
    """Settings every service has: identity, HTTP, database, Kafka, logging."""

    # hide_input_in_errors: a mis-pasted secret never appears in a validation error text.
    model_config = SettingsConfigDict(
        env_prefix="TTS_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    environment: Literal["dev", "test", "prod"] = "dev"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8100, ge=1, le=65535)
    # HTTP limits (tts_common.http; docs/architecture.md, "HTTP limits and headers"). A route
    # that needs a larger body gets it with `tts_common.http.allow_body(app, prefix, bytes)`.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    body_timeout_seconds: float = Field(default=15.0, gt=0)
    request_timeout_seconds: float = Field(default=60.0, ge=0)  # 0: no request timeout
    http_keep_alive_seconds: int = Field(default=5, ge=1, le=300)
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:55432/postgres"
    db_pool_size: int = Field(default=10, ge=1, le=200)
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Prepended to every consumer group id of this process ("" in production). Tests give each
    # app its own prefix so that two test runs on one broker never share (and split) a group.
    consumer_group_prefix: str = ""
    # Epoch ms: a consumer group with no committed offset starts at the first event written
    # at or after it, not at the earliest (unset in production). Tests set it to the session's
    # start, so earlier test runs' events on a kept broker are skipped (read by every consumer
    # runner, tts_common.kafka.new_group_start_ms).
    kafka_new_group_start_ms: int | None = Field(default=None, ge=0)
    # API clients: comma-separated `client|scope+scope|sha256:<hex>` (hashes only; see
    # tts_common.api_auth). Unset in dev/test: the published dev key. SecretStr so that a raw
    # key pasted here by mistake is never echoed.
    api_keys: SecretStr = SecretStr("")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    # `serve --no-workers` sets run_workers=false (API only); `consume` sets serve_api=false
    # (relay, consumers and workers, with health/readiness/metrics only).
    run_workers: bool = True
    serve_api: bool = True
    # How often the outbox and consumer-lag gauges of /metrics are sampled (tts_common.metrics).
    metrics_sample_seconds: float = Field(default=5.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _asyncpg_url(cls, v: str) -> str:
        if v.startswith("postgresql://") or v.startswith("postgres://"):
            v = "postgresql+asyncpg://" + v.split("://", 1)[1]
        if not v.startswith("postgresql+asyncpg://"):
            raise ValueError(
                "must be a PostgreSQL URL, e.g. postgresql+asyncpg://user@host:5432/db"
            )
        return v

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap(cls, v: str) -> str:
        for part in v.split(","):
            host, _, port = part.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError("must be host:port[,host:port...], e.g. 127.0.0.1:9092")
        return v

    @field_validator("api_keys")
    @classmethod
    def _api_keys(cls, v: SecretStr, info: ValidationInfo) -> SecretStr:
        check_api_keys(v.get_secret_value(), info.data.get("environment"))
        return v

    def refuse_placeholder(self, name: str, value: SecretStr | str) -> None:
        """Outside dev/test, a placeholder secret is a configuration error."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if self.environment == "prod" and (not raw or raw == PLACEHOLDER):
            raise ValueError(f"TTS_{name.upper()} must be set to a real secret in prod")


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S]) -> S:
    """Build settings from the environment or exit with a message naming each bad setting."""
    try:
        return cls()
    except ValidationError as exc:
        prefix = cls.model_config.get("env_prefix", "")
        lines = []
        for err in exc.errors():
            name = (prefix + ".".join(str(p) for p in err["loc"])).upper()
            lines.append(f"  {name}: {err['msg']}")
        sys.stderr.write("invalid settings, refusing to start:\n" + "\n".join(lines) + "\n")
        raise SystemExit(2) from None


def register_settings_secrets(settings: BaseSettings) -> None:
    """Scrub every secret setting from all logs: `SecretStr` fields and the database password.

    Pinned: the scrubber keeps them forever, however many runtime tokens come and go.
    """
    from sqlalchemy.engine import make_url

    from tts_common.logging import register_secret

    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            register_secret(value, pinned=True)
        elif name == "database_url" and isinstance(value, str):
            register_secret(make_url(value).password, pinned=True)

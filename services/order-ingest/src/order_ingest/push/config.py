"""Settings of the OMS push (env `TTS_PUSH_*`), mixed into order-ingest's `Settings`."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field

from order_ingest.push.schedule import RetryPolicy


class PushSettings(BaseModel):
    push_concurrency: int = Field(default=8, ge=1, le=256)  # requests in flight per process
    push_poll_seconds: float = Field(default=0.5, gt=0)  # how often an idle worker looks
    push_timeout_seconds: float = Field(default=10.0, gt=0)  # one request, connect to answer
    # How long a claimed delivery belongs to its worker: longer than a request may take, so
    # only a worker that died (or hung) loses it to another.
    push_lease_seconds: float = Field(default=60.0, gt=0)
    push_backoff_base_seconds: float = Field(default=5.0, gt=0)
    push_backoff_cap_seconds: float = Field(default=3600.0, gt=0)
    push_max_attempts: int = Field(default=12, ge=1)
    push_max_age_hours: float = Field(default=72.0, gt=0)

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            base_s=self.push_backoff_base_seconds,
            cap_s=self.push_backoff_cap_seconds,
            max_attempts=self.push_max_attempts,
            max_age=timedelta(hours=self.push_max_age_hours),
        )

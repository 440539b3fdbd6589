"""What the service layer needs, wired once by the composition root (app.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth_broker.config import Settings
from auth_broker.crypto import TokenCipher
from auth_broker.metrics import BrokerMetrics
from auth_broker.tiktok import TikTokAuthPort


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class BrokerContext:
    sessions: async_sessionmaker[AsyncSession]
    cipher: TokenCipher
    tiktok: TikTokAuthPort
    settings: Settings
    clock: Callable[[], datetime] = field(default=utcnow)
    # A private registry by default, so tests may build many contexts in one process.
    metrics: BrokerMetrics = field(
        default_factory=lambda: BrokerMetrics.create(CollectorRegistry())
    )

"""Prometheus counters of the broker (registered on the app's registry, served at /metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_SAMPLE = text("SELECT id, status, access_expires_at, refresh_expires_at FROM connections")


@dataclass(frozen=True)
class BrokerMetrics:
    leases: Counter
    refreshes: Counter
    token_expiry: Gauge
    connections: Gauge

    async def sample(self, session: AsyncSession, now: datetime) -> None:
        """Seconds to expiry of each connection's tokens, and connections by status."""
        rows: list[Any] = list(await session.execute(_SAMPLE))
        self.token_expiry.clear()
        self.connections.clear()
        by_status: dict[str, int] = {}
        for row in rows:
            by_status[row.status] = by_status.get(row.status, 0) + 1
            for token, at in (
                ("access", row.access_expires_at),
                ("refresh", row.refresh_expires_at),
            ):
                if at is not None and row.status in ("active", "expiring"):
                    self.token_expiry.labels(str(row.id), token).set((at - now).total_seconds())
        for status, n in by_status.items():
            self.connections.labels(status).set(n)

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> BrokerMetrics:
        return cls(
            leases=Counter(
                "auth_broker_leases_total",
                "Token leases by outcome (ok, conflict, not_found, unavailable, error)",
                ["outcome"],
                registry=registry,
            ),
            refreshes=Counter(
                "auth_broker_token_refreshes_total",
                "TikTok refresh calls made by this replica, by outcome (ok, refused, failed)",
                ["outcome"],
                registry=registry,
            ),
            token_expiry=Gauge(
                "auth_broker_token_expiry_seconds",
                "Seconds until a usable connection's access or refresh token expires",
                ["connection_id", "token"],
                registry=registry,
            ),
            connections=Gauge(
                "auth_broker_connections",
                "Connections by status (pending, active, expiring, expired, revoked)",
                ["status"],
                registry=registry,
            ),
        )

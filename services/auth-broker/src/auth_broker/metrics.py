"""Prometheus counters of the broker (registered on the app's registry, served at /metrics)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter


@dataclass(frozen=True)
class BrokerMetrics:
    leases: Counter
    refreshes: Counter

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
        )

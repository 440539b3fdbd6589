"""Ship calls gathered per shop: a lone one is a Ship Package call, several one batch; a
refused package fails alone, a failed call fails every package of it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from shipment_notifier.batching import PackageRefused, ShipBatcher
from tiktok_shop import OutcomeUnknownError
from tiktok_shop.models.fulfillment import BatchShipResult


class _Fulfillment:
    def __init__(self, refuse: set[str] | None = None, fail: bool = False) -> None:
        self.single: list[str] = []
        self.batches: list[list[str]] = []
        self.refuse, self.fail = refuse or set(), fail

    async def ship_package(self, package_id: str, request: Any) -> None:
        self.single.append(package_id)
        if self.fail:
            raise OutcomeUnknownError("lost", operation="shipPackage")

    async def batch_ship_packages(self, packages: Any) -> BatchShipResult:
        self.batches.append([p.id for p in packages])
        if self.fail:
            raise OutcomeUnknownError("lost", operation="shipPackage")
        errors = [
            {"code": 21011007, "message": "already shipped", "detail": {"package_id": p.id}}
            for p in packages
            if p.id in self.refuse
        ]
        return BatchShipResult.model_validate({"errors": errors})


class _Shop:
    def __init__(self, fulfillment: _Fulfillment) -> None:
        self.fulfillment = fulfillment


class _TikTok:
    def __init__(self, fulfillment: _Fulfillment) -> None:
        self._shop = _Shop(fulfillment)

    def shop(self, connection_id: str) -> _Shop:
        return self._shop


async def test_a_lone_package_is_one_ship_package_call() -> None:
    f = _Fulfillment()
    batcher = ShipBatcher(_TikTok(f), 0.0)  # type: ignore[arg-type]
    await batcher.ship("c", "p1", "T1", "prov")
    assert f.single == ["p1"] and f.batches == []


async def test_packages_ready_together_share_a_batch_and_a_refusal_fails_alone() -> None:
    f = _Fulfillment(refuse={"p2"})
    batcher = ShipBatcher(_TikTok(f), 0.01)  # type: ignore[arg-type]
    results = await asyncio.gather(
        *(batcher.ship("c", f"p{i}", f"T{i}", "prov") for i in range(1, 4)),
        return_exceptions=True,
    )
    assert f.batches == [["p1", "p2", "p3"]] and f.single == []
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], PackageRefused) and results[1].code == 21011007


async def test_a_failed_call_fails_every_package_of_it() -> None:
    f = _Fulfillment(fail=True)
    batcher = ShipBatcher(_TikTok(f), 0.01)  # type: ignore[arg-type]
    results = await asyncio.gather(
        batcher.ship("c", "p1", "T1", "prov"),
        batcher.ship("c", "p2", "T2", "prov"),
        return_exceptions=True,
    )
    assert all(isinstance(r, OutcomeUnknownError) for r in results)
    with pytest.raises(OutcomeUnknownError):
        await batcher.ship("c", "p3", "T3", "prov")  # a later one gets a flusher of its own
    assert f.single == ["p3"]

"""The run executor's mechanics on real PostgreSQL, with a stand-in performer (no TikTok): at
most `concurrency` products in flight (and that many reached), a pause stops the products not
started, a cancel stops the run. The performer's gate waits on a condition, never a sleep."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from catalog_sync import feeds, products, runs, state
from catalog_sync.app import NAME
from catalog_sync.cli import MIGRATIONS
from catalog_sync.delta import Plan
from catalog_sync.schemas import FeedIn
from catalog_sync.testing import MUG, GeneratedFeed, product_rows, seed_taxonomy_cache
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tts_common.db import create_engine, session_factory, session_scope
from tts_common.migrate import migrate_async

pytestmark = pytest.mark.integration

CONNECTION = "5f0c7a52-8d8b-4c1e-9a43-0d6f3b0c2a11"
PRODUCTS = 12


@dataclass(frozen=True)
class Hashes:
    price_hash: str
    inventory_hash: str


@dataclass(frozen=True)
class Built:
    """What the payload builder gives the planner, as far as the plan goes."""

    content_hash: str
    skus: dict[str, Hashes]
    errors: tuple[Any, ...] = ()


async def build(rows: list[dict[str, str]], run: runs.RunState) -> Built:
    return Built("c", {r["product_id"]: Hashes("p", "i") for r in rows})


@dataclass
class GatedPerformer(runs.Performer):
    """Holds each product until `width` are in flight together (or the run has no more)."""

    width: int
    pause_at: int | None = None  # the n-th call raises Pause
    in_flight: int = 0
    most: int = 0
    calls: int = 0
    full: asyncio.Event = field(default_factory=asyncio.Event)

    async def perform(
        self, run: runs.RunState, parent_id: str, built: Any, record: Any, todo: Plan
    ) -> list[state.Outcome]:
        self.calls += 1
        if self.pause_at is not None and self.calls >= self.pause_at:
            raise runs.Pause("the feed's connection cannot be used: revoked")
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        if self.in_flight >= self.width:
            self.full.set()
        try:
            await asyncio.wait_for(self.full.wait(), timeout=30)
        finally:
            self.in_flight -= 1
        return [state.Outcome("create", "ok")]

    async def delete(self, run: runs.RunState, products: dict[str, str]) -> dict[str, Any]:
        return {}


@pytest.fixture
async def sessions(fresh_database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await migrate_async(fresh_database, MIGRATIONS, NAME)
    engine = create_engine(fresh_database)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def _feed_with_products(sessions: async_sessionmaker[AsyncSession]) -> Any:
    rng = random.Random(5)
    generated = GeneratedFeed([], {}, {})
    async with session_scope(sessions) as session:
        feed = await feeds.create_feed(
            session, FeedIn(name="gated", market="UK", active=True, connection_id=CONNECTION)
        )
        await seed_taxonomy_cache(session, CONNECTION)
        for i in range(PRODUCTS):
            for row in product_rows(rng, f"P{i:03d}", 1 + i % 3, MUG, None, generated):
                await products.upsert_one(session, feed.source_id, row)
    return feed


async def _run(sessions: async_sessionmaker[AsyncSession], feed: Any) -> str:
    async with session_scope(sessions) as session:
        started = await runs.start(session, feed, dry_run=False)
    run_id = await runs.claim(sessions, 60)
    assert run_id == started["id"]
    return str(run_id)


async def _get(sessions: async_sessionmaker[AsyncSession], feed: Any, run_id: str) -> Any:
    async with session_scope(sessions) as session:
        return await runs.get(session, feed.id, run_id)


async def test_products_in_flight_reach_and_never_pass_the_concurrency(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    feed = await _feed_with_products(sessions)
    performer = GatedPerformer(width=3)
    run_id = await _run(sessions, feed)
    status = await runs.execute(sessions, run_id, performer, concurrency=3, build=build)
    assert status == "succeeded"
    assert (performer.most, performer.calls) == (3, PRODUCTS)
    run = await _get(sessions, feed, run_id)
    assert run["counts"] == {"create": {"ok": PRODUCTS}}, run["counts"]
    assert run["progress"] == {"done": PRODUCTS, "total": PRODUCTS}


async def test_a_pause_stops_the_products_not_started(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    feed = await _feed_with_products(sessions)
    performer = GatedPerformer(width=99, pause_at=1)  # every call finds the connection gone
    run_id = await _run(sessions, feed)
    status = await runs.execute(sessions, run_id, performer, concurrency=4, build=build)
    assert status == "paused"
    assert performer.calls <= 4  # the products in flight, not one per product
    run = await _get(sessions, feed, run_id)
    assert "revoked" in run["reason"] and run["counts"] == {}, run
    async with session_scope(sessions) as session:
        reason = await session.scalar(
            text("SELECT paused_reason FROM feeds WHERE id = :f"), {"f": feed.id}
        )
        failed = await session.scalar(text("SELECT count(*) FROM feedback"))
    assert reason == run["reason"] and failed == 0


async def test_a_cancel_stops_the_run(sessions: async_sessionmaker[AsyncSession]) -> None:
    feed = await _feed_with_products(sessions)
    run_id = await _run(sessions, feed)

    class CancelOnFirst(GatedPerformer):
        async def perform(self, run: runs.RunState, *args: Any) -> list[state.Outcome]:
            self.calls += 1
            if self.calls == 1:
                halted = asyncio.Event()
                halt = run.halt

                def noticed(status: str, reason: str) -> None:
                    halt(status, reason)
                    halted.set()

                run.halt = noticed  # type: ignore[method-assign]
                async with session_scope(sessions) as session:
                    await runs.cancel(session, feed.id, run_id)
                # The run sees the cancel at its next progress write.
                await asyncio.wait_for(halted.wait(), timeout=30)
            return [state.Outcome("create", "ok")]

    performer = CancelOnFirst(width=1)
    status = await runs.execute(
        sessions, run_id, performer, concurrency=1, build=build, progress_seconds=0.05
    )
    assert status == "cancelled"
    run = await _get(sessions, feed, run_id)
    assert run["reason"] == "cancelled on request" and performer.calls < PRODUCTS, run


async def test_products_in_flight_commit_their_results_together(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The run's group commit: the products released together write their deferred state and
    their results in shared transactions, each product's rows all there."""
    feed = await _feed_with_products(sessions)
    seen: list[runs.RunState] = []

    class Deferring(GatedPerformer):
        async def perform(
            self, run: runs.RunState, parent_id: str, built: Any, record: Any, todo: Plan
        ) -> list[state.Outcome]:
            seen.append(run)
            outcomes = await super().perform(run, parent_id, built, record, todo)
            # What the answer taught: written with the result, not on its own.
            run.defer(parent_id, state.save_op(
                feed.id, parent_id, status="live", tiktok_product_id=f"tt-{parent_id}",
                content_hash="c", skus={}, payload=None,
            ))  # fmt: skip
            return outcomes

    performer = Deferring(width=PRODUCTS)
    run_id = await _run(sessions, feed)
    status = await runs.execute(sessions, run_id, performer, concurrency=PRODUCTS, build=build)
    assert status == "succeeded"
    writer = seen[0].writer
    assert writer.items == PRODUCTS and writer.batches < PRODUCTS, (writer.batches, writer.items)
    assert seen[0].deferred == {}
    async with session_scope(sessions) as session:
        live = await session.scalar(
            text(
                "SELECT count(*) FROM tiktok_products WHERE feed_id = :f AND status = 'live'"
                " AND tiktok_product_id = 'tt-' || parent_id"
            ),
            {"f": feed.id},
        )
        counts = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM feedback WHERE feed_id = :f) AS feedback,"
                    " (SELECT count(*) FROM product_history WHERE feed_id = :f) AS history,"
                    " (SELECT count(*) FROM run_items WHERE run_id = :r) AS items,"
                    " (SELECT count(*) FROM outbox) AS events"
                ),
                {"f": feed.id, "r": run_id},
            )
        ).one()
    assert live == PRODUCTS
    assert (counts.feedback, counts.history, counts.items) == (PRODUCTS,) * 3
    assert counts.events == PRODUCTS  # a product.synced each: the row was live when read

"""TikTok webhooks: one durable insert, then 200; a worker fetches the orders they name.

`receive` checks the signature over the raw body ("TikTok Shop webhooks overview":
`Authorization` = hex HMAC-SHA256(app_secret, app_key + body); 401 when it does not verify),
then hands the notification to the process's `Intake`, which inserts it keyed by
`tts_notification_id` (`ON CONFLICT DO NOTHING`: a retry of a notification seen before is
acknowledged and not stored again) and answers only after the commit. The intake is a group
commit: the notifications that arrive while one insert transaction runs go into the next one
together, so a burst of webhooks costs a few transactions, not one each — the acknowledgement
stays fast at hundreds per second. Nothing else runs before the answer.

`run_webhooks` (a worker) leases due rows with `FOR UPDATE SKIP LOCKED`, fetches the orders
they name with "Get Order Detail 202309" (≤ 50 ids a call) and stores them (order_ingest.store:
versions, events) in the same transaction that marks the rows processed. A failed batch comes
due again with a growing delay. The poller remains the safety net for webhooks TikTok never
delivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tiktok_shop.webhooks import parse_webhook, verify_webhook
from tts_common.app import Runtime
from tts_common.db import session_scope
from tts_common.errors import BadRequest, Unauthorized

from order_ingest import store, tiktok
from order_ingest.config import Settings

log = logging.getLogger(__name__)

ORDER_STATUS_CHANGE = 1
RECIPIENT_ADDRESS_UPDATE = 3
PACKAGE_UPDATE = 4
CANCELLATION_STATUS_CHANGE = 11
LEASE_SECONDS = 60
MAX_BACKOFF_SECONDS = 300

_INSERT = text(
    """
    INSERT INTO tiktok_webhooks (notification_id, shop_id, type, data)
    SELECT n.id, n.shop, n.type, CAST(n.data AS jsonb)
      FROM unnest(CAST(:ids AS text[]), CAST(:shops AS text[]), CAST(:types AS int[]),
                  CAST(:datas AS text[])) AS n(id, shop, type, data)
    ON CONFLICT (notification_id) DO NOTHING
    RETURNING notification_id
    """
)
# One insert transaction takes at most this many notifications.
INTAKE_BATCH = 500


@dataclass(frozen=True)
class Notification:
    id: str
    shop_id: str
    type: int
    data: str  # JSON


class Intake:
    """Group commit of received notifications (this module's docstring).

    The entrypoint of its own transactions: each batch commits before any of its requests is
    answered, so an acknowledged notification is durable. A failed commit fails every request
    of its batch (TikTok retries them); the next batch starts afresh.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._pending: list[tuple[Notification, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, note: Notification) -> bool:
        """True once the notification is committed as new, False if it was known already."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((note, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            batch = self._pending[:INTAKE_BATCH]
            del self._pending[:INTAKE_BATCH]
            first: dict[str, Notification] = {}
            for note, _ in batch:
                first.setdefault(note.id, note)
            try:
                async with session_scope(self._sessions) as session:
                    rows = await session.execute(
                        _INSERT,
                        {
                            "ids": list(first),
                            "shops": [n.shop_id for n in first.values()],
                            "types": [n.type for n in first.values()],
                            "datas": [n.data for n in first.values()],
                        },
                    )
                    inserted = {r[0] for r in rows}
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            # Within one batch a notification sent twice is new once.
            for note, future in batch:
                new = note.id in inserted
                inserted.discard(note.id)
                if not future.done():
                    future.set_result(new)


INTAKE = "webhook_intake"


def intake_of(rt: Runtime) -> Intake:
    intake: Intake | None = rt.extras.get(INTAKE)
    if intake is None:
        intake = rt.extras[INTAKE] = Intake(rt.sessions)
    return intake


async def receive(rt: Runtime, raw: bytes, authorization: str | None) -> str:
    """Verify and record one notification: 'accepted' or 'duplicate', after the commit."""
    settings: Settings = rt.settings  # type: ignore[assignment]
    secret = settings.tiktok_app_secret.get_secret_value()
    if not verify_webhook(settings.tiktok_app_key, secret, raw, authorization):
        raise Unauthorized(
            "the Authorization header is not TikTok's signature of this body",
            code="bad_signature",
        )
    try:
        event = parse_webhook(raw)
    except (ValidationError, orjson.JSONDecodeError, ValueError):
        raise BadRequest("signed, but not a TikTok notification", code="bad_webhook") from None
    note = Notification(
        event.tts_notification_id, event.shop_id, event.type, orjson.dumps(event.data).decode()
    )
    return "accepted" if await intake_of(rt).submit(note) else "duplicate"


def order_ids(type_: int, data: dict[str, Any]) -> list[str]:
    """The orders a notification is about (none for product or authorization events)."""
    if type_ in (ORDER_STATUS_CHANGE, RECIPIENT_ADDRESS_UPDATE, CANCELLATION_STATUS_CHANGE):
        oid = data.get("order_id")
        return [str(oid)] if oid else []
    if type_ == PACKAGE_UPDATE:
        return [
            str(oid)
            for package in data.get("package_list") or []
            for oid in package.get("order_id_list") or []
        ]
    return []


_LEASE = text(
    """
    UPDATE tiktok_webhooks w
       SET next_attempt_at = now() + make_interval(secs => :lease), attempts = w.attempts + 1
     WHERE w.notification_id IN (
        SELECT notification_id FROM tiktok_webhooks
         WHERE processed_at IS NULL AND next_attempt_at <= now()
         ORDER BY next_attempt_at
         LIMIT :limit
         FOR UPDATE SKIP LOCKED)
    RETURNING w.notification_id, w.shop_id, w.type, w.data, w.attempts
    """
)


async def _imports_for(rt: Runtime, shop_id: str) -> list[dict[str, Any]]:
    """Active imports of the shop; imports whose shop is not known yet learn it first."""
    client = tiktok.of(rt)
    async with session_scope(rt.sessions) as session:
        unknown = (
            await session.execute(
                text("SELECT id, connection_id FROM order_imports WHERE active AND shop_id IS NULL")
            )
        ).all()
    for row in unknown:
        try:
            shops = await client.shop_ids(row.connection_id)
        except Exception:
            continue
        async with session_scope(rt.sessions) as session:
            await session.execute(
                text("UPDATE order_imports SET shop_id = :s WHERE id = :i AND shop_id IS NULL"),
                {"s": shops[0] if shops else "", "i": row.id},
            )
    async with session_scope(rt.sessions) as session:
        rows = await session.execute(
            text(
                "SELECT id, connection_id, statuses, created_within_days FROM order_imports "
                "WHERE active AND shop_id = :s ORDER BY created_at, id"
            ),
            {"s": shop_id},
        )
        return [dict(r._mapping) for r in rows]


def _wanted(imp: dict[str, Any], order: dict[str, Any], now: float) -> bool:
    """Does a new order pass the import's filters (status set, earliest creation)?"""
    statuses = imp["statuses"] or []
    if statuses and order.get("status") not in statuses:
        return False
    days = imp["created_within_days"]
    return days is None or int(order.get("create_time") or 0) >= int(now) - days * 86400


async def process_shop(rt: Runtime, shop_id: str, rows: Sequence[Any]) -> None:
    """Fetch and store the orders of one shop's leased notifications; mark them processed."""
    ids = sorted({oid for r in rows for oid in order_ids(r.type, r.data)})
    imports = await _imports_for(rt, shop_id) if ids else []
    keys = [r.notification_id for r in rows]
    if not imports:
        async with session_scope(rt.sessions) as session:
            await _done(session, keys, None if not ids else "no active import for this shop")
        return
    client = tiktok.of(rt)
    primary = imports[0]
    orders: list[dict[str, Any]] = []
    for start in range(0, len(ids), 50):
        found = await client.shop(primary["connection_id"]).orders.get_order_detail(
            ids[start : start + 50]
        )
        orders.extend(o.model_dump(mode="json", exclude_none=True) for o in found.orders)
    now = time.time()
    async with session_scope(rt.sessions) as session:
        known = await store.existing_ids(session, [str(o["id"]) for o in orders])
        groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for order in orders:
            if str(order["id"]) in known:
                groups[0].append(order)  # imported before: always kept current
                continue
            for n, imp in enumerate(imports):
                if _wanted(imp, order, now):
                    groups[n].append(order)
                    break
        for n, batch in groups.items():
            imp = imports[n]
            await store.store(
                session,
                batch,
                connection_id=imp["connection_id"],
                shop_id=shop_id,
                import_id=str(imp["id"]),
                now=now,
            )
        await _done(session, keys, None)


async def _done(session: AsyncSession, keys: list[str], error: str | None) -> None:
    await session.execute(
        text(
            "UPDATE tiktok_webhooks SET processed_at = now(), error = :e "
            "WHERE notification_id = ANY(:k)"
        ),
        {"k": keys, "e": error},
    )


async def _retry_later(rt: Runtime, rows: Sequence[Any], error: str) -> None:
    async with session_scope(rt.sessions) as session:
        for r in rows:
            delay = min(MAX_BACKOFF_SECONDS, 2 ** min(r.attempts, 9))
            await session.execute(
                text(
                    "UPDATE tiktok_webhooks SET error = :e, "
                    "next_attempt_at = now() + make_interval(secs => :d) "
                    "WHERE notification_id = :k"
                ),
                {"e": error, "d": delay, "k": r.notification_id},
            )


async def process_due(rt: Runtime, limit: int = 200) -> int:
    """One pass: lease due notifications, process them shop by shop; how many were leased."""
    async with session_scope(rt.sessions) as session:
        rows = (await session.execute(_LEASE, {"lease": LEASE_SECONDS, "limit": limit})).all()
    by_shop: dict[str, list[Any]] = defaultdict(list)
    for r in rows:
        by_shop[r.shop_id].append(r)
    for shop_id, shop_rows in by_shop.items():
        try:
            await process_shop(rt, shop_id, shop_rows)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "webhook batch failed; retrying later",
                extra={"shop_id": shop_id, "error_class": type(exc).__name__},
            )
            await _retry_later(rt, shop_rows, type(exc).__name__)
    return len(rows)


WAKE = "webhook_wake"


def wake(rt: Runtime) -> None:
    """A notification was committed: the worker of this process need not wait its turn."""
    event: asyncio.Event | None = rt.extras.get(WAKE)
    if event is not None:
        event.set()


async def run_webhooks(rt: Runtime) -> None:
    """Worker: process received notifications as they come (woken by the route of this
    process, and looking every 0.1 s for those other processes received)."""
    settings: Settings = rt.settings  # type: ignore[assignment]
    woken = rt.extras[WAKE] = asyncio.Event()
    while True:
        woken.clear()
        try:
            leased = await process_due(rt)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook worker pass failed; retrying")
            leased = 0
        if leased == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), min(settings.worker_idle_seconds, 0.1))

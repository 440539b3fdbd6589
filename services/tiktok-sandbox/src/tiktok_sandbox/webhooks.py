"""Webhook subscriptions and signed deliveries.

CONTRACT (used by other sandbox modules; keep these signatures):
- `WebhookDispatcher(state)`: created once by `SandboxState`.
- `emit(shop_id: str, event_type: str, data: dict) -> None`: queue a delivery of
  `event_type` (e.g. "ORDER_STATUS_CHANGE", "PRODUCT_STATUS_CHANGE",
  "PRODUCT_AUDIT_STATUS_CHANGE", "SELLER_DEAUTHORIZATION",
  "UPCOMING_AUTHORIZATION_EXPIRATION") to every address subscribed for that shop.
  Never blocks, never raises.
- `async start()` / `async stop()`: run / stop the background delivery task (app lifespan).
- `subscribe(shop_id, event_type, address)`, `list(shop_id)`, `delete(shop_id, event_type)`.
- `snapshot() -> dict` counters and `deliveries(limit)` -> recent delivery attempts
  (served at `GET /sandbox/v1/webhooks/deliveries`).

Delivery: a bounded queue drained by a few worker tasks on the app's event loop. The
body is serialised once at emit time, so a retry re-sends the same bytes, the same
signature and the same `tts_notification_id`. A non-2xx answer or a transport error is
retried after each delay of `settings.webhook_retry_delays_seconds` (TikTok: 2 min,
30 min, 3 h, 12 h; tests use fractions of a second), then given up.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import contextlib
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from .errors import ApiError
from .snowflake import new_id
from .webhook_signing import EVENT_TYPES, encode_payload, sign_webhook

log = logging.getLogger("tiktok_sandbox.webhooks")

QUEUE_MAX = 10_000
WORKERS = 4
LOG_MAX = 2_000
MAX_ADDRESS_LENGTH = 255
# Topics OAS lists without a known type number: subscribable, never emitted here.
EXTRA_TOPICS = frozenset(
    {
        "NEW_CONVERSATION",
        "NEW_MESSAGE",
        "PRODUCT_CATEGORY_CHANGE",
        "NEW_MESSAGE_LISTENER",
        "INVOICE_STATUS_CHANGE",
    }
)
SUBSCRIBABLE = frozenset(EVENT_TYPES) | EXTRA_TOPICS


@dataclass
class Delivery:
    notification_id: str
    shop_id: str
    event_type: str
    address: str
    body: bytes
    attempt: int = 0


class WebhookDispatcher:
    def __init__(self, state: Any) -> None:
        self.state = state
        self._lock = threading.RLock()  # re-entrant: _drop may run under it
        self._subs: dict[str, dict[str, dict[str, Any]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Delivery] | None = None
        # Emitted before start() (or from another thread before the loop runs): kept here.
        self._pending: collections.deque[Delivery] = collections.deque()
        self._workers: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._client: httpx.AsyncClient | None = None
        self._log: collections.deque[dict[str, Any]] = collections.deque(maxlen=LOG_MAX)
        self.counters: Counter[str] = Counter()

    # ---- subscriptions -----------------------------------------------------------------
    def subscribe(self, shop_id: str, event_type: str, address: str) -> None:
        """Create or replace the shop's subscription to `event_type` (validated)."""
        if not event_type:
            raise ApiError(36009004, "param body.event_type is missing")
        if event_type not in SUBSCRIBABLE:
            raise ApiError(36009004, f"param body.event_type is invalid: {event_type}")
        if not address:
            raise ApiError(36009004, "param body.address is missing")
        if len(address) > MAX_ADDRESS_LENGTH:
            raise ApiError(
                36009004, f"param body.address is too long: at most {MAX_ADDRESS_LENGTH} chars"
            )
        parts = urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ApiError(36009004, "param body.address is invalid: an http(s) URL is required")
        now = self.state.clock.now_int()
        with self._lock:
            shop_subs = self._subs.setdefault(shop_id, {})
            existing = shop_subs.get(event_type)
            created = existing["create_time"] if existing else now
            shop_subs[event_type] = {
                "event_type": event_type,
                "address": address,
                "create_time": created,
                "update_time": now,
            }

    def list(self, shop_id: str) -> list[dict[str, Any]]:
        with self._lock:
            subs = self._subs.get(shop_id, {})
            return [dict(subs[k]) for k in sorted(subs)]

    def delete(self, shop_id: str, event_type: str) -> None:
        """Remove a subscription; deleting one that does not exist also succeeds."""
        with self._lock:
            self._subs.get(shop_id, {}).pop(event_type, None)

    # ---- emission ------------------------------------------------------------------------
    def emit(self, shop_id: str, event_type: str, data: dict[str, Any]) -> None:
        try:
            with self._lock:
                sub = self._subs.get(shop_id, {}).get(event_type)
                self.counters["emitted"] += 1
                if sub is None:
                    self.counters["not_subscribed"] += 1  # still counted: visible in stats
                    return
                address = sub["address"]
            nid = new_id()
            body = encode_payload(event_type, nid, shop_id, self.state.clock.now_int(), data)
            self._enqueue(Delivery(nid, shop_id, event_type, address, body))
        except Exception:  # the contract: emitting never breaks the caller
            log.exception("webhook emit failed for %s", event_type)

    def _enqueue(self, delivery: Delivery) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            with self._lock:
                if len(self._pending) >= QUEUE_MAX:
                    self._drop(delivery)
                else:
                    self._pending.append(delivery)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._put(delivery)
        else:  # emitted from another thread (e.g. a sync test calling the store)
            loop.call_soon_threadsafe(self._put, delivery)

    def _put(self, delivery: Delivery) -> None:
        assert self._queue is not None
        try:
            self._queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self._drop(delivery)

    def _count(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    def _drop(self, delivery: Delivery) -> None:
        self._count("dropped_queue_full")
        self._record(delivery, "dropped", None, "queue full")

    # ---- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        # The queue exists before the loop is published: emitters test `_loop` only.
        self._queue = asyncio.Queue(maxsize=QUEUE_MAX)
        self._loop = asyncio.get_running_loop()
        timeout = float(getattr(self.state.settings, "webhook_timeout_seconds", 5.0))
        self._client = httpx.AsyncClient(
            timeout=timeout, limits=httpx.Limits(max_connections=WORKERS * 2)
        )
        self._workers = [asyncio.create_task(self._work()) for _ in range(WORKERS)]
        with self._lock:
            pending, self._pending = list(self._pending), collections.deque()
        for delivery in pending:
            self._put(delivery)

    async def stop(self) -> None:
        for timer in list(self._timers):
            timer.cancel()
        self._timers.clear()
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._loop = None

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            delivery = await self._queue.get()
            try:
                await self._deliver(delivery)
            except Exception:  # one broken delivery must not kill the worker
                log.exception("webhook delivery crashed")
            finally:
                self._queue.task_done()

    async def _deliver(self, delivery: Delivery) -> None:
        assert self._client is not None
        settings = self.state.settings
        delivery.attempt += 1
        headers = {
            "Content-Type": "application/json",
            "Authorization": sign_webhook(settings.app_key, settings.app_secret, delivery.body),
        }
        status: int | None = None
        error = ""
        try:
            resp = await self._client.post(delivery.address, content=delivery.body, headers=headers)
            status = resp.status_code
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        if status is not None and 200 <= status < 300:
            self._count("delivered")
            self._record(delivery, "delivered", status, "")
            return
        self._count("failed_attempts")
        delays = tuple(getattr(settings, "webhook_retry_delays_seconds", (1.0, 2.0, 5.0)))
        if delivery.attempt <= len(delays):
            delay = float(delays[delivery.attempt - 1])
            self._count("retries_scheduled")
            self._record(delivery, "retrying", status, error or f"HTTP {status}")
            self._schedule(delivery, delay)
        else:
            self._count("gave_up")
            self._record(delivery, "gave_up", status, error or f"HTTP {status}")

    def _schedule(self, delivery: Delivery, delay: float) -> None:
        assert self._loop is not None

        def fire() -> None:
            self._timers.discard(handle)
            self._put(delivery)

        handle = self._loop.call_later(delay, fire)
        self._timers.add(handle)

    # ---- inspection ----------------------------------------------------------------------
    def _record(self, delivery: Delivery, outcome: str, status: int | None, error: str) -> None:
        # The signature is deliberately not logged: it is a credential-derived value.
        self._log.append(
            {
                "tts_notification_id": delivery.notification_id,
                "shop_id": delivery.shop_id,
                "event_type": delivery.event_type,
                "type": EVENT_TYPES.get(delivery.event_type),
                "address": delivery.address,
                "attempt": delivery.attempt,
                "outcome": outcome,
                "http_status": status,
                "error": error,
                "time": time.time(),
                "payload": orjson.loads(delivery.body),
            }
        )

    def deliveries(self, limit: int = 100) -> builtins.list[dict[str, Any]]:
        """The most recent delivery attempts, newest last."""
        records = list(self._log)
        return records[-limit:] if limit > 0 else []

    def snapshot(self) -> dict[str, Any]:
        queued = self._queue.qsize() if self._queue is not None else len(self._pending)
        with self._lock:
            counters = dict(self.counters)
        return {**counters, "queued": queued, "retry_timers": len(self._timers)}

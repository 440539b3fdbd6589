"""The OMS push: queue a delivery per order event and import, and send the due ones.

Two halves, each with its own entrypoint (docs/architecture.md, "The transaction rule"):

- `on_order_event` consumes the service's own `order.*` events in the consumer group
  `order-ingest-push`; the runner commits the queued rows with the event's inbox entry, so a
  redelivered event queues nothing twice (and the key is unique anyway).
- `push_worker` claims due rows (committed), sends them concurrently, and commits each
  outcome on its own: one slow OMS holds back nothing else.

Success is any 2xx answer; anything else (another status, a timeout, a refused connection)
is retried with backoff until the budget is spent, then the delivery is dead (replayable
through the API). The push secret is registered with the log scrubber as soon as it is read
and is never part of an error, a log line or a response.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tts_common.app import Runtime
from tts_common.db import session_scope
from tts_common.events import ORDER_RECEIVED
from tts_common.logging import redact_text, register_secret
from tts_common.subscriptions import Subscription, current_event

from order_ingest.push import payload, signing, store
from order_ingest.push.config import PushSettings
from order_ingest.push.schedule import RetryPolicy

log = logging.getLogger(__name__)

PUSH_GROUP = "order-ingest-push"
USER_AGENT = "tts-order-ingest-push/1"


async def on_order_event(session: AsyncSession, data: Any) -> None:
    """Queue one delivery per active pushing import of the event's connection that wants it.

    An import wants an order its filters select (status set, earliest creation, as the
    importer applies them), and every later change of an order it was sent before — its
    cancellation included, whatever the status filter says.
    """
    event = current_event()
    update_time: datetime = data.update_time
    created = payload.order_created_at(event.data)
    imports = await store.push_imports(
        session,
        data.connection_id,
        order_id=data.order_id,
        status=data.status,
        created=created,
        at=event.time,
    )
    for import_id in imports:
        key = payload.delivery_key(import_id, event.id)
        body = payload.build_body(
            key=key,
            import_id=import_id,
            event_type=event.type,
            event_id=event.id,
            event_time=event.time,
            data=event.data,  # as published: extra fields a newer producer adds pass through
        )
        await store.queue(
            session,
            key=key,
            import_id=import_id,
            connection_id=data.connection_id,
            order_id=data.order_id,
            update_time=update_time,
            event_type=event.type,
            event_id=event.id,
            body=payload.encode(body),
            order_created_at=created,
        )


HANDLERS = {
    "order.received": on_order_event,
    "order.updated": on_order_event,
    "order.cancelled": on_order_event,
}
# The push's own consumer group: it reads the service's events at its own pace, and a slow
# OMS never holds back order-ingest's other consumers.
SUBSCRIPTION = Subscription(ORDER_RECEIVED, HANDLERS, group=PUSH_GROUP)


def _describe_failure(exc: BaseException) -> str:
    """A short, secret-free reason for a failed request (the URL is not repeated)."""
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout ({type(exc).__name__})"
    if isinstance(exc, httpx.TransportError):
        return f"connection failed ({type(exc).__name__})"
    return f"request failed ({type(exc).__name__})"


class Pusher:
    """Sends claimed deliveries; one per process, ``concurrency`` requests in flight."""

    def __init__(
        self,
        sessions: Any,
        settings: PushSettings,
        http: httpx.AsyncClient,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.policy: RetryPolicy = settings.retry_policy()
        self.http = http
        self.rng = rng or random.Random()
        self.in_flight: set[asyncio.Task[None]] = set()
        self._slot_free = asyncio.Event()

    async def run(self) -> None:
        try:
            while True:
                try:
                    started = await self.pass_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("push: claiming deliveries failed")
                    started = 0
                if started == 0 or len(self.in_flight) >= self.settings.push_concurrency:
                    await self._wait()
        finally:
            # Stopping: a request cut short leaves its row claimed; it comes due again when
            # the lease ends and is sent under the same key (the OMS deduplicates).
            for task in list(self.in_flight):
                task.cancel()
            await asyncio.gather(*list(self.in_flight), return_exceptions=True)

    async def _wait(self) -> None:
        """Until the poll interval passes or (when all slots are busy) a slot frees."""
        self._slot_free.clear()
        try:
            await asyncio.wait_for(self._slot_free.wait(), self.settings.push_poll_seconds)
        except TimeoutError:
            pass

    async def pass_once(self) -> int:
        """Claim what fits in the free slots and start sending it; how many started."""
        free = self.settings.push_concurrency - len(self.in_flight)
        if free <= 0:
            return 0
        async with session_scope(self.sessions) as session:
            claimed = await store.claim(session, free, self.settings.push_lease_seconds)
            if not claimed:
                return 0
            found = await store.destinations(session, sorted({c.import_id for c in claimed}))
        for item in claimed:
            task = asyncio.ensure_future(self._deliver(item, found.get(item.import_id)))
            self.in_flight.add(task)
            task.add_done_callback(self._done)
        return len(claimed)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self._slot_free.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("push: a delivery task failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for the requests in flight (tests and a graceful stop)."""
        while self.in_flight:
            await asyncio.gather(*list(self.in_flight), return_exceptions=True)

    async def _deliver(self, item: store.Claimed, dest: store.Destination | None) -> None:
        if dest is None or not dest.url or not dest.secret or not dest.active:
            # Nothing to send to any more: dead at once, replayable once the import pushes again.
            await self._settle_failure(item, "the import has no active push destination", None)
            return
        register_secret(dest.secret)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": item.id,
            "X-TTS-Event-Type": item.event_type,
            "X-TTS-Delivery-Attempt": str(item.attempts),
            signing.HEADER: signing.sign(dest.secret, item.body),
        }
        try:
            response = await self.http.post(dest.url, content=item.body, headers=headers)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._settle_failure(item, _describe_failure(exc), None)
            return
        if 200 <= response.status_code < 300:
            async with session_scope(self.sessions) as session:
                await store.delivered(session, item.id, response.status_code)
            log.info(
                "push delivered",
                extra={"delivery_id": item.id, "order_id": item.order_id, "attempt": item.attempts},
            )
            return
        excerpt = redact_text(response.text[:200]) if response.content else ""
        reason = f"HTTP {response.status_code}" + (f": {excerpt}" if excerpt else "")
        await self._settle_failure(item, reason, response.status_code)

    async def _settle_failure(
        self, item: store.Claimed, reason: str, status_code: int | None
    ) -> None:
        reason = redact_text(reason)  # an OMS may echo anything, the secret included
        retry: float | None = None
        if not self.policy.exhausted(item.attempts, store.age(item)):
            retry = self.policy.delay(item.attempts, self.rng)
        async with session_scope(self.sessions) as session:
            await store.failed(
                session, item, error=reason, status_code=status_code, retry_in_s=retry
            )
        log.warning(
            "push attempt failed" if retry is not None else "push delivery dead",
            extra={
                "delivery_id": item.id,
                "order_id": item.order_id,
                "attempt": item.attempts,
                "reason": reason,
                "retry_in_s": None if retry is None else round(retry, 3),
            },
        )


async def push_worker(rt: Runtime) -> None:
    """The app's push worker (`create_service_app(workers=[...])`)."""
    settings: Any = rt.settings
    timeout = httpx.Timeout(settings.push_timeout_seconds)
    limits = httpx.Limits(max_connections=settings.push_concurrency)
    async with httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False) as http:
        pusher = Pusher(rt.sessions, settings, http)
        rt.extras["pusher"] = pusher
        await pusher.run()

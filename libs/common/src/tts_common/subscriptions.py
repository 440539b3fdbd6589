"""The consumer seam every service declares once: a typed table of topic → event handlers.

A service lists what it consumes next to its routers::

    CONSUMERS = [
        Subscription(
            PRODUCT_CHANGED,
            {"product.upserted": on_product_upserted, "product.deleted": on_product_deleted},
        ),
    ]
    create_service_app(..., consumers=CONSUMERS)

and writes each handler as ``async def on_<event>(session, data) -> None``: ``data`` is the
event's decoded, validated payload model (``tts_common.events``); the handler only
``flush()``es. The consumer runner owns the transaction: it inserts the event id into the
inbox and calls the handler in ONE transaction, so a redelivered event (or a batch rolled
back and replayed) changes the database once. A handler never commits, never opens a
session of its own, and puts any event it emits in the outbox (``add_event``) of the same
session.

The envelope (id, subject, time, correlation id) of the event being handled is available
through :func:`current_event` for the rare handler that needs it (ordering by event time).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tts_common.consumer import Handler, Record
from tts_common.events import TOPIC_TYPES, CloudEvent, parse_data
from tts_common.fabric_errors import UnknownEventType

log = logging.getLogger(__name__)

EventHandler = Callable[[AsyncSession, Any], Awaitable[None]]

_current: contextvars.ContextVar[CloudEvent | None] = contextvars.ContextVar(
    "tts_current_event", default=None
)


def current_event() -> CloudEvent:
    """The envelope of the event whose handler is running (raises outside a handler)."""
    event = _current.get()
    if event is None:
        raise RuntimeError("current_event() is only available inside an event handler")
    return event


@dataclass(frozen=True)
class Subscription:
    """``handlers`` (CloudEvents ``type`` → ``on_<event>``) for the events of ``topic``.

    Types the topic carries but the subscription has no handler for are skipped (counted,
    not dead-lettered): a consumer may care about some of a topic's events only. A type the
    topic does not carry is a poison event (dead-lettered with the reason). ``group`` defaults to the
    service name; subscriptions sharing a group share one consumer runner.
    """

    topic: str
    handlers: Mapping[str, EventHandler]
    group: str | None = None
    batch_mode: bool = True

    def __post_init__(self) -> None:
        known = TOPIC_TYPES.get(self.topic)
        if known is None:
            raise ValueError(f"unknown topic {self.topic!r}; see tts_common.events.ALL_TOPICS")
        stray = sorted(set(self.handlers) - set(known))
        if stray:
            raise ValueError(
                f"{self.topic} carries {', '.join(known)}; no such event type: {', '.join(stray)}"
            )
        if not self.handlers:
            raise ValueError(f"subscription to {self.topic} has no handlers")


@dataclass
class DispatchStats:
    handled: dict[str, int] = field(default_factory=dict)
    skipped: int = 0


@dataclass(frozen=True)
class ConsumerGroup:
    """Subscriptions run by one consumer runner (one Kafka consumer group)."""

    group_id: str
    subscriptions: tuple[Subscription, ...]

    @property
    def topics(self) -> list[str]:
        return sorted({s.topic for s in self.subscriptions})

    @property
    def batch_mode(self) -> bool:
        return all(s.batch_mode for s in self.subscriptions)


def group_subscriptions(
    service: str, subscriptions: Sequence[Subscription], prefix: str = ""
) -> list[ConsumerGroup]:
    """One runner per consumer group; a topic may be subscribed once per group.

    ``prefix`` (``TTS_CONSUMER_GROUP_PREFIX``) is prepended to every group id."""
    groups: dict[str, list[Subscription]] = {}
    for sub in subscriptions:
        groups.setdefault(prefix + (sub.group or service), []).append(sub)
    out = []
    for group_id, subs in groups.items():
        topics = [s.topic for s in subs]
        dupes = sorted({t for t in topics if topics.count(t) > 1})
        if dupes:
            raise ValueError(f"group {group_id} subscribes {', '.join(dupes)} more than once")
        out.append(ConsumerGroup(group_id, tuple(subs)))
    return out


def dispatcher(group: ConsumerGroup, stats: DispatchStats | None = None) -> Handler:
    """The runner handler: decode ``data`` through the event's type, call its ``on_<event>``.

    Invalid data raises ``PoisonEvent`` (non-retriable: dead-lettered with the reason).
    """
    table: dict[tuple[str, str], EventHandler] = {
        (sub.topic, event_type): handler
        for sub in group.subscriptions
        for event_type, handler in sub.handlers.items()
    }
    counts = stats or DispatchStats()

    async def handle(session: AsyncSession, event: CloudEvent, record: Record) -> None:
        handler = table.get((record.topic, event.type))
        if handler is None:
            if event.type not in TOPIC_TYPES.get(record.topic, ()):
                raise UnknownEventType(
                    f"{record.topic} does not carry events of type {event.type!r}"
                )
            counts.skipped += 1
            return
        data = parse_data(event)
        token = _current.set(event)
        try:
            await handler(session, data)
        finally:
            _current.reset(token)
        counts.handled[event.type] = counts.handled.get(event.type, 0) + 1

    return handle

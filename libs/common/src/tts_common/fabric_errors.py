"""Errors of the event fabric (envelope, outbox, consumer runner).

Every class says whether it is ``retriable``; the consumer runner reads that
attribute on *any* exception (so the lead's ``AppError`` hierarchy plugs in
without importing this module). Messages never carry record values, tokens or
other payload content: they name what is wrong, not the data.
"""

from __future__ import annotations


class FabricError(Exception):
    """Base of the fabric's own errors."""

    retriable: bool = False


class RetriableError(FabricError):
    """A transient failure (lock timeout, remote 5xx…): retry with backoff."""

    retriable = True


class NonRetriableError(FabricError):
    """A permanent failure for this record: retrying cannot help; dead-letter it."""

    retriable = False


class PoisonEvent(NonRetriableError):
    """A record that cannot be decoded into a valid CloudEvent."""


class UnknownEventType(PoisonEvent):
    """A well-formed envelope whose ``type`` no model is registered for."""

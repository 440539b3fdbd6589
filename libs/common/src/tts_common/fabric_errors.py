"""Errors of the event fabric (envelope, outbox, consumer runner).

Every class says whether it is ``retriable``; the consumer runner reads that
attribute on *any* exception (so the lead's ``AppError`` hierarchy plugs in
without importing this module). Messages never carry record values, tokens or
other payload content: they name what is wrong, not the data.

:func:`is_retriable` and :func:`is_outage` are the runner's classification of
any exception; see ``tts_common.consumer`` for what it does with each kind.
"""

from __future__ import annotations

from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    InterfaceError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as SATimeoutError


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


# The database refused the statement for what it holds (a malformed value, a statement it
# cannot run): the same record fails the same way every time. (An IntegrityError stays
# retriable: two replicas racing to insert one row is transient.)
_DETERMINISTIC_DB_ERRORS = (DataError, ProgrammingError)


def is_retriable(exc: BaseException) -> bool:
    """The runner's classification: the ``retriable`` attribute, else retriable.

    Except the database's deterministic refusals (``DataError``, ``ProgrammingError``, e.g.
    an event naming a connection id that is not a UUID): retrying them only delays the dead
    letter.
    """
    flag = getattr(exc, "retriable", None)
    if flag is None and isinstance(exc, _DETERMINISTIC_DB_ERRORS):
        return False
    return True if flag is None else bool(flag)


def is_outage(exc: BaseException) -> bool:
    """A failure of the infrastructure (database unreachable), not of the record.

    Dead-lettering on these would empty the topic into the DLQ during a
    database restart; the runner instead re-reads the records once it is back.
    """
    if getattr(exc, "retriable", None) is not None:
        return False  # the error said what it is
    if isinstance(exc, OSError | TimeoutError | SATimeoutError):  # incl. ConnectionError
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, InterfaceError)
    return False

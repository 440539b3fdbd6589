"""Error classification of the consumer runner and database URL handling."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from tts_common.consumer import is_outage, is_retriable
from tts_common.db import async_url
from tts_common.errors import AppError
from tts_common.fabric_errors import NonRetriableError, PoisonEvent, RetriableError


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RetriableError("lock timeout"), True),
        (NonRetriableError("bad order"), False),
        (PoisonEvent("garbage"), False),
        (AppError("boom"), False),  # the lead's base error defaults to permanent
        (AppError("upstream 503", retriable=True), True),
        (ConnectionResetError(), True),  # unknown: retried a bounded number of times
        (KeyError("x"), True),
        # The database refusing the statement itself: the same record fails every time.
        (DataError("UPDATE", {}, Exception("invalid input syntax for type uuid")), False),
        (ProgrammingError("SELECT", {}, Exception("syntax error")), False),
        (IntegrityError("INSERT", {}, Exception("duplicate key")), True),  # a race: transient
        (OperationalError("UPDATE", {}, Exception("deadlock detected")), True),
    ],
)
def test_classification(exc: BaseException, expected: bool) -> None:
    assert is_retriable(exc) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h:1/db", "postgresql+asyncpg://u@h:1/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_async_url(url: str, expected: str) -> None:
    assert async_url(url) == expected


def _dbapi(cls: type[DBAPIError], invalidated: bool = False) -> DBAPIError:
    return cls("SELECT 1", {}, Exception("driver"), connection_invalidated=invalidated)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectionRefusedError(), True),
        (OSError("network unreachable"), True),
        (TimeoutError(), True),
        (_dbapi(InterfaceError), True),
        (_dbapi(OperationalError, invalidated=True), True),
        (_dbapi(OperationalError), False),  # e.g. a deadlock: the record's own retries
        (_dbapi(IntegrityError), False),
        (RetriableError("said so"), False),  # an explicit classification wins
        (AppError("upstream down", retriable=True), False),
        (KeyError("x"), False),
    ],
)
def test_outage_detection(exc: BaseException, expected: bool) -> None:
    assert is_outage(exc) is expected

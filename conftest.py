"""Repository-wide pytest setup: real-infrastructure fixtures for every package's tests."""

from __future__ import annotations

import gc
import sys
from typing import Any

import pytest

pytest_plugins = ["tts_common.testing.fixtures"]

# A connection aiokafka opened while a client was being stopped or cancelled is never closed
# by aiokafka itself (aiokafka#715, #1019); it can stay in a reference cycle until the end of
# the session and warn from its destructor, followed by its socket, stream and transport.


def _is_aiokafka_leftover(unraisable: Any, seen_connection: bool) -> bool:
    if not isinstance(unraisable.exc_value, ResourceWarning):
        return False
    where = repr(unraisable.object)
    if "AIOKafkaConnection" in f"{where} {unraisable.exc_value}":
        return True
    # The socket, StreamWriter and transport that belonged to that connection.
    return seen_connection and any(
        n in where for n in ("socket.socket", "StreamWriter", "Transport")
    )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Collect aiokafka's end-of-session leftovers here, dropping only those warnings.

    With warnings as errors, pytest turns any ResourceWarning raised from a destructor after
    the last test into a failed run, even when every test passed. Everything else that is
    unraisable still reaches pytest's own hook and fails the run as before.
    """
    forward = sys.unraisablehook
    dropped = 0

    def hook(unraisable: Any) -> None:
        nonlocal dropped
        if _is_aiokafka_leftover(unraisable, seen_connection=dropped > 0):
            dropped += 1
            return
        forward(unraisable)

    sys.unraisablehook = hook
    try:
        for _ in range(5):
            gc.collect()
    finally:
        sys.unraisablehook = forward
    if dropped:
        sys.stderr.write(
            f"\nconftest: {dropped} aiokafka resource warning(s) left at exit, ignored\n"
        )

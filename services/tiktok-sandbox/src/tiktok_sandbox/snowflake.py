"""Snowflake-style numeric string ids, like TikTok's (e.g. "7380066284010030890").

Milliseconds since an epoch shifted left 22 bits, plus a process-wide sequence: unique
within the process and, because the time part moves on, across sandbox restarts too
(a persistent consumer database never sees an id reused by a restarted sandbox).
"""

from __future__ import annotations

import itertools
import threading
import time

_EPOCH_MS = 0  # Unix epoch: gives 19-digit ids starting with 7, like TikTok's today
_lock = threading.Lock()
_seq = itertools.count()
_last = 0


def new_id() -> str:
    global _last
    with _lock:
        candidate = ((int(time.time() * 1000) - _EPOCH_MS) << 22) | (next(_seq) & 0x3FFFFF)
        # Monotonic even if the wall clock steps back or the sequence wraps.
        _last = max(candidate, _last + 1)
        return str(_last)

"""The push signature: `X-TTS-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.

The HMAC key is the import's push secret and the message is ``"<t>.<raw body>"``: the
timestamp is signed with the body, so a captured request cannot be replayed later with a new
``t`` (the receiver refuses a ``t`` outside its tolerance window). Each attempt signs afresh
with the current time; the body and the `Idempotency-Key` stay the same across attempts.
How an OMS verifies it, with a sample to copy: docs/orders.md, "OMS push".
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "X-TTS-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value for ``body`` signed now (or at ``timestamp``)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},{SCHEME}={signature(secret, t, body)}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when ``header`` signs ``body`` under ``secret`` within ``tolerance_s`` of now.

    The receiver's side, kept here so the tests hold the documented sample to the sender.
    Several ``v1=`` entries are accepted (one per secret during a rotation).
    """
    t: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            t = int(value)
        elif key == SCHEME:
            candidates.append(value)
    if t is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - t) > tolerance_s:
        return False
    expected = signature(secret, t, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)

"""OAuth `state` values: random, single-use, expiring, bound to one connection.

Only a SHA-256 of the state is stored, so a database dump does not hand out
working authorize links.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import datetime

from auth_broker.models import OAuthState


class StateProblem(enum.StrEnum):
    MISSING = "missing"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"


MESSAGES: dict[StateProblem, str] = {
    StateProblem.MISSING: "The callback is missing its code or state. Start the connection again.",
    StateProblem.UNKNOWN: (
        "This authorization link is unknown or was replaced by a newer one. "
        "Start the connection again."
    ),
    StateProblem.EXPIRED: "This authorization link has expired. Ask for a new one (reauthorize).",
    StateProblem.USED: "This authorization link was already used. Ask for a new one (reauthorize).",
}


def new_state() -> str:
    return secrets.token_urlsafe(32)


def hash_state(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def check_state(row: OAuthState | None, now: datetime) -> StateProblem | None:
    """Why a presented state cannot be used, or None when it can."""
    if row is None:
        return StateProblem.UNKNOWN
    if row.used_at is not None:
        return StateProblem.USED
    if row.expires_at <= now:
        return StateProblem.EXPIRED
    return None

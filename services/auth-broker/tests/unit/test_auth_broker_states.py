"""OAuth state handling: unknown, used, expired, valid; only hashes are stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from auth_broker.models import OAuthState
from auth_broker.states import StateProblem, check_state, hash_state, new_state

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _row(expires_in: float, used: bool = False) -> OAuthState:
    return OAuthState(
        state_hash="h",
        connection_id="c",
        expires_at=NOW + timedelta(seconds=expires_in),
        used_at=NOW - timedelta(seconds=1) if used else None,
    )


def test_unknown_state() -> None:
    assert check_state(None, NOW) is StateProblem.UNKNOWN


def test_valid_state() -> None:
    assert check_state(_row(60), NOW) is None


def test_expired_state_at_and_after_the_deadline() -> None:
    assert check_state(_row(0), NOW) is StateProblem.EXPIRED
    assert check_state(_row(-1), NOW) is StateProblem.EXPIRED


def test_used_state_wins_over_expired() -> None:
    assert check_state(_row(60, used=True), NOW) is StateProblem.USED
    assert check_state(_row(-60, used=True), NOW) is StateProblem.USED


def test_states_are_random_and_hashed() -> None:
    states = {new_state() for _ in range(200)}
    assert len(states) == 200
    assert all(len(s) >= 40 for s in states)
    s = next(iter(states))
    assert hash_state(s) == hash_state(s)
    assert s not in hash_state(s)
    assert len(hash_state(s)) == 64

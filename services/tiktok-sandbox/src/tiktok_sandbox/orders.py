"""Orders: the store and the status state machine.

CONTRACT (used by other sandbox modules; keep these signatures):
- `OrderStore(state)`: created once by `SandboxState`.
- `count_by_shop() -> dict[str, int]`: for `/sandbox/v1/stats`.
- `advance(now: float) -> None`: apply time-driven transitions (ON_HOLD ends after
  3600 s on the sandbox clock, ...). Called by the clock endpoint and lazily by reads.
"""

from __future__ import annotations

from typing import Any


class OrderStore:
    def __init__(self, state: Any) -> None:
        self.state = state

    def count_by_shop(self) -> dict[str, int]:  # stub
        return {}

    def advance(self, now: float) -> None:  # stub
        return None

"""Injected faults: errors, latency, timeouts, connection resets, commit-then-drop.

Rules are added with `POST /sandbox/v1/faults` and cleared with `DELETE`. The first
rule matching a request decides; a rule may be limited to some operations (glob on
the operation id, e.g. `POST /product/*/products`), one shop, and a number of hits.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError

KINDS = ("error", "timeout", "reset", "drop_response")


@dataclass
class FaultRule:
    error_rate: float = 0.0
    latency_ms: float = 0.0
    timeout_rate: float = 0.0
    # A "timeout" holds the request this long, then drops the connection unanswered.
    timeout_seconds: float = 30.0
    reset_rate: float = 0.0
    drop_response_rate: float = 0.0
    operations: list[str] = field(default_factory=list)
    shop_id: str | None = None
    remaining: int | None = None  # faults left to inject; None = unlimited
    id: int = 0

    def matches(self, operation: str, shop_id: str) -> bool:
        if self.shop_id and self.shop_id != shop_id:
            return False
        if self.operations and not any(fnmatch.fnmatchcase(operation, p) for p in self.operations):
            return False
        return self.remaining is None or self.remaining > 0

    def public(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class FaultDecision:
    latency_seconds: float = 0.0
    action: str | None = None  # one of KINDS
    timeout_seconds: float = 0.0


_RATES = ("error_rate", "timeout_rate", "reset_rate", "drop_response_rate")


def parse_rule(body: dict[str, Any]) -> FaultRule:
    """Validate an admin request body into a rule; bad input is a 36009004 with what to fix."""
    rule = FaultRule()
    try:
        for name in (*_RATES, "latency_ms", "timeout_seconds"):
            if name in body:
                value = float(body[name])
                if value < 0 or (name in _RATES and value > 1):
                    raise ValueError(f"{name} out of range")
                setattr(rule, name, value)
        ops = body.get("operations") or []
        if not isinstance(ops, list) or not all(isinstance(o, str) for o in ops):
            raise ValueError("operations must be a list of strings")
        rule.operations = ops
        rule.shop_id = str(body["shop_id"]) if body.get("shop_id") else None
        if body.get("remaining") is not None:
            rule.remaining = int(body["remaining"])
    except (TypeError, ValueError) as exc:
        raise ApiError(36009004, f"param body is invalid: {exc}") from exc
    return rule


class Faults:
    def __init__(self, seed: int | None = None) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._next_id = 1

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.public() for r in self._rules]

    @property
    def active(self) -> bool:
        return bool(self._rules)

    def decide(self, operation: str, shop_id: str, is_write: bool) -> FaultDecision | None:
        if not self._rules:  # fast path for the benchmark
            return None
        with self._lock:
            rule = next((r for r in self._rules if r.matches(operation, shop_id)), None)
            if rule is None:
                return None
            decision = FaultDecision(latency_seconds=rule.latency_ms / 1000.0)
            roll = self._rng.random()
            # The rates are slices of one roll, so they add up rather than compound.
            for kind, rate in (
                ("error", rule.error_rate),
                ("timeout", rule.timeout_rate),
                ("reset", rule.reset_rate),
                ("drop_response", rule.drop_response_rate if is_write else 0.0),
            ):
                if roll < rate:
                    decision.action = kind
                    decision.timeout_seconds = rule.timeout_seconds
                    break
                roll -= rate
            if decision.action and rule.remaining is not None:
                rule.remaining -= 1
            return decision


# -- connection-level faults ---------------------------------------------------------------
# The request check pipeline runs inside FastAPI, but dropping a connection has to
# happen at the ASGI edge: this middleware swallows the response of a marked request
# and aborts the socket, so the client sees a transport error and no HTTP status.

FAULT_SCOPE_KEY = "tts_sandbox_fault"


class DropConnection(Exception):
    """Raised by the pipeline to end a request with a dropped connection."""


def mark_drop(scope: MutableMapping[str, Any]) -> None:
    holder = scope.get(FAULT_SCOPE_KEY)
    if holder is not None:
        holder["drop"] = True


class ConnectionFaultMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        holder: dict[str, bool] = {}
        scope[FAULT_SCOPE_KEY] = holder

        async def guarded_send(message: dict[str, Any]) -> None:
            if not holder.get("drop"):
                await send(message)

        await self.app(scope, receive, guarded_send)
        if holder.get("drop"):
            await _abort(receive, send)


async def _abort(receive: Any, send: Any) -> None:
    import asyncio

    # uvicorn's `receive` is a bound method of its request cycle, which holds the
    # transport; aborting it closes the socket without any response bytes.
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()
        # Let uvicorn see connection_lost, so it does not try to write a 500 afterwards.
        for _ in range(3):
            await asyncio.sleep(0)
        return
    # Another server: promise a body that never comes, then fail. The server closes
    # the connection mid-response, which a client also sees as a transport error.
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]}
    )
    raise ConnectionAbortedError("sandbox fault: connection dropped")

"""The push's pure parts: the signature (and the sample docs/orders.md gives an OMS), the
backoff schedule, the delivery key and body."""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from order_ingest.push import payload, signing
from order_ingest.push.config import PushSettings
from order_ingest.push.schedule import RetryPolicy

DOC = Path(__file__).resolve().parents[4] / "docs" / "orders.md"
SECRET = "oms-push-secret-0123456789abcdef"
BODY = b'{"id":"d1","type":"order.received","data":{"order_id":"576"}}'


def documented_verifier() -> Callable[..., bool]:
    """The verification sample of docs/orders.md ("OMS push"), run as an OMS would copy it."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    sample = next(b for b in blocks if "def verify_tts_signature" in b)
    namespace: dict[str, Any] = {}
    exec(compile(sample, str(DOC), "exec"), namespace)  # our own documentation
    verifier: Callable[..., bool] = namespace["verify_tts_signature"]
    return verifier


def test_the_header_is_t_and_v1_over_timestamp_dot_body() -> None:
    header = signing.sign(SECRET, BODY, timestamp=1767268800)
    t, v1 = header.split(",")
    assert t == "t=1767268800"
    # HMAC-SHA256(secret, "1767268800." + body), computed independently
    expected = hmac.new(SECRET.encode(), b"1767268800." + BODY, hashlib.sha256).hexdigest()
    assert v1 == f"v1={expected}"


def test_the_documented_sample_accepts_the_services_signature() -> None:
    verify = documented_verifier()
    assert verify(SECRET, signing.sign(SECRET, BODY), BODY)
    assert signing.verify(SECRET, signing.sign(SECRET, BODY), BODY)


@pytest.mark.parametrize(
    ("secret", "body", "age_s"),
    [
        ("another-secret-0123456789abcdef", BODY, 0),  # wrong secret
        (SECRET, BODY.replace(b"576", b"577"), 0),  # body changed after signing
        (SECRET, BODY, 301),  # older than the 5-minute window: a replay
        (SECRET, BODY, -301),  # from the future, as far
    ],
    ids=["wrong-secret", "changed-body", "old-timestamp", "future-timestamp"],
)
def test_the_documented_sample_refuses(secret: str, body: bytes, age_s: int) -> None:
    verify = documented_verifier()
    header = signing.sign(secret, body, timestamp=int(time.time()) - age_s)
    assert not verify(SECRET, header, BODY)
    assert not signing.verify(SECRET, header, BODY)


def test_inside_the_window_an_older_signature_still_verifies() -> None:
    header = signing.sign(SECRET, BODY, timestamp=int(time.time()) - 200)
    assert documented_verifier()(SECRET, header, BODY)


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", "v1=00", "t=1767268800", "garbage"])
def test_malformed_headers_are_refused(header: str) -> None:
    assert not documented_verifier()(SECRET, header, BODY)
    assert not signing.verify(SECRET, header, BODY, now=1767268800)


def test_one_of_several_v1_entries_may_match_during_a_secret_rotation() -> None:
    now = int(time.time())
    old = signing.sign("old-secret-0123456789abcdef", BODY, timestamp=now)
    new = signing.sign(SECRET, BODY, timestamp=now)
    both = f"{old},{new.split(',')[1]}"
    assert documented_verifier()(SECRET, both, BODY)


# --- backoff -------------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(base_s=2, cap_s=60, max_attempts=20)
    assert [policy.ceiling(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]
    assert policy.ceiling(10_000) == 60  # no overflow however many attempts


def test_jitter_stays_between_half_and_all_of_the_ceiling() -> None:
    policy = RetryPolicy(base_s=2, cap_s=60)
    rng = random.Random(7)
    for attempts in range(1, 12):
        draws = [policy.delay(attempts, rng) for _ in range(200)]
        ceiling = policy.ceiling(attempts)
        assert all(ceiling / 2 <= d <= ceiling for d in draws)
        assert len({round(d, 6) for d in draws}) > 100  # spread, not one wave


def test_the_budget_ends_at_max_attempts_or_max_age() -> None:
    policy = RetryPolicy(max_attempts=3, max_age=timedelta(hours=1))
    assert not policy.exhausted(2, timedelta(minutes=59))
    assert policy.exhausted(3, timedelta(0))
    assert policy.exhausted(1, timedelta(hours=1))


def test_settings_build_the_policy() -> None:
    policy = PushSettings(
        push_backoff_base_seconds=1, push_backoff_cap_seconds=9, push_max_attempts=4
    ).retry_policy()
    assert (policy.base_s, policy.cap_s, policy.max_attempts) == (1, 9, 4)
    assert policy.max_age == timedelta(hours=72)


# --- key and body --------------------------------------------------------------------------

T = datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_the_key_is_stable_and_names_one_event_for_one_import() -> None:
    key = payload.delivery_key("imp-1", "ev-1")
    assert payload.delivery_key("imp-1", "ev-1") == key
    others = {payload.delivery_key("imp-2", "ev-1"), payload.delivery_key("imp-1", "ev-2")}
    assert key not in others and len(others) == 2
    assert str(uuid.UUID(key)) == key


def test_the_body_carries_the_event_data_as_published_and_encodes_one_way() -> None:
    data = {"order_id": "576", "status": "AWAITING_SHIPMENT", "order": {"id": "576"}, "new": 1}
    body = payload.build_body(
        key="k", import_id="i", event_type="order.received", event_id="e", event_time=T, data=data
    )
    assert body["data"] == data and body["id"] == "k" and body["import_id"] == "i"
    raw = payload.encode(body)
    reordered = dict(reversed(list(body.items())))
    assert payload.encode(reordered) == raw
    assert orjson.loads(raw) == body


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ({"create_time": 1767268800}, datetime(2026, 1, 1, 12, 0, tzinfo=UTC)),
        ({"create_time": "1767268800"}, datetime(2026, 1, 1, 12, 0, tzinfo=UTC)),
        ({}, None),
        ({"create_time": None}, None),
        ({"create_time": True}, None),
        ({"create_time": "soon"}, None),
    ],
)
def test_order_created_at_reads_tiktoks_create_time(
    order: dict[str, Any], expected: datetime | None
) -> None:
    assert payload.order_created_at({"order": order}) == expected
    assert payload.order_created_at({}) is None

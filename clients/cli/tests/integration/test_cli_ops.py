"""`tts orders list` and `tts shipments list|post` against real order-ingest and
shipment-notifier processes' APIs (served on free ports, real PostgreSQL and Kafka)."""

from __future__ import annotations

import json
import random
import subprocess
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_testing import OpsStack

# Every `tts` call is a process of its own: on a loaded 2-core machine that adds up.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(proc).stdout)


AUTH = {"Authorization": "Bearer dev-api-key"}
MUG_RED = "1729592969712207012"  # a SKU of the sandbox's mug catalogue (US shop)
# Order ids and tracking numbers of this run only (the shipment intake is shared).
_RUN = random.Random().randrange(10**11, 10**12)
ORDER_A, ORDER_B = f"5764{_RUN}01", f"5764{_RUN}02"
TRACK_A, TRACK_B = f"1Z{_RUN}A", f"1Z{_RUN}B"


async def import_orders(stack: OpsStack, connection_id: str) -> None:
    """An order import of the connection and one pass of it, finished (by condition)."""
    base = stack.orders_url
    r = await stack.outside.post(
        f"{base}/v1/order-imports",
        json={"connection_id": connection_id, "poll_interval_seconds": 3600},
        headers=AUTH,
    )
    assert r.status_code == 201, r.text
    import_id = r.json()["id"]
    r = await stack.outside.post(
        f"{base}/v1/order-imports/{import_id}/runs", json={"mode": "incremental"}, headers=AUTH
    )
    assert r.status_code == 202, r.text
    path = f"{base}/v1/order-imports/{import_id}/runs/{r.json()['id']}"
    done = threading.Event()
    for _ in range(600):
        run = (await stack.outside.get(path, headers=AUTH)).json()
        if run["status"] in ("done", "failed"):
            assert run["status"] == "done", run
            return
        done.wait(0.2)
    raise AssertionError(f"the import pass never finished: {run}")


async def test_orders_and_shipments_through_tts(ops_stack: OpsStack, tmp_path: Path) -> None:
    stack = ops_stack
    assert as_json(stack.tts("orders", "list", "--json")) == []

    # A US shop connected through tts, three sandbox orders (one unpaid) imported.
    created = as_json(stack.tts("connections", "connect", "us-orders", "-m", "US", "--json"))
    await stack.approve(created["authorize_url"], "US")
    placed = []
    for paid in (True, True, False):
        answer = stack.sandbox.admin(
            "POST", "/sandbox/v1/orders", {"region": "US", "line_items": [{"sku_id": MUG_RED}],
                                           "paid": paid},
        )  # fmt: skip
        assert answer.get("code") == 0, answer
        placed.append(answer["data"]["order"]["id"])
    await import_orders(stack, created["id"])
    orders = as_json(stack.tts("orders", "list", "--json"))
    assert sorted(o["id"] for o in orders) == sorted(placed)
    unpaid = as_json(stack.tts("orders", "list", "--status", "UNPAID", "--json"))
    assert [o["id"] for o in unpaid] == [placed[2]]
    table = ok(stack.tts("orders", "list", "--limit", "2"))
    assert "showing the first 2" in table.stderr
    assert sum(order_id in table.stdout for order_id in placed) == 2
    assert as_json(stack.tts("orders", "list", "--updated-after", "2999-01-01T00:00:00Z",
                             "--json")) == []  # fmt: skip
    assert "no orders match" in ok(stack.tts("orders", "list", "--status", "CANCELLED")).stdout
    bad = stack.tts("orders", "list", "--status", "SHIPPED_BY_PIGEON")
    assert bad.returncode == 7, bad.stderr
    assert "bad_status" in bad.stderr and "unknown order status" in bad.stderr

    posted = as_json(
        stack.tts(
            "shipments", "post", "--order-id", ORDER_A,
            "--tracking-number", TRACK_A, "--carrier", "Royal Mail 24",
            "--shipped-at", "2026-12-01T10:00:00+00:00", "--json",
        )
    )  # fmt: skip
    assert posted["duplicate"] is False
    again = ok(
        stack.tts(
            "shipments", "post", "--order-id", ORDER_A,
            "--tracking-number", TRACK_A, "--carrier", "Royal Mail 24",
            "--shipped-at", "2026-12-01T10:00:00+00:00",
        )
    )  # fmt: skip
    assert f"shipment {posted['id']} already received" in again.stdout

    # Many from a file: the good line accepted, the bad one refused with its line and field.
    file = tmp_path / "shipments.ndjson"
    good = {
        "order_id": ORDER_B,
        "tracking_number": TRACK_B,
        "carrier": "Royal Mail 24",
        "shipped_at": "2026-12-01T11:00:00Z",
    }
    file.write_bytes(orjson.dumps(good) + b"\n" + orjson.dumps({"order_id": "1"}) + b"\n")
    uploaded = stack.tts("shipments", "post", "-f", str(file), "--json")
    assert uploaded.returncode == 7, uploaded.stderr
    result = json.loads(uploaded.stdout)
    assert result["accepted"] == 1 and {e["line"] for e in result["errors"]} == {2}
    assert {e["field"] for e in result["errors"]} >= {"tracking_number"}

    # The notifier's Kafka intake may hold other tests' shipments too: filter by order.
    one = as_json(stack.tts("shipments", "list", "--order-id", ORDER_A, "--json"))
    assert [(s["id"], s["tracking_number"]) for s in one] == [(posted["id"], TRACK_A)]
    other = as_json(stack.tts("shipments", "list", "--order-id", ORDER_B, "--json"))
    assert [s["tracking_number"] for s in other] == [TRACK_B]
    assert TRACK_B in ok(stack.tts("shipments", "list", "--order-id", ORDER_B)).stdout

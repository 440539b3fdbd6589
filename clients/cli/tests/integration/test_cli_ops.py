"""`tts orders list` and `tts shipments list|post` against real order-ingest and
shipment-notifier processes' APIs (served on free ports, real PostgreSQL and Kafka)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_testing import OpsStack

pytestmark = pytest.mark.integration


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(proc).stdout)


async def test_orders_and_shipments_through_tts(ops_stack: OpsStack, tmp_path: Path) -> None:
    stack = ops_stack
    assert as_json(stack.tts("orders", "list", "--json")) == []
    assert "no orders match" in ok(stack.tts("orders", "list", "--updated-after",
                                             "2026-11-01T00:00:00")).stdout  # fmt: skip
    bad = stack.tts("orders", "list", "--status", "SHIPPED_BY_PIGEON")
    assert bad.returncode == 7, bad.stderr
    assert "bad_status" in bad.stderr and "unknown order status" in bad.stderr

    posted = as_json(
        stack.tts(
            "shipments", "post", "--order-id", "576461413038785752",
            "--tracking-number", "1Z999AA10123456784", "--carrier", "Royal Mail 24",
            "--shipped-at", "2026-12-01T10:00:00+00:00", "--json",
        )
    )  # fmt: skip
    assert posted["duplicate"] is False
    again = ok(
        stack.tts(
            "shipments", "post", "--order-id", "576461413038785752",
            "--tracking-number", "1Z999AA10123456784", "--carrier", "Royal Mail 24",
            "--shipped-at", "2026-12-01T10:00:00+00:00",
        )
    )  # fmt: skip
    assert f"shipment {posted['id']} already received" in again.stdout

    # Many from a file: the good line accepted, the bad one refused with its line and field.
    file = tmp_path / "shipments.ndjson"
    good = {
        "order_id": "576461413038785753",
        "tracking_number": "1Z999AA10123456785",
        "carrier": "Royal Mail 24",
        "shipped_at": "2026-12-01T11:00:00Z",
    }
    file.write_bytes(orjson.dumps(good) + b"\n" + orjson.dumps({"order_id": "1"}) + b"\n")
    uploaded = stack.tts("shipments", "post", "-f", str(file), "--json")
    assert uploaded.returncode == 7, uploaded.stderr
    result = json.loads(uploaded.stdout)
    assert result["accepted"] == 1 and {e["line"] for e in result["errors"]} == {2}
    assert {e["field"] for e in result["errors"]} >= {"tracking_number"}

    listed = as_json(stack.tts("shipments", "list", "--json"))
    assert sorted(s["tracking_number"] for s in listed) == [
        "1Z999AA10123456784",
        "1Z999AA10123456785",
    ]
    one = as_json(stack.tts("shipments", "list", "--order-id", "576461413038785752", "--json"))
    assert [s["id"] for s in one] == [posted["id"]]
    assert "1Z999AA10123456785" in ok(stack.tts("shipments", "list")).stdout

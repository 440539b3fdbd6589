"""Order imports over the API and from a file: validation (422 that says why), the push
secret never returned, `order-ingest imports apply -f FILE` idempotent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

SECRET = "oms-push-secret-0123456789abcdef"


async def test_crud_with_the_secret_never_returned(client: httpx.AsyncClient) -> None:
    body = {
        "connection_id": "conn-1",
        "description": "US shop",
        "statuses": ["awaiting_shipment"],
        "created_within_days": 7,
        "updated_within_days": "3",
        "poll_interval_seconds": 60,
        "push": {"url": "https://oms.example.com/hook", "secret": SECRET},
    }
    r = await client.post("/v1/order-imports", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert SECRET not in r.text
    assert created["push_secret_set"] is True
    assert created["push_url"] == "https://oms.example.com/hook"
    assert created["statuses"] == ["AWAITING_SHIPMENT"]
    assert (created["created_within_days"], created["updated_within_days"]) == (7, 3)

    listed = await client.get("/v1/order-imports")
    assert SECRET not in listed.text and [i["id"] for i in listed.json()] == [created["id"]]
    patched = await client.patch(
        f"/v1/order-imports/{created['id']}", json={"push": None, "statuses": []}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["push_secret_set"] is False and patched.json()["statuses"] == []
    assert patched.json()["version"] == 2
    gone = await client.delete(f"/v1/order-imports/{created['id']}")
    assert gone.status_code == 204
    assert (await client.get(f"/v1/order-imports/{created['id']}")).status_code == 404
    assert (await client.get("/v1/order-imports/not-a-uuid")).status_code == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("created_within_days", 1.5),
        ("created_within_days", -1),
        ("updated_within_days", "3 days"),
        ("updated_within_days", True),
    ],
)
async def test_days_that_are_not_whole_non_negative_numbers_are_a_422_that_says_so(
    client: httpx.AsyncClient, field: str, value: object
) -> None:
    r = await client.post("/v1/order-imports", json={"connection_id": "c", field: value})
    assert r.status_code == 422, r.text
    assert field in r.text and "whole non-negative number of days" in r.text


async def test_an_unknown_status_is_a_422_naming_the_known_ones(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/order-imports", json={"connection_id": "c", "statuses": ["SENT"]})
    assert r.status_code == 422 and "AWAITING_SHIPMENT" in r.text


def _apply(path: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTS_")}
    env |= {"TTS_DATABASE_URL": database_url, "OMS_SECRET": SECRET, "TTS_LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "order_ingest.cli", "imports", "apply", "-f", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_imports_file_applies_once(client: httpx.AsyncClient, tmp_path: Path) -> None:
    database_url: str = client.database_url  # type: ignore[attr-defined]
    path = tmp_path / "imports.yaml"
    path.write_text(
        "imports:\n"
        "  - name: us-shop\n"
        "    connection_id: conn-us\n"
        "    statuses: [ON_HOLD, AWAITING_SHIPMENT]\n"
        "    created_within_days: 7\n"
        "    push: {url: 'https://oms.example.com/a', secret_env: OMS_SECRET}\n"
        "  - name: uk-shop\n"
        "    connection_id: conn-uk\n"
    )
    first = _apply(path, database_url)
    assert first.returncode == 0, first.stderr
    assert "2 created, 0 updated, 0 unchanged" in first.stdout
    again = _apply(path, database_url)
    assert "0 created, 0 updated, 2 unchanged" in again.stdout, again.stdout + again.stderr

    path.write_text(path.read_text().replace("created_within_days: 7", "created_within_days: 2"))
    changed = _apply(path, database_url)
    assert "0 created, 1 updated, 1 unchanged" in changed.stdout
    imports = {i["name"]: i for i in (await client.get("/v1/order-imports")).json()}
    assert imports["us-shop"]["created_within_days"] == 2
    assert imports["us-shop"]["push_secret_set"] is True and SECRET not in str(imports)

    path.write_text("imports:\n  - name: x\n    connection_id: c\n    created_within_days: 1.5\n")
    refused = _apply(path, database_url)
    assert refused.returncode == 2
    assert "imports.0.created_within_days" in refused.stderr
    assert "whole non-negative number of days" in refused.stderr

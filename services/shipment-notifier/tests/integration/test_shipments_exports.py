"""Shipment exports over HTTP and as a YAML file (the API and the `apply-export` command)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from asgi_lifespan import LifespanManager
from auth_broker.testing import settings_env
from shipment_notifier.app import NAME, create_app
from shipment_notifier.cli import MIGRATIONS
from shipment_notifier.config import Settings
from tts_common.migrate import migrate_async
from tts_common.testing.ready import until_ready

pytestmark = pytest.mark.integration

AUTH = {"Authorization": "Bearer dev-api-key"}
FILE = """
name: uk-shipments
connection_id: 3f0c9b1e-2d7a-4f5e-9c1b-8a6d4e2f1a00
active: true
feedback_enabled: false
carriers:
  - provider: Royal Mail
    aliases: [Royal Mail 24, RM Tracked 48]
  - provider: DPD
    aliases: [DPD Local]
    delivery_option_ids: ["7129736211478988549"]
field_mapping:
  order_id: order.tiktok_id
  tracking_number: parcel.code
"""


async def test_exports_crud_and_the_export_file(
    fresh_database: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    await migrate_async(fresh_database, MIGRATIONS, NAME)
    app = create_app(Settings(database_url=fresh_database, kafka_bootstrap=kafka_bootstrap))
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
        await until_ready(app)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://n", headers=AUTH
        ) as http:
            r = await http.put("/v1/shipment-exports:apply", content=FILE.encode())
            assert r.status_code == 200, r.text
            assert r.headers["X-Export-Changed"] == "true"
            export = r.json()
            assert export["carriers"][0]["aliases"] == ["Royal Mail 24", "RM Tracked 48"]
            assert export["feedback_enabled"] is False and export["version"] == 1

            again = await http.put("/v1/shipment-exports:apply", content=FILE.encode())
            assert again.headers["X-Export-Changed"] == "false"
            assert again.json()["version"] == 1

            dumped = (await http.get(f"/v1/shipment-exports/{export['id']}/file")).text
            assert yaml.safe_load(dumped)["name"] == "uk-shipments"
            same = await http.put("/v1/shipment-exports:apply", content=dumped.encode())
            assert same.headers["X-Export-Changed"] == "false"

            bad = await http.put(
                "/v1/shipment-exports:apply",
                content=b"name: x\ncarriers:\n  - aliases: [a]\nfield_mapping: {colour: a}\n",
            )
            assert bad.status_code == 422
            assert "carriers.0" in bad.json()["detail"] and "colour" in bad.json()["detail"]

            # One active export per connection.
            twin = await http.post(
                "/v1/shipment-exports",
                json={"name": "twin", "connection_id": export["connection_id"], "active": True},
            )
            assert (
                twin.status_code == 409 and twin.json()["error"] == "connection_has_active_export"
            )
            inactive = await http.post(
                "/v1/shipment-exports",
                json={"name": "twin", "connection_id": export["connection_id"]},
            )
            assert inactive.status_code == 201
            patched = await http.patch(
                f"/v1/shipment-exports/{inactive.json()['id']}", json={"feedback_enabled": False}
            )
            assert patched.json()["version"] == 2
            assert len((await http.get("/v1/shipment-exports")).json()) == 2
            assert (
                await http.delete(f"/v1/shipment-exports/{inactive.json()['id']}")
            ).status_code == 204
            assert (
                await http.get(f"/v1/shipment-exports/{inactive.json()['id']}")
            ).status_code == 404
            assert (await http.get("/v1/shipment-exports/not-a-uuid")).status_code == 404
            assert (await http.get("/v1/shipments/not-a-uuid")).status_code == 404

    # The same file through the command line changes nothing; a changed one is applied.
    path = tmp_path / "export.yaml"
    path.write_text(FILE.replace("feedback_enabled: false", "feedback_enabled: true"))
    env = settings_env(database_url=fresh_database, kafka_bootstrap=kafka_bootstrap)
    first = _apply_export(path, env)
    assert first.returncode == 0, first.stderr
    assert "uk-shipments" in first.stdout and "applied" in first.stdout
    second = _apply_export(path, env)
    assert second.returncode == 0 and "unchanged" in second.stdout, second.stdout + second.stderr


def _apply_export(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipment_notifier.cli", "apply-export", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

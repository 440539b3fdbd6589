"""A service given an invalid setting refuses to start and names the setting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COMMANDS = ["auth-broker", "catalog-sync", "order-ingest", "shipment-notifier"]


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_setting_stops_the_process_with_its_name(command: str) -> None:
    env = {**os.environ, "TTS_HTTP_PORT": "eighty", "TTS_DATABASE_URL": "mysql://x@y/z"}
    module = command.replace("-", "_") + ".cli"
    proc = subprocess.run(
        [sys.executable, "-c", f"import {module} as m; m.main()", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "TTS_HTTP_PORT" in proc.stderr
    assert "TTS_DATABASE_URL" in proc.stderr
    assert "Traceback" not in proc.stderr

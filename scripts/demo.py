"""`make demo`: the stack is up; show it working end to end on local defaults.

Steps run in order; each prints what it did. A step whose component is not
installed yet is reported as skipped, never as passed.
"""

from __future__ import annotations

import runpy
import sys
import time
from pathlib import Path

import httpx

SERVICES = {
    "auth-broker": "http://127.0.0.1:8101",
    "catalog-sync": "http://127.0.0.1:8102",
    "order-ingest": "http://127.0.0.1:8103",
    "shipment-notifier": "http://127.0.0.1:8104",
}
SANDBOX = "http://127.0.0.1:8180"
HERE = Path(__file__).resolve().parent


def wait_ready(timeout: float = 120.0) -> bool:
    """Wait until every service answers /readyz (database + Kafka) and the sandbox answers."""
    deadline = time.monotonic() + timeout
    pending = dict(SERVICES)
    last: dict[str, str] = {}
    with httpx.Client(timeout=3.0) as http:
        while pending and time.monotonic() < deadline:
            for name, url in list(pending.items()):
                try:
                    r = http.get(f"{url}/readyz")
                    last[name] = f"{r.status_code} {r.text[:160]}"
                    if r.status_code == 200:
                        print(f"  ready  {name:18} {url}  {r.json()['checks']}")
                        del pending[name]
                except httpx.HTTPError as exc:
                    last[name] = type(exc).__name__
            if pending:
                time.sleep(1.0)
        try:
            r = http.get(f"{SANDBOX}/sandbox/v1/stats")
            print(f"  ready  {'tiktok-sandbox':18} {SANDBOX}  HTTP {r.status_code}")
        except httpx.HTTPError as exc:
            print(f"  DOWN   tiktok-sandbox     {SANDBOX}  {type(exc).__name__}")
            return False
    for name in pending:
        print(f"  NOT READY {name}: {last.get(name)}")
    return not pending


def run_step(title: str, script: str) -> bool:
    path = HERE / script
    print(f"\n== {title}")
    if not path.exists():
        print(f"  skipped: {script} is not part of this build yet")
        return True
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exc:
        return exc.code in (0, None)
    return True


def main() -> int:
    print("== 1. every service is healthy (database + Kafka) and the sandbox answers")
    if not wait_ready():
        print("\nthe stack is not healthy: see `make status` and the logs in .local/logs/")
        return 1
    ok = run_step(
        "2. connect a US and a UK shop through the sandbox (auth-broker)", "demo_connect.py"
    )
    print("\ndemo finished:", "OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""`scripts/demo_connect.py` against a real broker and sandbox: it connects both markets, and
the broker's admin key and service credential never travel to TikTok's (the sandbox's) host."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from auth_broker.config import Settings
from auth_broker.testing import MIGRATIONS, free_port, run_broker, sandbox_settings
from tiktok_sandbox.testing import run_sandbox
from tts_common.migrate import migrate_async

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[4] / "scripts" / "demo_connect.py"


def _load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_connect_under_test", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[httpx.Request]]:
    """Every request any sync httpx client sends during the test."""
    requests: list[httpx.Request] = []
    original = httpx.Client.send

    def recording(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        requests.append(request)
        return original(self, request, **kwargs)

    monkeypatch.setattr(httpx.Client, "send", recording)
    yield requests


async def test_demo_connects_both_markets_without_sending_keys_to_tiktok(
    fresh_database: str,
    kafka_bootstrap: str,
    sent: list[httpx.Request],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await migrate_async(fresh_database, MIGRATIONS, "auth-broker")
    port = free_port()
    with run_sandbox(redirect_url=f"http://127.0.0.1:{port}/v1/oauth/callback") as sb:
        settings = Settings(
            **sandbox_settings(
                sb, fresh_database, kafka_bootstrap, http_port=port, refresher_enabled=False
            )
        )
        with run_broker(settings) as broker:
            demo = _load_demo()
            monkeypatch.setattr(demo, "BROKER", broker.base_url)
            assert demo.main() == 0
    admin_key = settings.admin_keys()[0]
    service_secret = next(iter(settings.service_credential_map()))
    to_tiktok = [r for r in sent if r.url.port == httpx.URL(sb.base_url).port]
    assert len(to_tiktok) >= 4  # authorize page + approve, for each market
    leaked = [
        str(r.url)
        for r in to_tiktok
        if any(admin_key in v or service_secret in v for v in r.headers.values())
    ]
    assert not leaked, leaked

"""What the `tts` tests share: `tts` run as a subprocess with a stack's URLs in its
environment, and the stacks the fixtures in conftest.py start."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from auth_broker.testing import RunningBroker, approve_in_sandbox
from tiktok_sandbox.testing import RunningSandbox

TTS = str(Path(sys.executable).parent / "tts")
SERVICE_SECRET = "tts-cli-test-credential-0123456789abcdef"


def run_tts(
    args: Sequence[str], env: dict[str, str], *, stdin: bytes | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`tts ARGS` as a process; its exit code, stdout and stderr."""
    proc = subprocess.run(
        [TTS, *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    return proc


def base_env(**urls: str) -> dict[str, str]:
    """The caller's environment without any TTS_* variable, plus `urls`; wide output so
    tables do not wrap ids, unbuffered so a waiting command's lines arrive as printed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTS_")}
    env.update(urls)
    env.update({"COLUMNS": "250", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"})
    return env


@dataclass
class CliStack:
    sandbox: RunningSandbox
    broker: RunningBroker
    catalog_url: str
    outside: httpx.AsyncClient
    env: dict[str, str] = field(default_factory=dict)

    def tts(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return run_tts(args, self.env, stdin=stdin)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [TTS, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
        )

    async def approve(self, authorize_url: str, market: str) -> None:
        """The seller approves in the sandbox; TikTok's redirect reaches the broker."""
        target = await approve_in_sandbox(self.outside, authorize_url, market)
        callback = await self.outside.get(target)
        assert callback.status_code == 200, callback.text


@dataclass
class OpsStack:
    orders_url: str
    shipments_url: str
    env: dict[str, str]
    sandbox: RunningSandbox
    outside: httpx.AsyncClient

    def tts(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return run_tts(args, self.env, stdin=stdin)

    async def approve(self, authorize_url: str, market: str) -> None:
        target = await approve_in_sandbox(self.outside, authorize_url, market)
        callback = await self.outside.get(target)
        assert callback.status_code == 200, callback.text

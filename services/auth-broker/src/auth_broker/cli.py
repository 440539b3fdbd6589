"""`auth-broker` command: serve | consume | relay | migrate | rotate-keys."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from tts_common.cli import Command, run_cli
from tts_common.db import create_engine, session_factory
from tts_common.logging import register_secret

from auth_broker.app import NAME, create_app
from auth_broker.config import Settings
from auth_broker.crypto import TokenCipher
from auth_broker.keys import RotationReport, rotate_keys

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


async def _rotate(settings: Settings) -> RotationReport:
    engine = create_engine(settings.database_url, pool_size=2)
    try:
        return await rotate_keys(session_factory(engine), TokenCipher(settings.fernet_keys()))
    finally:
        await engine.dispose()


def rotate_keys_command(settings: Settings) -> int:
    for secret in settings.secret_values():
        register_secret(secret, pinned=True)
    report = asyncio.run(_rotate(settings))
    print(f"{NAME}: re-encrypted the tokens of {report.rotated} connection(s) under the first key")
    if report.failed:
        print(
            f"{NAME}: could not decrypt {len(report.failed)} connection(s): {', '.join(report.failed)}"
        )
        return 1
    return 0


COMMANDS = {
    "rotate-keys": Command[Settings](
        help="re-encrypt every stored token under the first key of TTS_TOKEN_ENCRYPTION_KEYS",
        run=rotate_keys_command,
    )
}


def main(argv: Sequence[str] | None = None) -> None:
    run_cli(
        name=NAME,
        settings_cls=Settings,
        create_app=create_app,
        migrations_dir=MIGRATIONS,
        argv=argv,
        commands=COMMANDS,
    )


if __name__ == "__main__":
    main()

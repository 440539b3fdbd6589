"""`auth-broker` command: serve | migrate | rotate-keys."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from tts_common.cli import run_cli
from tts_common.db import create_engine, session_factory
from tts_common.logging import configure_logging, register_secret
from tts_common.settings import load_settings

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


def rotate_keys_command() -> int:
    settings = load_settings(Settings)
    configure_logging(NAME, settings.log_level, settings.log_json)
    for secret in settings.secret_values():
        register_secret(secret)
    report = asyncio.run(_rotate(settings))
    print(f"{NAME}: re-encrypted the tokens of {report.rotated} connection(s) under the first key")
    if report.failed:
        print(
            f"{NAME}: could not decrypt {len(report.failed)} connection(s): {', '.join(report.failed)}"
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["rotate-keys"]:
        if len(args) > 1 and args[1] in ("-h", "--help"):
            print(
                "usage: auth-broker rotate-keys\n\nre-encrypt every stored token under the first key of TTS_TOKEN_ENCRYPTION_KEYS"
            )
            return
        raise SystemExit(rotate_keys_command())
    run_cli(
        name=NAME,
        settings_cls=Settings,
        create_app=create_app,
        migrations_dir=MIGRATIONS,
        argv=args,
    )  # type: ignore[arg-type]


if __name__ == "__main__":
    main()

"""`auth-broker` command: serve | migrate."""

from __future__ import annotations

from pathlib import Path

from tts_common.cli import run_cli

from auth_broker.app import NAME, create_app
from auth_broker.config import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def main() -> None:
    run_cli(name=NAME, settings_cls=Settings, create_app=create_app, migrations_dir=MIGRATIONS)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()

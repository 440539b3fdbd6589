"""`catalog-sync` command: serve | consume | relay | migrate."""

from __future__ import annotations

from pathlib import Path

from tts_common.cli import run_cli

from catalog_sync.app import NAME, create_app
from catalog_sync.config import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def main() -> None:
    run_cli(name=NAME, settings_cls=Settings, create_app=create_app, migrations_dir=MIGRATIONS)


if __name__ == "__main__":
    main()

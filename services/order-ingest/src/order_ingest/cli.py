"""`order-ingest` command: serve | consume | relay | migrate."""

from __future__ import annotations

from pathlib import Path

from tts_common.cli import run_cli

from order_ingest.app import NAME, create_app
from order_ingest.config import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def main() -> None:
    run_cli(name=NAME, settings_cls=Settings, create_app=create_app, migrations_dir=MIGRATIONS)


if __name__ == "__main__":
    main()

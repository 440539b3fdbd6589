"""`shipment-notifier` command: serve | consume | relay | migrate."""

from __future__ import annotations

from pathlib import Path

from tts_common.cli import run_cli

from shipment_notifier.app import NAME, create_app
from shipment_notifier.config import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def main() -> None:
    run_cli(name=NAME, settings_cls=Settings, create_app=create_app, migrations_dir=MIGRATIONS)


if __name__ == "__main__":
    main()

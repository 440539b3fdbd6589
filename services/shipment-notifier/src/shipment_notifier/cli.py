"""`shipment-notifier` command: serve | consume | relay | migrate | apply-export FILE."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from tts_common.cli import run_cli
from tts_common.db import create_engine, session_factory, session_scope
from tts_common.errors import AppError
from tts_common.migrate import migrate
from tts_common.settings import load_settings

from shipment_notifier import exports
from shipment_notifier.app import NAME, create_app
from shipment_notifier.config import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


async def _apply(settings: Settings, raw: bytes) -> tuple[exports.ExportOut, bool]:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with session_scope(session_factory(engine)) as session:
            return await exports.apply_file(session, raw)
    finally:
        await engine.dispose()


def apply_export(argv: Sequence[str]) -> int:
    """Apply an export file (the same as `PUT /v1/shipment-exports:apply`)."""
    parser = argparse.ArgumentParser(prog=f"{NAME} apply-export")
    parser.add_argument("file", type=Path, help="the export's YAML file")
    args = parser.parse_args(argv)
    settings = load_settings(Settings)
    migrate(settings.database_url, MIGRATIONS, NAME)
    try:
        out, changed = asyncio.run(_apply(settings, args.file.read_bytes()))
    except AppError as exc:
        sys.stderr.write(f"{NAME}: {exc}\n")
        return 1
    print(f"{NAME}: export {out.name} ({out.id}) {'applied' if changed else 'unchanged'}")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["apply-export"]:
        raise SystemExit(apply_export(args[1:]))
    run_cli(
        name=NAME,
        settings_cls=Settings,
        create_app=create_app,
        migrations_dir=MIGRATIONS,
        argv=args,
    )


if __name__ == "__main__":
    main()

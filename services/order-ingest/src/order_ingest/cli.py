"""`order-ingest` command: serve | consume | relay | migrate | imports apply -f FILE."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from tts_common.cli import run_cli
from tts_common.db import create_engine, session_factory, session_scope
from tts_common.logging import configure_logging
from tts_common.migrate import migrate
from tts_common.settings import load_settings, register_settings_secrets

from order_ingest.app import NAME, create_app
from order_ingest.config import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def imports_command(argv: Sequence[str]) -> int:
    """`order-ingest imports apply -f FILE`: create or update the imports the file declares."""
    from order_ingest import importfile

    parser = argparse.ArgumentParser(prog=f"{NAME} imports")
    sub = parser.add_subparsers(dest="action", required=True)
    apply = sub.add_parser("apply", help="create or update the imports a YAML file declares")
    apply.add_argument("-f", "--file", required=True, help="the imports file ('-' = stdin)")
    args = parser.parse_args(argv)
    raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    try:
        declared = importfile.parse(raw)
    except importfile.FileProblems as exc:
        print(f"{args.file}: refused, nothing applied:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    settings = load_settings(Settings)
    configure_logging(NAME, settings.log_level, settings.log_json)
    register_settings_secrets(settings)
    migrate(settings.database_url, MIGRATIONS, NAME)

    async def run() -> importfile.Applied:
        engine = create_engine(settings.database_url)
        try:
            async with session_scope(session_factory(engine)) as session:
                return await importfile.apply(session, declared)
        finally:
            await engine.dispose()

    done = asyncio.run(run())
    for label, names in (("created", done.created), ("updated", done.updated)):
        for name in names:
            print(f"{label} {name}")
    print(
        f"{len(done.created)} created, {len(done.updated)} updated, {len(done.unchanged)} unchanged"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["imports"]:  # a command with its own arguments
        raise SystemExit(imports_command(args[1:]))
    run_cli(
        name=NAME,
        settings_cls=Settings,
        create_app=create_app,
        migrations_dir=MIGRATIONS,
        argv=args,
    )


if __name__ == "__main__":
    main()

"""The one command line every service shares.

    <service> serve [--no-workers]   the HTTP API (+ outbox relay, consumers, workers)
    <service> consume                relay, consumers and workers only (health/metrics served)
    <service> relay                  the outbox relay only, no HTTP at all
    <service> migrate                create the database if needed, apply every migration
    <service> api-key new ...        a new API key for a client and its TTS_API_KEYS entry
    <service> <command>              a service's own commands (e.g. auth-broker rotate-keys)

`serve --no-workers` and `consume` split one service into an API tier and a worker tier that
an operator scales independently (docs/architecture.md, "Running a service").
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import uvicorn
from fastapi import FastAPI

from tts_common.api_auth import ApiKeyConfigError
from tts_common.http import server_options
from tts_common.logging import configure_logging
from tts_common.migrate import migrate
from tts_common.settings import ServiceSettings, load_settings, register_settings_secrets

log = logging.getLogger(__name__)

S = TypeVar("S", bound=ServiceSettings)
T = TypeVar("T")


@dataclass(frozen=True)
class Command(Generic[S]):
    """A service-specific subcommand: `run(settings)` returns the process exit code."""

    help: str
    run: Callable[[S], int]


def _migrate_or_exit(name: str, settings: ServiceSettings, migrations_dir: Path) -> None:
    """Apply migrations; on failure log why (redacted, as JSON) and exit 1 instead of a raw trace."""
    try:
        migrate(settings.database_url, migrations_dir, name)
    except Exception as exc:
        log.exception(
            "database migration failed; check TTS_DATABASE_URL and that the server is up",
            extra={"error_class": type(exc).__name__},
        )
        raise SystemExit(1) from None


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run a service's main coroutine on uvloop (libuv's event loop, shipped with
    `uvicorn[standard]`) when it is installed, else on asyncio's own loop.

    The services are bound by the CPU of one event loop (HTTP clients, asyncpg, aiokafka):
    uvloop's cheaper socket and callback handling is a direct throughput gain (bench/README.md).
    """
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard] on Linux
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _serve(app: FastAPI, host: str, port: int) -> None:
    # Long-lived start-up objects need no more GC scans: ~20% less consumer CPU (bench/README.md).
    gc.freeze()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        **server_options(app),  # header size and keep-alive limits (tts_common.http)
    )
    run_loop(uvicorn.Server(config).serve())


def _relay(settings: ServiceSettings) -> int:
    from tts_common.outbox import run_relay

    run_loop(run_relay(settings.database_url, settings.kafka_bootstrap))  # logs its stop
    return 0


def run_cli(
    *,
    name: str,
    settings_cls: type[S],
    create_app: Callable[[S], FastAPI],
    migrations_dir: Path,
    argv: Sequence[str] | None = None,
    commands: Mapping[str, Command[S]] | None = None,
) -> None:
    commands = dict(commands or {})
    parser = argparse.ArgumentParser(prog=name, description=f"{name} service")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API and (by default) its background work")
    consume = sub.add_parser(
        "consume", help="run only the outbox relay, event consumers and workers (no API routes)"
    )
    for p in (serve, consume):
        p.add_argument("--host", default=None)
        p.add_argument("--port", type=int, default=None)
        p.add_argument("--no-migrate", action="store_true", help="do not apply migrations first")
    serve.add_argument(
        "--no-workers",
        action="store_true",
        help="API only: no outbox relay, consumers or workers (run `consume` elsewhere)",
    )
    sub.add_parser("relay", help="run only the outbox relay (publish committed events to Kafka)")
    sub.add_parser("migrate", help="create the database if needed and apply all migrations")
    api_key = sub.add_parser(
        "api-key", help="generate an API key: `api-key new --client pim --scopes catalog:read`"
    )
    api_key.add_argument("rest", nargs=argparse.REMAINDER)
    for command_name, command in commands.items():
        sub.add_parser(command_name, help=command.help)
    args = parser.parse_args(argv)
    if args.command == "api-key":  # needs no settings: it only prints a key and its hash
        from tts_common.api_auth import main as api_key_main

        api_key_main(args.rest, prog=f"{name} api-key")
        return

    settings = load_settings(settings_cls)
    configure_logging(name, settings.log_level, settings.log_json)
    register_settings_secrets(settings)

    if args.command == "migrate":
        _migrate_or_exit(name, settings, migrations_dir)
        print(f"{name}: database migrated")
        return
    if args.command == "relay":
        raise SystemExit(_relay(settings))
    if args.command in commands:
        raise SystemExit(commands[args.command].run(settings))
    if not args.no_migrate:
        _migrate_or_exit(name, settings, migrations_dir)
    if args.command == "serve" and args.no_workers:
        settings = settings.model_copy(update={"run_workers": False})
    elif args.command == "consume":
        settings = settings.model_copy(update={"serve_api": False, "run_workers": True})
    try:
        app = create_app(settings)
    except ApiKeyConfigError as exc:  # e.g. prod without TTS_API_KEYS: as load_settings does
        sys.stderr.write(f"invalid settings, refusing to start:\n  {exc}\n")
        raise SystemExit(2) from None
    _serve(app, args.host or settings.http_host, args.port or settings.http_port)

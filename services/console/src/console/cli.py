"""`console serve` (the pages, on port 8105) and `console hash-password NAME`.

Not `tts_common.cli.run_cli`: that one migrates a database first, and the console has none.
`serve` runs uvicorn with the same limits as every service (`tts_common.http.server_options`).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence

import uvicorn
from tts_common.http import server_options
from tts_common.logging import configure_logging
from tts_common.settings import load_settings

from console.app import NAME, create_app
from console.config import Settings
from console.passwords import hash_password


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=NAME, description="the web console")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the console's pages")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    hp = sub.add_parser(
        "hash-password", help="print a TTS_CONSOLE_USERS entry for NAME (password from stdin)"
    )
    hp.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "hash-password":
        if sys.stdin.isatty():
            password = getpass.getpass(f"password for {args.name}: ")
        else:
            password = sys.stdin.readline().rstrip("\n")
        if len(password) < 8:
            sys.stderr.write("hash-password: use at least 8 characters\n")
            raise SystemExit(2)
        print(f"{args.name}:{hash_password(password)}")
        return
    settings = load_settings(Settings)
    configure_logging(NAME, settings.log_level, settings.log_json)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=args.host or settings.http_host,
        port=args.port or settings.http_port,
        log_config=None,
        access_log=False,
        **server_options(app),
    )
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()

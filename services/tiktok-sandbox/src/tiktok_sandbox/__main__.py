"""`tiktok-sandbox` CLI: serve the emulator with uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_app
from .settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tiktok-sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8180)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    app = create_app(Settings.from_env())
    # Access logs off: token calls carry app_secret in the query string, and at
    # benchmark rates the logs cost more than the requests. The short graceful-shutdown
    # bound keeps `make down` quick when a "timeout" fault is holding a request open.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=3,
    )


if __name__ == "__main__":
    main()

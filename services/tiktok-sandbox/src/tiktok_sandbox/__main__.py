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
    # Access logs off: at benchmark rates they cost more than the requests themselves.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)


if __name__ == "__main__":
    main()

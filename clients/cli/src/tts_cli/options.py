"""Options several commands share."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from tts_cli.context import DEFAULT_CATALOG_URL, DEV_API_KEY, Config

JsonOpt = Annotated[
    bool, typer.Option("--json", help="print the result as JSON (for scripts), no table")
]


def complete_feed(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of a FEED: the names catalog-sync lists (nothing when it is down).

    While completing, the root callback has not run, so the URL and key are read from the
    root's parsed options (or their environment variables, defaults)."""
    params = ctx.find_root().params
    cfg = Config(
        catalog_url=params.get("catalog_url") or DEFAULT_CATALOG_URL,
        api_key=params.get("api_key") or DEV_API_KEY,
    )
    try:
        with cfg.catalog() as api:
            feeds = api.json("GET", "/v1/feeds")
    except Exception:  # completion must never fail the shell
        return []
    return [str(f["name"]) for f in feeds if str(f.get("name", "")).startswith(incomplete)]


FeedArg = Annotated[
    str,
    typer.Argument(help="the feed's name or id", show_default=False, autocompletion=complete_feed),
]


def aware(moment: datetime) -> datetime:
    """A time the user typed without a zone is their local time."""
    return moment if moment.tzinfo is not None else moment.astimezone()

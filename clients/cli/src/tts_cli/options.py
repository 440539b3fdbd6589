"""Options several commands share."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOpt = Annotated[
    bool, typer.Option("--json", help="print the result as JSON (for scripts), no table")
]
FeedArg = Annotated[str, typer.Argument(help="the feed's name or id", show_default=False)]

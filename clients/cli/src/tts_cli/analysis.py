"""`tts readiness FEED` and `tts feedback FEED -o FILE`: what a feed would export and what
TikTok made of it (docs/feeds.md, "Readiness" and "Runs and the delta")."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from tts_cli import render
from tts_cli.context import config, wants_json
from tts_cli.feeds import resolve_feed
from tts_cli.files import open_output
from tts_cli.options import FeedArg, JsonOpt

STATUS_STYLE = {"ready": "green", "warning": "yellow", "not_ready": "red"}


def readiness(
    ctx: typer.Context,
    feed: FeedArg,
    category: Annotated[
        str | None, typer.Option("--category", help="only products of this category id")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Readiness: per export attribute, the share of products passing TikTok's checks."""
    with config(ctx).catalog() as api:
        found = resolve_feed(api, feed)
        params = {"category_id": category} if category else None
        report: dict[str, Any] = api.json(
            "GET", f"/v1/feeds/{found['id']}/readiness", params=params, timeout=None
        )
    if wants_json(ctx, json_out):
        render.emit_json(report)
        return
    render.out.print(
        f"feed [bold]{found['name']}[/]: {report['ready']} of {report['products']} products "
        f"ready ({render.percent(report['share'])}, {report['rows']} rows) — "
        f"[{STATUS_STYLE.get(report['status'], 'white')}]{report['status']}[/] "
        f"(threshold {render.percent(report['threshold'])})"
    )
    render.table(
        "attributes",
        ["attribute", "required", "products", "passed", "failed", "share", "status", "empty"],
        (
            [
                a["name"],
                a.get("required"),
                a.get("products"),
                a.get("passed"),
                a.get("failed"),
                render.percent(a.get("share")),
                a.get("status"),
                a.get("empty"),
            ]
            for a in report.get("attributes") or []
        ),
    )
    categories = report.get("categories") or []
    if categories:
        render.table(
            "categories" + (" (truncated)" if report.get("categories_truncated") else ""),
            ["category", "path", "products", "ready", "share", "status"],
            (
                [
                    c["category_id"],
                    c.get("path"),
                    c.get("products"),
                    c.get("ready"),
                    render.percent(c.get("share")),
                    c.get("status"),
                ]
                for c in categories
            ),
        )


class FeedbackFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


def feedback(
    ctx: typer.Context,
    feed: FeedArg,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="the file to write (- for stdout)")
    ],
    fmt: Annotated[
        FeedbackFormat | None,
        typer.Option("--format", help="csv or jsonl (default: from the file name, else csv)"),
    ] = None,
) -> None:
    """The feedback file: per product the last action, outcome and TikTok's answer."""
    if fmt is None:
        jsonl = output.suffix.lower() in (".jsonl", ".ndjson", ".json")
        fmt = FeedbackFormat.jsonl if jsonl else FeedbackFormat.csv
    with config(ctx).catalog() as api:
        found = resolve_feed(api, feed)
        with open_output(output) as sink:
            size = api.stream_to(
                f"/v1/feeds/{found['id']}/feedback", sink, params={"format": fmt.value}
            )
    if str(output) != "-":
        render.note(f"wrote {output} ({size} bytes)")

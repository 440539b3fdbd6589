"""`tts feeds list|show|apply|export`: catalog-sync's feeds and feed files (docs/feeds.md).

A FEED argument is a feed's name or id: `resolve_feed` looks it up in `GET /v1/feeds`, so
every command accepts what `tts feeds list` shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tts_cli import render
from tts_cli.api import Api
from tts_cli.context import config, wants_json
from tts_cli.errors import CliError, ExitCode
from tts_cli.files import open_output, read_file
from tts_cli.options import FeedArg, JsonOpt

app = typer.Typer(help="Feeds: a catalogue sent to one TikTok shop (catalog-sync).")


def resolve_feed(api: Api, ref: str) -> dict[str, Any]:
    """The feed named or identified by `ref`; a CliError naming the feeds there are."""
    feeds: list[dict[str, Any]] = api.json("GET", "/v1/feeds")
    for feed in feeds:
        if ref in (feed.get("id"), feed.get("name")):
            return feed
    known = ", ".join(sorted(str(f.get("name")) for f in feeds)) or "none"
    raise CliError(
        f"no feed is named or identified {ref!r} (feeds: {known})",
        hint="`tts feeds list` shows them; `tts feeds apply -f FILE` creates one",
        code=ExitCode.NOT_FOUND,
    )


@app.command("list")
def list_feeds(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Every feed: market, connection, active, schedule, pause."""
    with config(ctx).catalog() as api:
        feeds = api.json("GET", "/v1/feeds")
    if wants_json(ctx, json_out):
        render.emit_json(feeds)
        return
    render.table(
        "feeds",
        ["name", "id", "market", "connection", "active", "schedule", "paused"],
        (
            [
                f["name"],
                f["id"],
                f["market"],
                f.get("connection_id"),
                f.get("active"),
                f.get("schedule"),
                f.get("paused_reason"),
            ]
            for f in feeds
        ),
        empty="none yet: `tts feeds apply -f FILE` creates one from a feed file",
    )


@app.command("show")
def show_feed(ctx: typer.Context, feed: FeedArg, json_out: JsonOpt = False) -> None:
    """One feed's settings."""
    with config(ctx).catalog() as api:
        found = resolve_feed(api, feed)
    if wants_json(ctx, json_out):
        render.emit_json(found)
        return
    render.fields(
        f"feed {found['name']}",
        [(k, v) for k, v in found.items() if k not in ("dataflow", "optimization")],
    )


@app.command("apply")
def apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Option("--file", "-f", help="the feed file (YAML; - for stdin)")],
    json_out: JsonOpt = False,
) -> None:
    """Create or update a feed from a feed file; applying it twice changes nothing."""
    raw = read_file(file)
    with config(ctx).catalog() as api:
        result = api.json(
            "POST", "/v1/feeds:apply", content=raw, headers={"Content-Type": "application/yaml"}
        )
    if wants_json(ctx, json_out):
        render.emit_json(result)
        return
    feed = result["feed"]
    if result.get("created"):
        what = "created"
    elif result.get("changed"):
        what = "updated"
    else:
        what = "unchanged"
    render.out.print(
        f"feed [bold]{feed['name']}[/] ({feed['id']}) {what}, version {feed['version']}"
    )


@app.command("export")
def export(
    ctx: typer.Context,
    feed: FeedArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
) -> None:
    """The feed as a feed file (YAML) that applies unchanged."""
    with config(ctx).catalog() as api:
        found = resolve_feed(api, feed)
        text = api.request("GET", f"/v1/feeds/{found['id']}/file").content
    with open_output(output) as sink:
        sink.write(text)
    if output is not None and str(output) != "-":
        render.note(f"wrote {output} ({len(text)} bytes)")


@app.command("resume")
def resume(ctx: typer.Context, feed: FeedArg, json_out: JsonOpt = False) -> None:
    """Resume a paused feed: clear the pause and queue a run (`tts runs show` follows it)."""
    with config(ctx).catalog() as api:
        found = resolve_feed(api, feed)
        run = api.json("POST", f"/v1/feeds/{found['id']}:resume")
    if wants_json(ctx, json_out):
        render.emit_json(run)
        return
    render.out.print(f"feed {found['name']} resumed: run {run['id']} {run['status']}", markup=False)

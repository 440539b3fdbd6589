"""`tts lists unmapped|download|upload`: a feed's taxonomy mapping lists, mapped in bulk by
CSV (docs/feeds.md, "Taxonomy lists"): download the unmapped values, fill in the replacement
column in a spreadsheet, upload it back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer

from tts_cli import render
from tts_cli.context import config, wants_json
from tts_cli.feeds import resolve_feed
from tts_cli.files import open_output, read_file
from tts_cli.options import FeedArg, JsonOpt

app = typer.Typer(help="Taxonomy mapping lists of a feed (categories, brands, values).")

ListArg = Annotated[str, typer.Argument(help="the list's name, as in the feed file")]


def _path(feed_id: str, name: str) -> str:
    return f"/v1/feeds/{feed_id}/lists/{quote(name, safe='')}"


@app.command("list")
def list_lists(ctx: typer.Context, feed: FeedArg, json_out: JsonOpt = False) -> None:
    """The feed's lists: values, mapped, unmapped."""
    with config(ctx).catalog() as api:
        found = resolve_feed(api, feed)
        summaries = api.json("GET", f"/v1/feeds/{found['id']}/lists")
    if wants_json(ctx, json_out):
        render.emit_json(summaries)
        return
    _summary_table(summaries)


def _summary_table(summaries: list[dict[str, Any]]) -> None:
    render.table(
        "lists",
        ["list", "taxonomy", "attribute", "values", "mapped", "unmapped", "accept above"],
        (
            [
                s["name"],
                s["taxonomy"],
                s["attribute"],
                s["values"],
                s["mapped"],
                s["unmapped"],
                s.get("accept_above_score"),
            ]
            for s in summaries
        ),
        empty="the feed has no lists (its feed file declares them under `lists:`)",
    )


@app.command("unmapped")
def unmapped(
    ctx: typer.Context,
    feed: FeedArg,
    list_name: Annotated[str | None, typer.Option("--list", "-l", help="only this list")] = None,
    json_out: JsonOpt = False,
) -> None:
    """The values each list has not mapped yet (they export nothing for their attribute)."""
    with config(ctx).catalog() as api:
        found = resolve_feed(api, feed)
        summaries: list[dict[str, Any]] = api.json("GET", f"/v1/feeds/{found['id']}/lists")
        if list_name is not None:
            summaries = [s for s in summaries if s["name"] == list_name]
            if not summaries:
                # The service names the lists there are.
                api.json("GET", _path(found["id"], list_name))
        values: dict[str, list[str]] = {}
        for s in summaries:
            rows = (
                api.json("GET", _path(found["id"], s["name"]), params={"unmapped": "true"})
                if s["unmapped"]
                else []
            )
            values[s["name"]] = [r["source_value"] for r in rows]
    if wants_json(ctx, json_out):
        render.emit_json([{**s, "unmapped_values": values[s["name"]]} for s in summaries])
        return
    _summary_table(summaries)
    for name, missing in values.items():
        if missing:
            render.table(f"{name}: unmapped values", ["source value"], ([v] for v in missing))
    if any(values.values()):
        render.note(
            "map them: `tts lists download FEED LIST --unmapped -o FILE`, fill in the "
            "replacement column, `tts lists upload FEED LIST FILE`"
        )


@app.command("download")
def download(
    ctx: typer.Context,
    feed: FeedArg,
    list_name: ListArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="the CSV file (default: stdout)")
    ] = None,
    only_unmapped: Annotated[
        bool, typer.Option("--unmapped", help="only the values without a replacement")
    ] = False,
) -> None:
    """A list as CSV (source_value, replacement) for bulk mapping in a spreadsheet."""
    params = {"format": "csv"}
    if only_unmapped:
        params["unmapped"] = "true"
    with config(ctx).catalog() as api:
        found = resolve_feed(api, feed)
        body = api.request("GET", _path(found["id"], list_name), params=params).content
    with open_output(output) as sink:
        sink.write(body)
    if output is not None and str(output) != "-":
        render.note(f"wrote {output} ({len(body)} bytes)")


@app.command("upload")
def upload(
    ctx: typer.Context,
    feed: FeedArg,
    list_name: ListArg,
    file: Annotated[Path, typer.Argument(help="a CSV like the download (- for stdin)")],
    json_out: JsonOpt = False,
) -> None:
    """Set a list's replacements from a CSV like the download (an empty replacement unmaps)."""
    raw = read_file(file)
    with config(ctx).catalog() as api:
        found = resolve_feed(api, feed)
        result = api.json(
            "PUT",
            _path(found["id"], list_name) + "/mappings",
            content=raw,
            headers={"Content-Type": "text/csv"},
        )
    if wants_json(ctx, json_out):
        render.emit_json(result)
        return
    render.out.print(f"list {list_name}: {result.get('updated', 0)} mapping(s) updated")

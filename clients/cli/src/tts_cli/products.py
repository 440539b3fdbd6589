"""`tts products upload FEED FILE`: a product file streamed to catalog-sync's intake.

The file is sent as it is read (catalog-sync parses it as it arrives, docs/feeds.md "Intake"),
so a file of any size costs the CLI one chunk of memory; a progress bar counts the bytes
sent. The answer is the intake report: rows new / changed / unchanged / deleted / refused,
with the refused rows' lines and reasons; refused rows make the exit code 7 (the good rows
are kept all the same).
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from tts_cli import render
from tts_cli.api import raise_for
from tts_cli.context import config, wants_json
from tts_cli.errors import CliError, ExitCode
from tts_cli.feeds import resolve_feed
from tts_cli.files import open_input
from tts_cli.options import FeedArg, JsonOpt

app = typer.Typer(help="Product files: upload a catalogue into a feed's source.")

CHUNK = 256 * 1024


class Format(StrEnum):
    csv = "csv"
    ndjson = "ndjson"
    shopify = "shopify"


def guess_format(path: Path) -> Format | None:
    """The format a file's name implies (`.csv`, `.ndjson`/`.jsonl`, either `.gz`); a
    Shopify export is a CSV too, so it is never guessed: pass `--format shopify`."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    last = suffixes[-1] if suffixes else ""
    if last == ".csv":
        return Format.csv
    if last in (".ndjson", ".jsonl"):
        return Format.ndjson
    return None


def chunks(handle: BinaryIO, progress: Progress, task: Any) -> Iterator[bytes]:
    while block := handle.read(CHUNK):
        progress.advance(task, len(block))
        yield block


@app.command("upload")
def upload(
    ctx: typer.Context,
    feed: FeedArg,
    file: Annotated[Path, typer.Argument(help="the product file (- for stdin); gzip is fine")],
    fmt: Annotated[
        Format | None,
        typer.Option("--format", help="csv, ndjson or shopify (default: from the file name)"),
    ] = None,
    upsert: Annotated[
        bool,
        typer.Option(
            "--upsert",
            help="add or replace these rows only (default: a full "
            "snapshot, rows absent from the file are deleted)",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="a snapshot may delete more than the feed's max_delete_share"),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Upload a product file (streamed, with a progress bar), then show the intake report."""
    chosen = fmt or guess_format(file)
    if chosen is None:
        raise CliError(
            f"cannot tell the format of {file} from its name",
            hint="pass --format csv, ndjson or shopify",
            code=ExitCode.USAGE,
        )
    as_json = wants_json(ctx, json_out)
    params: dict[str, str] = {"format": chosen.value}
    if force and not upsert:
        params["force"] = "true"
    with config(ctx).catalog() as api, open_input(file) as (handle, size):
        found = resolve_feed(api, feed)
        path = f"/v1/feeds/{found['id']}/products" + (":upsert" if upsert else "")
        with Progress(
            TextColumn("uploading"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=render.err,
            transient=False,
        ) as progress:
            task = progress.add_task("upload", total=size)
            response = api.upload(
                "POST" if upsert else "PUT",
                path,
                chunks(handle, progress, task),
                params=params,
                headers={"Content-Type": "application/octet-stream"},
            )
    if response.status_code != 200:
        body = _json_or_none(response)
        if response.status_code == 409 and isinstance(body, dict) and "upload" in body:
            if not as_json:
                show_report(body["upload"])
        raise_for(api.service, response)
    report = response.json()
    if as_json:
        render.emit_json(report)
    else:
        show_report(report)
    refused = int(report.get("refused") or 0)
    if refused:
        # The good rows were applied; a script still learns that some were not.
        raise CliError(
            f"{refused} of {report.get('rows_read')} rows refused (the other rows were applied)",
            hint="fix the rows at the listed lines and upload the file again",
            code=ExitCode.INVALID,
            body=report,
        )


def _json_or_none(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def show_report(report: dict[str, Any]) -> None:
    """The intake report as people read it: counts, refusals by reason, the first problems."""
    render.fields(
        f"upload {report.get('upload_id')} ({report.get('kind')}, {report.get('format')}): "
        f"{report.get('status')}",
        [
            ("rows read", report.get("rows_read")),
            ("new", report.get("new")),
            ("changed", report.get("changed")),
            ("unchanged", report.get("unchanged")),
            ("deleted", report.get("deleted")),
            ("refused", report.get("refused")),
            ("seconds", report.get("duration_s")),
        ],
    )
    by_reason = report.get("refused_by_reason") or {}
    if by_reason:
        render.table("refused rows by reason", ["reason", "rows"], sorted(by_reason.items()))
    problems = report.get("problems") or []
    if problems:
        shown = problems[:20]
        render.table(
            "problems" + (" (first 20)" if len(problems) > 20 else ""),
            ["line", "product_id", "reason"],
            ([p.get("line"), p.get("product_id"), p.get("reason")] for p in shown),
        )
        if len(problems) > 20 or report.get("problems_truncated"):
            render.note("more problems: `tts products upload … --json` lists every one returned")

"""`tts runs start|list|show|cancel`: a feed's export runs (docs/feeds.md, "Runs and the
delta").

`--follow` polls `GET /v1/feeds/{id}/runs/{run_id}` and draws its `progress {done, total}`
as a live bar until the run ends, then prints its counts per action and outcome. The exit
code says how it ended, so a script can `tts runs start FEED --follow && …`.
"""

from __future__ import annotations

import threading
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tts_cli import render
from tts_cli.api import Api
from tts_cli.context import config, wants_json
from tts_cli.errors import CliError, ExitCode
from tts_cli.feeds import resolve_feed
from tts_cli.options import FeedArg, JsonOpt

app = typer.Typer(help="Export runs: a feed's products sent to TikTok.")

ACTIVE = ("queued", "running")
# How a finished run's status becomes the exit code: only `succeeded` is a success.
FAILED_STATUSES = ("failed", "paused", "cancelled")

IntervalOpt = Annotated[
    float, typer.Option("--interval", help="seconds between progress checks", min=0.1)
]
RunArg = Annotated[str, typer.Argument(help="the run's id (`tts runs list FEED`)")]


class Only(StrEnum):
    all = "all"
    failed = "failed"


def _counts(run: dict[str, Any]) -> list[list[Any]]:
    return [
        [action, outcome, n]
        for action, outcomes in sorted((run.get("counts") or {}).items())
        for outcome, n in sorted(outcomes.items())
    ]


def show_run(run: dict[str, Any]) -> None:
    progress = run.get("progress") or {}
    render.fields(
        f"run {run['id']}",
        [
            ("status", run["status"]),
            ("reason", run.get("reason")),
            ("trigger", run.get("trigger")),
            ("dry run", run.get("dry_run")),
            ("only", run.get("only")),
            ("progress", f"{progress.get('done', 0)} / {progress.get('total', 0)} products"),
            ("started", run.get("started_at")),
            ("finished", run.get("finished_at")),
            ("seconds", run.get("duration_s")),
        ],
    )
    render.table("counts", ["action", "outcome", "products"], _counts(run), empty="none yet")


def outcome(run: dict[str, Any]) -> None:
    """Raise the CliError of a run that did not succeed (exit 1), after it was shown."""
    if run["status"] in FAILED_STATUSES:
        raise CliError(
            f"run {run['id']} {run['status']}: {run.get('reason') or 'no reason given'}",
            hint=_HINTS[run["status"]],
            code=ExitCode.FAILED,
            body=run,
        )


_HINTS = {
    "failed": "`tts feedback FEED -o feedback.csv` lists each product's TikTok answer; "
    "`tts runs start FEED --only failed` retries the failed ones",
    "paused": "fix the reason (e.g. reconnect with `tts connections connect`), then "
    "`tts feeds resume FEED`",
    "cancelled": "start a new run with `tts runs start FEED`",
}


def tally(run: dict[str, Any]) -> str:
    """Outcomes so far over every action, e.g. `ok 12 · failed 1`."""
    totals: dict[str, int] = {}
    for outcomes in (run.get("counts") or {}).values():
        for name, n in outcomes.items():
            totals[name] = totals.get(name, 0) + n
    return " · ".join(f"{name} {n}" for name, n in sorted(totals.items()))


def follow(
    api: Api, feed: dict[str, Any], run: dict[str, Any], interval: float, quiet: bool
) -> Any:
    """Poll the run until it is no longer queued or running; a live bar unless `quiet`.

    Ctrl-C stops following, not the run: the message says how to pick it up again.
    """
    pause = threading.Event()
    path = f"/v1/feeds/{feed['id']}/runs/{run['id']}"
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("products {task.fields[tally]}"),
            TimeElapsedColumn(),
            console=render.err,
            disable=quiet,
        ) as bar:
            task = bar.add_task(run["status"], total=None, tally="")
            while True:
                progress = run.get("progress") or {}
                bar.update(
                    task,
                    description=run["status"],
                    completed=progress.get("done", 0),
                    total=progress.get("total") or None,
                    tally=tally(run),
                )
                if run["status"] not in ACTIVE:
                    return run
                pause.wait(interval)
                run = api.json("GET", path)
    except KeyboardInterrupt:
        raise CliError(
            f"stopped following run {run['id']}; the run goes on",
            hint=f"`tts runs show {feed['name']} {run['id']} --follow` follows it again, "
            f"`tts runs cancel {feed['name']} {run['id']}` stops it",
            code=ExitCode.INTERRUPTED,
        ) from None


@app.command("start")
def start(
    ctx: typer.Context,
    feed: FeedArg,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="plan only: what would be sent, no TikTok write")
    ] = False,
    only: Annotated[
        Only, typer.Option("--only", help="all, or failed: retry the products that failed")
    ] = Only.all,
    follow_run: Annotated[
        bool,
        typer.Option(
            "--follow", help="show its progress until it ends; exit 1 unless it succeeded"
        ),
    ] = False,
    interval: IntervalOpt = 0.5,
    json_out: JsonOpt = False,
) -> None:
    """Queue an export run of the feed (one at a time per feed)."""
    as_json = wants_json(ctx, json_out)
    with config(ctx).catalog() as api:
        found = resolve_feed(api, feed)
        run = api.json(
            "POST",
            f"/v1/feeds/{found['id']}/runs",
            json={"dry_run": dry_run, "only": only.value},
        )
        if not follow_run:
            if as_json:
                render.emit_json(run)
            else:
                render.out.print(
                    f"run {run['id']} of feed {found['name']} {run['status']}: "
                    f"`tts runs show {found['name']} {run['id']} --follow` shows its progress",
                    markup=False,
                )
            return
        run = follow(api, found, run, interval, quiet=as_json)
    _finished(run, as_json)


def _finished(run: dict[str, Any], as_json: bool) -> None:
    if as_json:
        render.emit_json(run)
    else:
        show_run(run)
    outcome(run)


@app.command("show")
def show(
    ctx: typer.Context,
    feed: FeedArg,
    run_id: RunArg,
    follow_run: Annotated[bool, typer.Option("--follow", help="until it ends")] = False,
    interval: IntervalOpt = 0.5,
    json_out: JsonOpt = False,
) -> None:
    """One run: status, progress, counts per action and outcome."""
    as_json = wants_json(ctx, json_out)
    with config(ctx).catalog() as api:
        found = resolve_feed(api, feed)
        run = api.json("GET", f"/v1/feeds/{found['id']}/runs/{run_id}")
        if follow_run:
            run = follow(api, found, run, interval, quiet=as_json)
    _finished(run, as_json)


@app.command("list")
def list_runs(
    ctx: typer.Context,
    feed: FeedArg,
    limit: Annotated[int, typer.Option(help="at most this many, newest first", min=1)] = 20,
    json_out: JsonOpt = False,
) -> None:
    """The feed's runs, newest first."""
    with config(ctx).catalog() as api:
        found = resolve_feed(api, feed)
        runs = api.json("GET", f"/v1/feeds/{found['id']}/runs", params={"limit": min(limit, 500)})
    if wants_json(ctx, json_out):
        render.emit_json(runs)
        return
    render.table(
        f"runs of {found['name']}",
        ["id", "status", "trigger", "dry run", "progress", "created", "seconds", "reason"],
        (
            [
                r["id"],
                r["status"],
                r.get("trigger"),
                r.get("dry_run"),
                f"{r['progress']['done']}/{r['progress']['total']}",
                r.get("created_at"),
                r.get("duration_s"),
                r.get("reason"),
            ]
            for r in runs
        ),
        empty="no runs yet: `tts runs start FEED`",
    )


@app.command("cancel")
def cancel(ctx: typer.Context, feed: FeedArg, run_id: RunArg, json_out: JsonOpt = False) -> None:
    """Cancel a queued or running run (it stops after the products in flight)."""
    with config(ctx).catalog() as api:
        found = resolve_feed(api, feed)
        run = api.json("POST", f"/v1/feeds/{found['id']}/runs/{run_id}:cancel")
    if wants_json(ctx, json_out):
        render.emit_json(run)
        return
    render.out.print(f"run {run['id']}: cancel requested ({run['status']})", markup=False)

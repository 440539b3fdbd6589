"""What went wrong, what to do about it, and the exit code that says which (docs/cli.md).

Every failure the CLI reports is a `CliError`: one line saying what went wrong, one saying
what to do, and an exit code from `ExitCode`, so a script can tell "the service is down"
from "the feed does not exist" without parsing text. `CliGroup` turns it into that output
and code for every command; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import enum
from typing import Any

import typer
import typer.core
from rich.console import Console
from rich.markup import escape


class ExitCode(enum.IntEnum):
    """The `tts` exit codes (docs/cli.md, "Exit codes"). 2 is click's own usage error."""

    OK = 0
    FAILED = 1  # the command ran, its outcome is a failure (a run failed/paused, a timeout)
    USAGE = 2  # bad options or arguments, an unreadable local file
    UNREACHABLE = 3  # no answer from the service (not started, wrong URL, timed out)
    AUTH = 4  # 401/403: the key was refused or lacks the scope
    NOT_FOUND = 5  # 404, or a feed name that no feed has
    CONFLICT = 6  # 409: e.g. a run already in progress, the mass-deletion guard
    INVALID = 7  # 400/413/422: the service refused the input, with the problems listed
    SERVICE = 8  # 5xx or an answer the CLI does not understand
    INTERRUPTED = 130  # Ctrl-C while following (the run goes on), as shells report SIGINT


class CliError(Exception):
    """A failure to report: `message` (what went wrong), `hint` (what to do), `problems`
    (one line each, e.g. a refused feed file's problems), `code` (the exit code)."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: ExitCode = ExitCode.FAILED,
        problems: list[str] | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code
        self.problems = problems or []
        self.body = body  # the service's error body, for --json output


def report(err: CliError, console: Console) -> None:
    """Print `err` to `console` (stderr): never markup from a service's text."""
    console.print(f"[bold red]error:[/] {escape(err.message)}")
    for problem in err.problems:
        console.print(f"  - {escape(problem)}")
    if err.hint:
        console.print(f"[yellow]what to do:[/] {escape(err.hint)}")


class CliGroup(typer.core.TyperGroup):
    """The root command group: reports a `CliError` raised by any (sub)command and exits
    with its code. Nested groups need nothing: their errors propagate through here."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click Context
        try:
            return super().invoke(ctx)
        except CliError as err:
            report(err, Console(stderr=True, soft_wrap=True, highlight=False))
            raise typer.Exit(int(err.code)) from None

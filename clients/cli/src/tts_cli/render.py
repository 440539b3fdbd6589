"""Terminal output: Rich tables for people, plain JSON on stdout for scripts (`--json`).

Progress bars and notes go to stderr, so `tts … --json | jq` sees only the document.
Values from the services are printed as text, never interpreted as Rich markup.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(data: Any) -> None:
    """The document as JSON on stdout (not through Rich: no wrapping, no colour)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def cell(value: Any) -> Text:
    if value is None:
        return Text("-", style="dim")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, float):
        return Text(f"{value:.2f}")
    if isinstance(value, list | tuple):
        return Text(", ".join(str(v) for v in value))
    return Text(str(value))


def _title(title: str | None) -> Text | None:
    return None if title is None else Text(title, style="bold")


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    empty: str = "nothing to show",
) -> None:
    """Print a table of `rows` (one value per column), or `empty` when there are none."""
    t = Table(title=_title(title), title_justify="left", header_style="bold")
    for name in columns:
        t.add_column(name, overflow="fold")
    n = 0
    for row in rows:
        t.add_row(*(cell(v) for v in row))
        n += 1
    if n == 0:
        out.print(Text(empty, style="dim") if title is None else Text(f"{title}: {empty}"))
        return
    out.print(t)


def fields(title: str | None, pairs: Iterable[tuple[str, Any]]) -> None:
    """A two-column table of `name: value` pairs (one object)."""
    t = Table(
        title=_title(title), title_justify="left", show_header=False, box=None, pad_edge=False
    )
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    for name, value in pairs:
        t.add_row(name, cell(value))
    out.print(t)


def note(message: str) -> None:
    """A line for the person at the terminal (stderr, so --json stays clean)."""
    err.print(Text(message))


def percent(share: Any) -> str:
    return f"{float(share) * 100:.1f}%" if isinstance(share, int | float) else "-"

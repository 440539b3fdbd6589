"""Local files the commands read and write; `-` is stdin / stdout.

An unreadable input or unwritable output is the user's to fix, so it is a CliError (exit 2)
naming the path, never a traceback.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from tts_cli.errors import CliError, ExitCode


def _refused(path: Path, exc: OSError, what: str) -> CliError:
    return CliError(
        f"cannot {what} {path}: {exc.strerror or exc}",
        hint="check the path and its permissions",
        code=ExitCode.USAGE,
    )


def read_file(path: Path) -> bytes:
    if str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _refused(path, exc, "read") from None


@contextlib.contextmanager
def open_input(path: Path) -> Iterator[tuple[BinaryIO, int | None]]:
    """The file opened for reading and its size (None for stdin)."""
    if str(path) == "-":
        yield sys.stdin.buffer, None
        return
    try:
        handle = path.open("rb")
        size = path.stat().st_size
    except OSError as exc:
        raise _refused(path, exc, "read") from None
    with handle:
        yield handle, size


@contextlib.contextmanager
def open_output(path: Path | None) -> Iterator[BinaryIO]:
    """The file opened for writing (replaced), or stdout for None / `-`."""
    if path is None or str(path) == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    try:
        handle = path.open("wb")
    except OSError as exc:
        raise _refused(path, exc, "write") from None
    with handle:
        yield handle

"""Generate the JSON Schemas of the event contracts into ``libs/common/schemas/``.

``python -m tts_common.schemas_gen`` writes one schema per event type (the
``data`` payload) plus the CloudEvents envelope; ``--check`` only compares and
exits 1 when the committed files are stale. Outside producers validate what
they send against these files, so they are committed and kept in sync by a test.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tts_common.events import EVENT_MODELS, TOPIC_TYPES, CloudEvent

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
ENVELOPE_FILE = "cloudevent.schema.json"


def _dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """File name → file content for every schema."""
    files: dict[str, str] = {}
    envelope = CloudEvent.model_json_schema()
    files[ENVELOPE_FILE] = _dump(
        {"$schema": DRAFT, "$id": ENVELOPE_FILE, "title": "CloudEvent", **envelope}
    )
    for event_type, model in sorted(EVENT_MODELS.items()):
        name = f"{event_type}.schema.json"
        topics = sorted(t for t, types in TOPIC_TYPES.items() if event_type in types)
        schema = model.model_json_schema()
        files[name] = _dump(
            {
                "$schema": DRAFT,
                "$id": name,
                "x-event-type": event_type,
                "x-topics": topics,
                **schema,
            }
        )
    return files


def stale_files(directory: Path, files: dict[str, str]) -> list[str]:
    """Names that are missing, different, or no longer generated."""
    stale = [
        name
        for name, content in files.items()
        if not (directory / name).is_file() or (directory / name).read_text() != content
    ]
    if directory.is_dir():
        stale += sorted(p.name for p in directory.glob("*.schema.json") if p.name not in files)
    return stale


def write(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.schema.json"):
        if old.name not in files:
            old.unlink()
    for name, content in files.items():
        (directory / name).write_text(content)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tts_common.schemas_gen")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    files = generate()
    if args.check:
        stale = stale_files(args.out, files)
        for name in stale:
            print(f"stale: {name}", file=sys.stderr)
        return 1 if stale else 0
    write(args.out, files)
    print(f"wrote {len(files)} schemas to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

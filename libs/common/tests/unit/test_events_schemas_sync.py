"""The committed JSON Schemas match the pydantic models."""

from __future__ import annotations

import json
from pathlib import Path

from tts_common import schemas_gen
from tts_common.events import EVENT_MODELS

COMMITTED = Path(__file__).resolve().parents[2] / "schemas"


def test_committed_schemas_are_up_to_date() -> None:
    stale = schemas_gen.stale_files(COMMITTED, schemas_gen.generate())
    assert stale == [], (
        "run `uv run python -m tts_common.schemas_gen` and commit libs/common/schemas/"
    )


def test_one_schema_per_event_type_plus_the_envelope(tmp_path: Path) -> None:
    assert schemas_gen.main(["--out", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {f"{t}.schema.json" for t in EVENT_MODELS} | {"cloudevent.schema.json"}
    envelope = json.loads((tmp_path / "cloudevent.schema.json").read_text())
    assert envelope["required"] == ["specversion", "id", "source", "type"]


def test_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    assert schemas_gen.main(["--out", str(tmp_path)]) == 0
    assert schemas_gen.main(["--out", str(tmp_path), "--check"]) == 0
    target = tmp_path / "order.received.schema.json"
    target.write_text(target.read_text().replace("order_id", "orderId"))
    (tmp_path / "retired.schema.json").write_text("{}")
    assert schemas_gen.main(["--out", str(tmp_path), "--check"]) == 1
    assert schemas_gen.stale_files(tmp_path, schemas_gen.generate()) == [
        "order.received.schema.json",
        "retired.schema.json",
    ]

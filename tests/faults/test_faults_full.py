"""The full fault suite (`make faults`): every fault kind three times while the workload
streams; the report goes to bench/results/faults.json (docs/reliability.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from suite import FULL, problems, run, table, write

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(1500),
    pytest.mark.skipif(
        os.environ.get("TTS_FAULTS_FULL") != "1", reason="the full fault suite: `make faults`"
    ),
]

RESULT = Path(__file__).resolve().parents[2] / "bench" / "results" / "faults.json"


def test_every_fault_three_times_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    report = run(FULL, tmp_path)
    write(report, RESULT)
    print("\n" + table(report))
    assert not problems(report), "\n".join(problems(report))

"""The fault suite's smoke variant (part of `make test`): one fault of each kind while the
workload streams, then the oracle (docs/reliability.md). The full run is `make faults`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from suite import SMOKE, problems, run, table, write

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

REPORTS = Path(__file__).resolve().parent / "reports"


def test_one_fault_of_each_kind_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    report = run(SMOKE, tmp_path)
    write(report, REPORTS / f"smoke-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json")
    print("\n" + table(report))
    assert not problems(report), "\n".join(problems(report))

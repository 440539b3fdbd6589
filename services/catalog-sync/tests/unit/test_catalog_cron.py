"""Cron schedules of feeds: fields, ranges, lists, steps, the two day fields."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from catalog_sync.cron import matches, parse


def at(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)  # 2026-12-01 is a Tuesday


def test_every_six_hours() -> None:
    assert matches("0 */6 * * *", at(1, 6, 0)) and matches("0 */6 * * *", at(1, 0, 0))
    assert not matches("0 */6 * * *", at(1, 7, 0)) and not matches("0 */6 * * *", at(1, 6, 1))


def test_lists_ranges_and_weekdays() -> None:
    assert matches("15,45 9-17 * * 1-5", at(1, 9, 45))  # Tuesday
    assert not matches("15,45 9-17 * * 1-5", at(6, 9, 45))  # Sunday
    assert matches("0 8 * * 0", at(6, 8, 0)) and matches("0 8 * * 7", at(6, 8, 0))


def test_both_day_fields_restricted_means_either() -> None:
    assert matches("0 0 1 * 0", at(1, 0, 0))  # the 1st (a Tuesday)
    assert matches("0 0 1 * 0", at(6, 0, 0))  # a Sunday


@pytest.mark.parametrize("bad", ["* * * *", "61 * * * *", "*/0 * * * *", "a * * * *"])
def test_bad_schedules_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse(bad)

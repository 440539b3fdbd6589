"""Five-field cron schedules (minute hour day-of-month month day-of-week), evaluated in UTC.

Each field: `*`, a number, a range `a-b`, a list `a,b,c`, and steps `*/n` or `a-b/n`.
Day of week 0-6 (0 = Sunday; 7 is Sunday too). When both day fields are restricted, a day
matching either runs, as in cron.
"""

from __future__ import annotations

from datetime import datetime

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _values(field: str, low: int, high: int) -> set[int]:
    out: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"step must be at least 1 in {part!r}")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = int(a), int(b)
        else:
            start = int(base)
            end = high if step_text else start
        if not low <= start <= end <= high:
            raise ValueError(f"{part!r} is outside {low}-{high}")
        out.update(range(start, end + 1, step))
    return out


def parse(schedule: str) -> tuple[set[int], ...]:
    fields = schedule.split()
    if len(fields) != 5:
        raise ValueError("a schedule has 5 fields: minute hour day month weekday")
    return tuple(_values(f, lo, hi) for f, (lo, hi) in zip(fields, _RANGES, strict=True))


def matches(schedule: str, moment: datetime) -> bool:
    """Does `moment` (its minute) fall on the schedule?"""
    minute, hour, day, month, weekday = parse(schedule)
    weekday = {d % 7 for d in weekday}
    fields = schedule.split()
    day_ok = moment.day in day
    weekday_ok = (moment.isoweekday() % 7) in weekday
    if fields[2] != "*" and fields[4] != "*":
        days = day_ok or weekday_ok
    else:
        days = day_ok and weekday_ok
    return moment.minute in minute and moment.hour in hour and moment.month in month and days

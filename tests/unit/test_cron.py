"""Job schedules in their owners' time zones, through daylight-saving changes (cron's rules, via cronsim)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alphabook.core.errors import InvalidInput
from alphabook.scheduler.cron import describe, next_after


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_weekday_mornings_in_new_york_follow_its_offset_across_the_change() -> None:
    # Friday 6 March 2026, 09:00 EST is 14:00 UTC; after the US change (8 March) 09:00 EDT is 13:00 UTC.
    assert next_after("0 9 * * 1-5", "America/New_York", utc(2026, 3, 6, 12)) == utc(2026, 3, 6, 14)
    assert next_after("0 9 * * 1-5", "America/New_York", utc(2026, 3, 6, 14)) == utc(2026, 3, 9, 13)


def test_a_time_that_does_not_exist_runs_once_at_the_jump() -> None:
    # Berlin skips 02:00-03:00 on 29 March 2026: the 02:30 job runs at 03:00 CEST (01:00 UTC), then normally.
    first = next_after("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 12))
    assert first == utc(2026, 3, 29, 1)
    assert next_after("30 2 * * *", "Europe/Berlin", first) == utc(2026, 3, 30, 0, 30)


def test_a_time_that_happens_twice_runs_once() -> None:
    # Berlin repeats 02:00-03:00 on 25 October 2026: 02:30 CEST (00:30 UTC) runs, 02:30 CET (01:30 UTC) does not.
    first = next_after("30 2 * * *", "Europe/Berlin", utc(2026, 10, 25, 0))
    assert first == utc(2026, 10, 25, 0, 30)
    assert next_after("30 2 * * *", "Europe/Berlin", first) == utc(2026, 10, 26, 1, 30)


def test_monthly_on_the_first_in_tokyo() -> None:
    assert next_after("0 0 1 * *", "Asia/Tokyo", utc(2026, 12, 3)) == utc(2026, 12, 31, 15)


@pytest.mark.parametrize(("expression", "zone", "fragment"), [
    ("0 25 * * *", "UTC", "not a cron schedule"),
    ("every day", "UTC", "five fields"),
    ("0 9 * * *", "Mars/Olympus", "Unknown time zone"),
])
def test_bad_schedules_say_what_is_wrong(expression: str, zone: str, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        next_after(expression, zone, utc(2026, 1, 1))


def test_schedules_read_as_words() -> None:
    assert describe("0 9 * * 1-5") == "At 09:00 on Monday through Friday"

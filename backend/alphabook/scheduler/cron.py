"""When a job runs next: cron expressions evaluated in the job's own time zone (cronsim does the work).

A schedule is written in the zone its owner thinks in ("09:00 on weekdays, New York time") and stored as the
expression plus the zone name; times come back as aware UTC. Across daylight-saving changes cronsim follows
cron's own rules: a time that does not exist that day (02:30 when clocks jump from 02:00 to 03:00) runs once at
the jump, and a time that happens twice (when clocks fall back) runs once, at its first occurrence.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from alphabook.core.errors import InvalidInput

__all__ = ["describe", "next_after", "zone"]


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"Unknown time zone {name!r}: use an IANA name such as 'UTC' or 'America/New_York'.") \
            from None


def _schedule(expression: str, start: datetime) -> CronSim:
    try:
        return CronSim(expression, start)
    except CronSimError as error:
        raise InvalidInput(f"{expression!r} is not a cron schedule ({error}); five fields: minute hour day-of-month "
                           "month day-of-week, e.g. '0 9 * * 1-5' for 09:00 on weekdays.") from None


def next_after(expression: str, timezone: str, after: datetime) -> datetime:
    """The first time strictly after ``after`` that ``expression`` names in ``timezone``, in UTC."""
    local = after.astimezone(zone(timezone))
    upcoming = next(_schedule(expression, local))
    return upcoming.astimezone(UTC)


def describe(expression: str) -> str:
    """The schedule in words ("At 09:00 on Monday through Friday")."""
    return str(_schedule(expression, datetime.now(UTC)).explain())

"""One clock for the whole application, so that every timestamp is timezone-aware UTC and tests can
freeze time without patching the standard library."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None


def utcnow() -> datetime:
    """The current time in UTC (aware); the frozen instant while a test holds ``frozen``."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """Normalise a datetime read back from a database that drops the zone (SQLite) to aware UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@contextmanager
def frozen(at: datetime) -> Iterator[FrozenClock]:
    """Freeze :func:`utcnow` at ``at`` (must be aware); the yielded handle can move it forward."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("frozen() needs a timezone-aware datetime")
    previous, _frozen = _frozen, at.astimezone(UTC)
    try:
        yield FrozenClock()
    finally:
        _frozen = previous


class FrozenClock:
    """Handle to a frozen clock: tests step time forward explicitly."""

    def advance(self, delta: timedelta) -> datetime:
        global _frozen
        assert _frozen is not None, "the clock is not frozen"
        _frozen = _frozen + delta
        return _frozen

"""The application clock: always aware UTC, and freezable by tests without patching datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from alphabook.core import clock
from alphabook.core.clock import as_utc, frozen, utcnow

INSTANT = datetime(2024, 2, 29, 12, 30, 15, tzinfo=UTC)


def test_utcnow_is_aware_utc_and_current() -> None:
    before = datetime.now(UTC)
    now = utcnow()
    after = datetime.now(UTC)
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after


def test_frozen_freezes_utcnow() -> None:
    with frozen(INSTANT):
        assert utcnow() == INSTANT
        assert utcnow() == INSTANT, "time must not move while frozen"
        assert utcnow().utcoffset() == timedelta(0)
    assert utcnow() != INSTANT
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=5)


def test_advance_moves_the_frozen_clock() -> None:
    with frozen(INSTANT) as moment:
        returned = moment.advance(timedelta(minutes=15))
        assert returned == INSTANT + timedelta(minutes=15)
        assert utcnow() == INSTANT + timedelta(minutes=15)
        moment.advance(timedelta(days=1))
        assert utcnow() == INSTANT + timedelta(days=1, minutes=15)


def test_advance_outside_frozen_is_refused() -> None:
    with frozen(INSTANT) as moment:
        pass
    with pytest.raises(AssertionError, match="not frozen"):
        moment.advance(timedelta(seconds=1))


def test_frozen_converts_other_zones_to_utc() -> None:
    tokyo = timezone(timedelta(hours=9))
    with frozen(datetime(2024, 1, 1, 9, 0, tzinfo=tokyo)):
        now = utcnow()
        assert now == datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
        assert now.tzinfo == UTC


def test_nested_frozen_restores_the_outer_instant() -> None:
    later = INSTANT + timedelta(hours=3)
    with frozen(INSTANT) as outer:
        outer.advance(timedelta(seconds=30))
        with frozen(later):
            assert utcnow() == later
        assert utcnow() == INSTANT + timedelta(seconds=30)
    assert clock._frozen is None


def test_frozen_restores_after_an_exception() -> None:
    with pytest.raises(RuntimeError), frozen(INSTANT):
        raise RuntimeError("boom")
    assert clock._frozen is None
    assert utcnow() != INSTANT


def test_frozen_rejects_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"), frozen(datetime(2024, 1, 1, 12, 0)):
        pass
    assert clock._frozen is None


def test_as_utc_treats_naive_as_utc() -> None:
    naive = datetime(2024, 5, 1, 8, 0)  # what SQLite hands back
    result = as_utc(naive)
    assert result == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert result.tzinfo == UTC
    assert (result.hour, result.minute) == (8, 0)


def test_as_utc_converts_other_zones() -> None:
    new_york = timezone(timedelta(hours=-5))
    result = as_utc(datetime(2024, 1, 15, 19, 0, tzinfo=new_york))
    assert result.tzinfo == UTC
    assert (result.day, result.hour) == (16, 0)


def test_as_utc_keeps_utc_unchanged() -> None:
    assert as_utc(INSTANT) == INSTANT
    assert as_utc(INSTANT).tzinfo == UTC

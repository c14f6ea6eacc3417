"""Two-factor code arithmetic, without a database: which time step a code belongs to, the ±1 step window, replay
refusal, and how typed codes are normalised. The clock is alphabook's, frozen, so steps are exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from alphabook.accounts.two_factor import VALID_WINDOW, matching_step, normalized_code
from alphabook.core.clock import frozen

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # a fixed seed: the codes below are fixed too
NOW = datetime(2026, 3, 2, 14, 30, 10, tzinfo=UTC)  # 10 s into its 30 s step
APP = pyotp.TOTP(SECRET)
STEP = APP.timecode(NOW)


def code_at(moment: datetime) -> str:
    return APP.at(moment)


def test_the_current_code_matches_its_step() -> None:
    with frozen(NOW):
        assert matching_step(SECRET, code_at(NOW), None) == STEP


@pytest.mark.parametrize("offset", [-1, 1])
def test_a_code_one_step_either_side_is_accepted_for_clock_drift(offset: int) -> None:
    with frozen(NOW):
        assert matching_step(SECRET, code_at(NOW + timedelta(seconds=30 * offset)), None) == STEP + offset


@pytest.mark.parametrize("offset", [-2, 2, 10])
def test_a_code_outside_the_window_is_refused(offset: int) -> None:
    assert VALID_WINDOW == 1
    with frozen(NOW):
        assert matching_step(SECRET, code_at(NOW + timedelta(seconds=30 * offset)), None) is None


def test_a_code_of_the_last_used_step_or_before_is_a_replay() -> None:
    with frozen(NOW):
        assert matching_step(SECRET, code_at(NOW), STEP) is None
        assert matching_step(SECRET, code_at(NOW - timedelta(seconds=30)), STEP) is None
        assert matching_step(SECRET, code_at(NOW + timedelta(seconds=30)), STEP) == STEP + 1


def test_a_code_from_another_seed_or_not_six_digits_is_refused() -> None:
    other = pyotp.TOTP("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
    with frozen(NOW):
        assert other.at(NOW) != code_at(NOW)
        assert matching_step(SECRET, other.at(NOW), None) is None
        assert matching_step(SECRET, code_at(NOW)[:5], None) is None
        assert matching_step(SECRET, "abcdef", None) is None


def test_typed_codes_lose_spaces_dashes_and_capitals() -> None:
    assert normalized_code(" 123 456 ") == "123456"
    assert normalized_code("K7WQ2-MX9TR") == "k7wq2mx9tr"

"""The price frame at the backtester's door: checked once, then handed on as plain float arrays.

Every entry point (single run, grid, lookahead check) takes the house OHLCV frame (UTC
``DatetimeIndex`` of bar open times, float64 ``open, high, low, close, volume``). Checking it here, in
one place, means a bad frame fails with a message a person can act on instead of a vectorbt traceback,
and the engine only ever sees contiguous float64 arrays, never a timezone-aware index (vectorbt 1.2 on
pandas 3 is 40-150x slower with one).

It also answers "how many bars make a year?", which every annualised metric needs. The rule, with
``spacing`` the median gap between bar open times (robust to the odd missing bar):

* bars a day or more apart (weekly, monthly): ``365 days / spacing``;
* a *weekday market* (the index spans at least a week and has no bar on a Saturday or Sunday UTC, like
  exchange-listed equities): ``252 x`` the median number of bars per trading date, so daily equities
  give 252 and US equities in 5-minute bars give 252 x 78;
* otherwise a market that never closes (crypto): ``365 x bars per day`` = ``365 days / spacing``.

Sessions that cross a weekend boundary in UTC (FX, futures, Sydney) count as never closing, which
overstates their bar count by up to ~40%; pass ``periods_per_year`` explicitly for those.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from alphabook.core.errors import InvalidInput

__all__ = ["Bars", "bars_from_frame", "infer_periods_per_year"]

PRICE_COLUMNS = ("open", "high", "low", "close")
TRADING_DAYS_PER_YEAR = 252
CALENDAR_DAYS_PER_YEAR = 365
DAY_NS = 86_400 * 10**9
YEAR_NS = 365.25 * DAY_NS


@dataclass(frozen=True, slots=True)
class Bars:
    """A validated OHLCV frame: the frame itself (for plots) plus contiguous arrays for the engine."""

    frame: pd.DataFrame
    open: np.ndarray  # the prices orders fill at; high and low stay in the frame, for plots
    close: np.ndarray
    times_ns: np.ndarray  # bar open times, int64 ns since the epoch, whatever unit the index is stored in
    spacing_ns: int  # median gap between bar open times: the bar length

    @property
    def index(self) -> pd.DatetimeIndex:
        index: pd.DatetimeIndex = self.frame.index
        return index

    def __len__(self) -> int:
        return len(self.close)

    @property
    def years(self) -> float:
        """Calendar time covered, from the first bar's open to the last bar's close, in 365.25-day years."""
        return float(self.times_ns[-1] - self.times_ns[0] + self.spacing_ns) / YEAR_NS

    def periods_per_year(self) -> float:
        """Bars per year implied by the index (see the module docstring for the rule)."""
        return _periods_per_year_1d(self.times_ns, self.spacing_ns)


def bars_from_frame(df: pd.DataFrame) -> Bars:
    """Check ``df`` against the OHLCV convention and return its prices as float64 arrays."""
    if not isinstance(df, pd.DataFrame):
        raise InvalidInput(f"Expected a pandas DataFrame of OHLCV bars, got {type(df).__name__}.")
    missing = [column for column in PRICE_COLUMNS if column not in df.columns]
    if missing:
        raise InvalidInput(
            f"The price frame lacks column(s) {missing}; it needs lower-case open, high, low, close (and volume)."
        )
    index = df.index
    if not isinstance(index, pd.DatetimeIndex) or index.tz is None or str(index.tz) != "UTC":
        raise InvalidInput(
            "The price frame needs a UTC DatetimeIndex of bar open times; "
            "use df.index = df.index.tz_localize('UTC') (naive times) or .tz_convert('UTC') (other zones)."
        )
    if len(index) < 2:
        raise InvalidInput(f"A backtest needs at least 2 bars; the frame has {len(index)}.")
    times_ns = _times_ns(index)
    steps = np.diff(times_ns)
    if (steps <= 0).any():
        first = int(np.argmax(steps <= 0)) + 1
        raise InvalidInput(
            f"Bar times must be strictly increasing (sorted, no duplicates); row {first} ({index[first]}) is not. "
            "Use df.sort_index() and df[~df.index.duplicated()]."
        )
    open_, close = (np.ascontiguousarray(df[column].to_numpy(dtype=np.float64)) for column in ("open", "close"))
    for column, values in (("open", open_), ("close", close)):
        if not np.isfinite(values).all():
            first = int(np.argmin(np.isfinite(values)))
            raise InvalidInput(
                f"Column {column!r} has a missing or infinite value at {index[first]}; "
                "drop or fill incomplete bars before backtesting."
            )
    regular = steps.min() == steps.max()  # the common case, and 10x cheaper than a median
    spacing_ns = int(steps[0]) if regular else int(np.median(steps))
    return Bars(df, open=open_, close=close, times_ns=times_ns, spacing_ns=spacing_ns)


def infer_periods_per_year(index: pd.DatetimeIndex) -> float:
    """Bars per year implied by ``index`` (see the module docstring for the rule)."""
    if len(index) < 2:
        raise InvalidInput("At least 2 bars are needed to infer the bar frequency; pass periods_per_year.")
    times_ns = _times_ns(index)
    return _periods_per_year_1d(times_ns, int(np.median(np.diff(times_ns))))


def _times_ns(index: pd.DatetimeIndex) -> np.ndarray:
    times: np.ndarray = index.as_unit("ns").asi8
    return times


def _periods_per_year_1d(times_ns: np.ndarray, spacing_ns: int) -> float:
    if spacing_ns <= DAY_NS and _is_weekday_market(times_ns):
        days = times_ns // DAY_NS
        date_starts = np.flatnonzero(np.diff(days, prepend=days[0] - 1))
        bars_per_date = np.median(np.diff(date_starts, append=len(days)))
        return float(TRADING_DAYS_PER_YEAR * bars_per_date)
    return CALENDAR_DAYS_PER_YEAR * DAY_NS / spacing_ns


def _is_weekday_market(times_ns: np.ndarray) -> bool:
    if times_ns[-1] - times_ns[0] < 7 * DAY_NS or np.diff(times_ns).max() < 2 * DAY_NS:
        return False  # too short to tell, or never paused long enough for a weekend
    days = times_ns // DAY_NS  # UTC calendar date of each bar, as days since 1970-01-01 (a Thursday)
    return not bool(((days + 3) % 7 >= 5).any())

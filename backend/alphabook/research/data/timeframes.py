"""Bar lengths written the way exchanges write them ("5m", "1h", "1d", "1w", "1M"), mapped onto pandas.

ccxt and the exchanges name timeframes ``<amount><unit>`` with ``m`` minute and ``M`` month, so the same
strings work for every source here. pandas does the calendar arithmetic: intraday and daily bars sit on
a fixed grid counted from the Unix epoch (where Binance's candles sit), weeks open on Monday 00:00 UTC
and months on the 1st, as exchange candles do. Bars are labelled by their open time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd

from alphabook.core.errors import InvalidInput

_PATTERN = re.compile(r"(?P<amount>[1-9][0-9]*)(?P<unit>[smhdwM])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "M": 2_592_000}  # M: ccxt's 30 days
_CALENDAR_UNITS = frozenset("wM")


@dataclass(frozen=True, slots=True)
class Timeframe:
    """A bar length: ``amount`` of ``unit`` (s, m, h, d fixed; w and M calendar-anchored, amount 1)."""

    amount: int
    unit: str

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    @property
    def is_calendar(self) -> bool:
        """Weeks and months: bar lengths vary with the calendar, so there is no fixed ``delta``."""
        return self.unit in _CALENDAR_UNITS

    @property
    def nominal(self) -> pd.Timedelta:
        """The bar length, with ccxt's convention of a 30-day month; exact for every non-calendar unit."""
        return pd.Timedelta(seconds=self.amount * _UNIT_SECONDS[self.unit])

    @property
    def delta(self) -> pd.Timedelta:
        """The exact bar length; InvalidInput for weeks and months, whose length depends on the bar."""
        if self.is_calendar:
            raise InvalidInput(f"a {self} bar has no fixed length; use Timeframe.offset for calendar arithmetic")
        return self.nominal

    @property
    def offset(self) -> pd.DateOffset:
        """The pandas offset from one bar's open to the next one's."""
        if self.unit == "M":
            return pd.offsets.MonthBegin(1)
        if self.unit == "w":
            return pd.offsets.Week(1, weekday=0)
        return pd.tseries.frequencies.to_offset(self.nominal)

    def floor(self, times: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """The open time of the bar of this timeframe that contains each of ``times`` (aware UTC)."""
        if self.unit == "M":
            days = times.normalize()
            return days - pd.to_timedelta(days.day - 1, unit="D")
        if self.unit == "w":
            days = times.normalize()
            return days - pd.to_timedelta(days.day_of_week, unit="D")
        return times.floor(self.nominal)

    def close(self, opens: pd.DatetimeIndex) -> pd.DatetimeIndex:
        """The (exclusive) end of each bar opened at ``opens``: the next bar's open."""
        if self.is_calendar:
            return opens + self.offset
        return opens + self.nominal


def parse_timeframe(text: str | Timeframe) -> Timeframe:
    """Read ``"5m"``, ``"1h"``, ``"1d"``, ``"1w"``, ``"1M"`` (ccxt's spelling; ``m`` minute, ``M`` month)."""
    if isinstance(text, Timeframe):
        return text
    match = _PATTERN.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(
            f"timeframe {text!r} is not understood: write <amount><unit> with unit s, m (minute), h, d, w or "
            "M (month), e.g. '5m', '1h', '1d'"
        )
    timeframe = Timeframe(int(match["amount"]), match["unit"])
    if timeframe.is_calendar and timeframe.amount != 1:
        raise InvalidInput(f"timeframe {text!r}: weeks and months are only supported as '1w' and '1M'")
    return timeframe

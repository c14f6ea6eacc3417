"""Build coarser bars from finer ones, exactly: the result is what the exchange would have published.

pandas' groupby does the aggregation (open first, high max, low min, close last, volume sum) over bar
labels computed by :meth:`Timeframe.floor`, so every output bar is labelled by its open and only groups
that hold at least one input bar appear (a gap in the data stays a gap, it is not filled with NaN).
Two refusals keep the result honest: a finer target (5m cannot be made from 1h) and an input bar that
straddles two output bars (5m bars cannot make 7m bars), since either would invent prices.

Partial bars: by default the first and last output bars are kept even when the data does not cover
their whole span, like the still-forming candle an exchange returns; ``drop_partial=True`` drops
them. "Covered" is judged by the clock, not a trading calendar: a week of daily stock bars that ends
on Friday does not reach the next Monday, so it counts as partial.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alphabook.core.errors import InvalidInput
from alphabook.research.data.frame import OHLCV_COLUMNS, empty_ohlcv, validate
from alphabook.research.data.timeframes import Timeframe, parse_timeframe

_AGGREGATION = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
_MONTH = Timeframe(1, "M")


def resample(
    frame: pd.DataFrame,
    timeframe: str | Timeframe,
    *,
    drop_partial: bool = False,
    source_timeframe: str | Timeframe | None = None,
) -> pd.DataFrame:
    """Aggregate a valid OHLCV ``frame`` into ``timeframe`` bars (see the module docstring for the rules).

    The input's bar length is ``source_timeframe`` if given, else the smallest gap between two bars
    (a month when bars sit on month starts at least 28 days apart). Raises InvalidInput for a finer
    target, for input bars that straddle output bars and for a one-bar frame without ``source_timeframe``.
    """
    validate(frame)
    target = parse_timeframe(timeframe)
    if frame.empty:
        return empty_ohlcv()
    opens = frame.index
    source = parse_timeframe(source_timeframe) if source_timeframe is not None else _bar_length(opens)
    if target.nominal < source.nominal:
        raise InvalidInput(f"cannot resample {source} bars to the finer timeframe {target}: load {target} data instead")
    labels = target.floor(opens)
    closes = source.close(opens)
    straddling = np.flatnonzero(target.floor(closes - pd.Timedelta(1, "us")) != labels)
    if len(straddling):
        row = int(straddling[0])
        raise InvalidInput(
            f"row {row} ({opens[row]}): this {source} bar ends at {closes[row]}, inside the next {target} bar, "
            f"so {target} bars cannot be built exactly from {source} bars"
        )
    bars = frame[list(OHLCV_COLUMNS)].groupby(labels).agg(_AGGREGATION)
    bars.index = pd.DatetimeIndex(bars.index, name="time")
    if drop_partial:
        keep = np.ones(len(bars), dtype=bool)
        keep[0] &= opens[0] == bars.index[0]
        keep[-1] &= closes[-1] >= target.close(bars.index[-1:])[0]
        bars = bars[keep]
    return validate(bars)


def _bar_length(opens: pd.DatetimeIndex) -> Timeframe:
    """The bar length of a series: its smallest gap between bars, or a month for month-start bars."""
    if len(opens) < 2:
        raise InvalidInput("one bar does not show its own length: pass source_timeframe= (e.g. '1d') to resample")
    gap = pd.Timedelta(int(np.diff(opens.asi8).min()), unit=opens.unit)
    if gap >= pd.Timedelta(days=28) and (_MONTH.floor(opens) == opens).all():
        return _MONTH
    seconds = gap.total_seconds()
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if seconds % size == 0:
            return Timeframe(int(seconds // size), unit)
    raise InvalidInput(f"bars {gap} apart are shorter than a second: alphabook's bars are at least 1s long")

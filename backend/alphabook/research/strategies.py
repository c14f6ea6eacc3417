"""Reference strategies that follow the backtest contract: ``signals(df, **params) -> Signals``.

They double as fixtures for the backtester's cross-checks, so the moving average is pinned to ONE
implementation, TA-Lib's ``SMA`` (a C running sum). Implementations differ in the last bits (vectorbt's
MA and pandas' rolling mean disagree by ~1e-9), and on an exact tie between the two averages that is
enough to flip a crossover; grids, single runs and the backtesting.py cross-check must therefore all see
the same numbers. TA-Lib's SMA on a prefix of the data is bit-identical to the same bars of the full
run, which also keeps the lookahead check exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from alphabook.core.errors import InvalidInput
from alphabook.research.backtest.signals import Signals

__all__ = ["sma_crossover"]


def sma_crossover(df: pd.DataFrame, fast: int = 10, slow: int = 30) -> Signals:
    """Long while the fast SMA of close is above the slow one.

    Entry on bar t when ``fast[t] > slow[t]`` and ``fast[t-1] <= slow[t-1]`` (crossed above); exit when
    ``fast[t] < slow[t]`` and ``fast[t-1] >= slow[t-1]`` (crossed below). No signal until both averages
    exist on bars t-1 and t.
    """
    for name, window in (("fast", fast), ("slow", slow)):
        if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 1:
            raise InvalidInput(f"sma_crossover: {name} must be a whole number of bars >= 1, got {window!r}.")
    if fast >= slow:
        raise InvalidInput(
            f"sma_crossover: fast ({fast}) must be shorter than slow ({slow}); "
            "in a grid, pass constraint=lambda p: p['fast'] < p['slow']."
        )
    close = np.ascontiguousarray(df["close"].to_numpy(dtype=np.float64))
    entries, exits = _crossings_1d(talib.SMA(close, timeperiod=int(fast)), talib.SMA(close, timeperiod=int(slow)))
    return Signals(
        entries=pd.Series(entries, index=df.index, name="entries"),
        exits=pd.Series(exits, index=df.index, name="exits"),
    )


def _crossings_1d(fast: np.ndarray, slow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(crossed above, crossed below) masks; comparisons with the warm-up NaNs are False."""
    spread = fast - slow
    previous = np.concatenate(([np.nan], spread[:-1]))
    return (spread > 0) & (previous <= 0), (spread < 0) & (previous >= 0)

"""Reference strategies: the SMA crossover's definition, its pinned moving average and its parameter checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

from alphabook.core.errors import InvalidInput
from alphabook.research.backtest import Signals
from alphabook.research.strategies import sma_crossover


def closes(values: list[float]) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=len(values), freq="1h", tz="UTC")
    close = np.asarray(values, dtype=np.float64)
    return pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": 1.0}, index=index)


def test_signals_follow_the_contract(eth_1h: pd.DataFrame) -> None:
    signals = sma_crossover(eth_1h, fast=10, slow=30)
    assert isinstance(signals, Signals) and signals.short_entries is None and signals.short_exits is None
    for series in (signals.entries, signals.exits):
        assert series.dtype == bool and series.index is eth_1h.index
        assert not series.iloc[:30].any()  # slow SMA exists from bar 29; a cross needs bars t-1 and t
    assert not (signals.entries & signals.exits).any()


def test_crossings_are_computed_from_talib_sma(eth_1h: pd.DataFrame) -> None:
    close = eth_1h["close"].to_numpy()
    spread = pd.Series(talib.SMA(close, 10) - talib.SMA(close, 30), index=eth_1h.index)
    signals = sma_crossover(eth_1h, fast=10, slow=30)
    pd.testing.assert_series_equal(signals.entries, (spread > 0) & (spread.shift() <= 0), check_names=False)
    pd.testing.assert_series_equal(signals.exits, (spread < 0) & (spread.shift() >= 0), check_names=False)
    # Long-only crossings alternate: every exit follows an entry.
    events = np.where(signals.entries, 1, 0) - np.where(signals.exits, 1, 0)
    assert set(np.diff(events[events != 0])) <= {-2, 2}


def test_a_tie_counts_as_not_yet_crossed() -> None:
    # fast (2 bars) and slow (3 bars) averages: ... fast < slow, fast == slow, fast > slow ...
    df = closes([5, 5, 5, 4, 6, 7, 7, 3])
    close = df["close"].to_numpy()
    spread = talib.SMA(close, 2) - talib.SMA(close, 3)
    assert spread[3] < 0 and spread[4] == 0 and spread[5] > 0
    signals = sma_crossover(df, fast=2, slow=3)
    assert list(np.flatnonzero(signals.entries)) == [5]
    assert list(np.flatnonzero(signals.exits)) == [3, 7]


@pytest.mark.parametrize(
    ("fast", "slow", "message"),
    [(30, 10, "must be shorter"), (10, 10, "must be shorter"), (0, 10, ">= 1"), (2.5, 10, "whole number"),
     (True, 10, "whole number")],
)
def test_bad_windows_are_rejected(fast: object, slow: object, message: str, eth_1h: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match=message):
        sma_crossover(eth_1h, fast=fast, slow=slow)  # type: ignore[arg-type]

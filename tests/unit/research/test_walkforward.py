"""Walk-forward validation: windows, out-of-sample trading, and in-sample vs out-of-sample."""

from __future__ import annotations

import pandas as pd
import pytest

from alphabook.core.errors import InvalidInput
from alphabook.research.optimize.space import IntRange
from alphabook.research.optimize.walkforward import split_windows, walk_forward
from alphabook.research.strategies import sma_crossover

INDEX = pd.date_range("2024-01-01", periods=100, freq="D", tz="UTC")


def test_rolling_windows_tile_the_test_spans() -> None:
    windows = split_windows(INDEX, train=40, test=20)
    assert [(w.train_start, w.train_end, w.test_end) for w in windows] == [
        (INDEX[0], INDEX[40], INDEX[60]), (INDEX[20], INDEX[60], INDEX[80]),
        (INDEX[40], INDEX[80], INDEX[99] + pd.Timedelta("1D")),
    ]


def test_anchored_windows_grow_from_the_start() -> None:
    windows = split_windows(INDEX, train="30D", test="30D", anchored=True)
    assert all(window.train_start == INDEX[0] for window in windows)
    assert [window.train_end for window in windows] == [INDEX[30], INDEX[60], INDEX[90]]


def test_spans_that_do_not_fit_are_refused() -> None:
    with pytest.raises(InvalidInput, match="no bars to test"):
        split_windows(INDEX, train=100, test=10)
    with pytest.raises(InvalidInput, match="at least 2 bars"):
        split_windows(INDEX, train=1, test=10)


def test_walk_forward_trades_only_unseen_bars(goog_1d: pd.DataFrame) -> None:
    result = walk_forward(goog_1d, sma_crossover, {"fast": IntRange(5, 20, 5), "slow": IntRange(30, 90, 30)},
                          train=500, test=250, metric="sharpe", fees=0.001)
    windows = result.windows
    assert len(windows) == len(split_windows(goog_1d.index, train=500, test=250))
    assert list(windows.columns[:3]) == ["train_start", "test_start", "test_end"]
    assert (windows["fast"] < windows["slow"]).all()
    first_test = windows["test_start"].iloc[0]
    assert result.out_of_sample.equity.index[0] == first_test  # nothing before the first unseen bar
    assert result.out_of_sample.trades["entry_time"].min() >= first_test
    assert len(result.out_of_sample.equity) == (goog_1d.index >= first_test).sum()
    comparison = result.comparison()
    assert list(comparison.columns) == ["in_sample", "out_of_sample"] and "sharpe" in comparison.index
    assert result.efficiency == pytest.approx(result.out_of_sample.sharpe / result.in_sample.sharpe)
    # In-sample the optimiser picked each window's best, so it should look better than out of sample.
    assert windows["in_sample_sharpe"].mean() > windows["out_of_sample_sharpe"].mean()

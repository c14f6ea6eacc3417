"""Parameter grids: one row per combination, equal to single runs however the columns are chunked."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from alphabook.core.errors import InvalidInput
from alphabook.research.backtest import Metrics, Signals, grid, run
from alphabook.research.strategies import sma_crossover

GRID = {"fast": [5, 10, 20], "slow": [10, 30, 60]}


def fast_below_slow(params: dict[str, int]) -> bool:
    return params["fast"] < params["slow"]


def sma_long_short(df: pd.DataFrame, fast: int = 10, slow: int = 30, short: bool = False) -> Signals:
    """sma_crossover, optionally also short between the down-cross and the next up-cross."""
    long = sma_crossover(df, fast, slow)
    if not short:
        return long
    return Signals(long.entries, long.exits, short_entries=long.exits, short_exits=long.entries)


def assert_rows_equal(row: pd.Series, expected: dict[str, object]) -> None:
    for name, value in expected.items():
        same = row[name] == value or (isinstance(value, float) and math.isnan(value) and math.isnan(row[name]))
        assert same, (name, row[name], value)


def test_grid_has_params_then_metrics_one_row_per_allowed_combination(goog_1d: pd.DataFrame) -> None:
    table = grid(goog_1d, sma_crossover, GRID, constraint=fast_below_slow, fees=0.001)
    assert list(table.columns[:2]) == ["fast", "slow"]
    assert list(table.columns[2:]) == list(Metrics.__dataclass_fields__)
    assert table[["fast", "slow"]].to_numpy().tolist() == [[5, 10], [5, 30], [5, 60], [10, 30], [10, 60],
                                                          [20, 30], [20, 60]]
    for i in (0, 4):
        params = table.loc[i, ["fast", "slow"]].to_dict()
        assert_rows_equal(table.loc[i], run(goog_1d, sma_crossover, params, fees=0.001).metrics_dict())


def test_chunking_does_not_change_results(eth_1h: pd.DataFrame) -> None:
    one_at_a_time = grid(eth_1h, sma_crossover, GRID, constraint=fast_below_slow, chunk_size=1)
    one_broadcast = grid(eth_1h, sma_crossover, GRID, constraint=fast_below_slow, chunk_size=100)
    pd.testing.assert_frame_equal(one_at_a_time, one_broadcast)


def test_columns_with_and_without_shorts_share_a_broadcast(goog_1d: pd.DataFrame) -> None:
    table = grid(goog_1d, sma_long_short, {"short": [False, True]}, fees=0.001)
    for i, short in enumerate((False, True)):
        assert_rows_equal(table.loc[i], run(goog_1d, sma_long_short, {"short": short}, fees=0.001).metrics_dict())
    assert table.loc[1, "num_trades"] > table.loc[0, "num_trades"]


def test_progress_bar_when_asked(goog_1d: pd.DataFrame, capsys: pytest.CaptureFixture[str]) -> None:
    grid(goog_1d, sma_crossover, {"fast": [5, 10], "slow": [30]}, progress=True)
    assert "grid sma_crossover" in capsys.readouterr().err
    grid(goog_1d, sma_crossover, {"fast": [5, 10], "slow": [30]})
    assert capsys.readouterr().err == ""


def test_bad_grids_are_rejected_with_a_fix(goog_1d: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="non-empty mapping"):
        grid(goog_1d, sma_crossover, {})
    with pytest.raises(InvalidInput, match="wrap a single value in a list"):
        grid(goog_1d, sma_crossover, {"fast": 5})  # type: ignore[dict-item]
    with pytest.raises(InvalidInput, match="No parameter combination"):
        grid(goog_1d, sma_crossover, {"fast": [50], "slow": [20]}, constraint=fast_below_slow)
    with pytest.raises(InvalidInput, match="clashes with a metric"):
        grid(goog_1d, sma_crossover, {"sharpe": [1]})
    with pytest.raises(InvalidInput, match="constraint=lambda") as raised:
        grid(goog_1d, sma_crossover, {"fast": [50], "slow": [20]})
    assert "{'fast': 50, 'slow': 20}" in raised.value.__notes__[0]


def test_sma_grid_of_174_combinations_on_real_data(btc_5m: pd.DataFrame) -> None:
    """The benchmark's grid shape (fast 5..50 step 5, slow 20..200 step 10, fast < slow) on a slice."""
    table = grid(btc_5m.iloc[:20_000], sma_crossover, {"fast": range(5, 55, 5), "slow": range(20, 210, 10)},
                 constraint=fast_below_slow, fees=0.001)
    assert len(table) == 174
    assert np.isfinite(table["final_equity"]).all() and (table["num_trades"] > 0).all()

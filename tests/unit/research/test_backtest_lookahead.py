"""The lookahead check: causal strategies come out clean, peeking ones are caught and located."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alphabook.core.errors import InvalidInput
from alphabook.research.backtest import Signals, check_lookahead
from alphabook.research.strategies import sma_crossover


def next_bar_up(df: pd.DataFrame) -> Signals:
    """Peeks one bar ahead: buys when the NEXT close is higher (dense signals)."""
    rises = df["close"].shift(-1) > df["close"]
    return Signals(entries=rises, exits=~rises)


def sma_crossover_of_tomorrow(df: pd.DataFrame, fast: int = 10, slow: int = 30) -> Signals:
    """The reference strategy computed on tomorrow's close: rare signals, each one a day early."""
    shifted = df.assign(close=df["close"].shift(-1).fillna(df["close"].iloc[-1]))
    return sma_crossover(shifted, fast, slow)


def above_full_sample_mean(df: pd.DataFrame) -> Signals:
    """Normalises with statistics of the whole sample."""
    above = df["close"] > df["close"].mean()
    return Signals(entries=above, exits=~above)


@pytest.mark.parametrize("data", ["goog_1d", "eth_1h"])
def test_sma_crossover_is_clean(data: str, request: pytest.FixtureRequest) -> None:
    report = check_lookahead(request.getfixturevalue(data), sma_crossover, {"fast": 10, "slow": 30})
    assert report.clean, report.verdict
    assert len(report.checkpoints) >= 15
    assert report.verdict.startswith("No lookahead found")


def test_shift_minus_one_is_caught_at_the_cut(goog_1d: pd.DataFrame) -> None:
    report = check_lookahead(goog_1d, next_bar_up)
    assert not report.clean
    assert list(report.changes.columns) == ["checkpoint", "time", "signal", "full", "truncated"]
    assert (report.changes["time"] == report.changes["checkpoint"]).all()  # only the last bar can peek
    assert set(report.changes["signal"]) <= {"entries", "exits"}
    assert report.verdict.startswith("Lookahead:")


def test_rare_peeking_signals_are_caught_by_cutting_after_signal_bars(eth_1h: pd.DataFrame) -> None:
    report = check_lookahead(eth_1h, sma_crossover_of_tomorrow, checkpoints=10)
    assert not report.clean
    flipped = report.changes.iloc[0]
    assert flipped["full"] and not flipped["truncated"]


def test_whole_sample_statistics_are_caught_everywhere(goog_1d: pd.DataFrame) -> None:
    report = check_lookahead(goog_1d, above_full_sample_mean, checkpoints=3)
    assert not report.clean
    assert (report.changes["time"] < report.changes["checkpoint"]).any()


def test_explicit_checkpoints(goog_1d: pd.DataFrame) -> None:
    times = ["2010-01-04", goog_1d.index[1000]]
    report = check_lookahead(goog_1d, next_bar_up, checkpoints=times)
    assert report.checkpoints == (goog_1d.index[1000], pd.Timestamp("2010-01-04", tz="UTC"))  # sorted
    changed_at = set(report.changes["checkpoint"])
    expected = {cut for cut in report.checkpoints
                if next_bar_up(goog_1d).entries[cut] != next_bar_up(goog_1d.loc[:cut]).entries[cut]}
    assert changed_at == expected
    with pytest.raises(InvalidInput, match="before the last bar"):
        check_lookahead(goog_1d, next_bar_up, checkpoints=[goog_1d.index[-1]])
    with pytest.raises(InvalidInput, match="at least 1"):
        check_lookahead(goog_1d, next_bar_up, checkpoints=0)


def test_checkpoints_include_bars_where_signals_fire(goog_1d: pd.DataFrame) -> None:
    signals = sma_crossover(goog_1d)
    fired = set(goog_1d.index[(signals.entries | signals.exits).to_numpy()])
    report = check_lookahead(goog_1d, sma_crossover, checkpoints=8)
    assert len(fired & set(report.checkpoints)) == 4
    assert np.all(np.diff(pd.DatetimeIndex(report.checkpoints).asi8) > 0)

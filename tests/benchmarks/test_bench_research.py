"""Research benchmarks (``make bench``): each figure is printed next to the anchor the issue names, as a
ratio measured in the same run. Nothing here asserts on time; the goals are printed for the reader.

Data: 100k real BTC/USDT 5-minute bars from ../shared/data; the 1M-bar indicator run tiles those bars
end to end (each copy rescaled to continue from the previous close), so prices stay real-looking.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
import talib
from backtesting import Strategy
from tests.unit.research.conftest import read_shared

from alphabook.research.backtest import grid, run
from alphabook.research.indicators import compute, list_indicators
from alphabook.research.optimize import IntRange, optimize
from alphabook.research.strategies import sma_crossover

FAST, SLOW = range(5, 51, 5), range(20, 201, 10)


class SmaCross(Strategy):  # type: ignore[misc]
    """The same SMA crossover for backtesting.py (module level: its optimiser pickles the class)."""

    fast, slow = 10, 30

    def init(self) -> None:
        self.a = self.I(talib.SMA, self.data.Close, self.fast)
        self.b = self.I(talib.SMA, self.data.Close, self.slow)

    def next(self) -> None:
        if self.a[-1] > self.b[-1] and self.a[-2] <= self.b[-2]:
            self.buy()
        elif self.a[-1] < self.b[-1] and self.a[-2] >= self.b[-2]:
            self.position.close()
ROWS: list[tuple[str, str, str]] = []


def best_of(function: Callable[[], Any], repeat: int = 5) -> float:
    function()  # warm caches and imports
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def record(what: str, figure: str, goal: str) -> None:
    ROWS.append((what, figure, goal))
    print(f"\n{what:58s} {figure:38s} goal: {goal}")


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return read_shared("binance_BTCUSDT_5m.csv.gz").iloc[:100_000]


@pytest.fixture(scope="module", autouse=True)
def summary() -> Any:
    yield
    print("\n\n" + "=" * 120 + "\nresearch benchmarks\n" + "-" * 120)
    for what, figure, goal in ROWS:
        print(f"{what:58s} {figure:38s} goal: {goal}")


def test_single_backtest(bars: pd.DataFrame) -> None:
    import vectorbt as vbt
    from backtesting import Backtest

    signals = sma_crossover(bars, fast=10, slow=30)
    naive = bars.tz_localize(None)
    entries = signals.entries.shift(1, fill_value=False).to_numpy()
    exits = signals.exits.shift(1, fill_value=False).to_numpy()

    def raw() -> float:
        portfolio = vbt.Portfolio.from_signals(naive["close"], entries, exits, price=naive["open"], size=np.inf,
                                               size_granularity=1, fees=0.001, init_cash=100_000, freq="5min",
                                               engine="rust")
        return float(portfolio.sharpe_ratio())

    ours = best_of(lambda: run(bars, sma_crossover, {"fast": 10, "slow": 30}, fees=0.001))
    raw_time = best_of(raw)
    record("one backtest, 100k bars, full report (ours)", f"{ours * 1000:.1f} ms", "<= 40 ms")
    record("  vs raw vectorbt from_signals + Sharpe", f"{ours / raw_time:.2f}x ({raw_time * 1000:.1f} ms)",
           "<= 1.5x")

    frame = naive.rename(columns=str.capitalize)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backtesting_time = best_of(lambda: Backtest(frame, SmaCross, cash=10**9, commission=0.001).run(), repeat=1)
    record("  vs backtesting.py Backtest.run", f"{backtesting_time / ours:.0f}x faster ({backtesting_time:.2f} s)",
           "report the ratio")


def test_parameter_grid(bars: pd.DataFrame) -> None:
    from backtesting import Backtest

    constraint = lambda p: p["fast"] < p["slow"]  # noqa: E731
    started = time.perf_counter()
    table = grid(bars, sma_crossover, {"fast": FAST, "slow": SLOW}, constraint=constraint, fees=0.001)
    ours = time.perf_counter() - started
    rate = len(table) / ours
    record(f"SMA grid, {len(table)} combinations, 100k bars", f"{rate:.0f} combos/s ({ours:.1f} s)", ">= 40/s")

    frame = bars.tz_localize(None).rename(columns=str.capitalize)
    sample_fast, sample_slow = [5, 25], [40, 120, 200]  # 6 combinations, extrapolated per combination
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        Backtest(frame, SmaCross, cash=10**9, commission=0.001).optimize(
            fast=sample_fast, slow=sample_slow, constraint=lambda p: p.fast < p.slow, max_tries=None)
        theirs = (time.perf_counter() - started) / 6
    record("  vs backtesting.py optimize (per combination)", f"{rate * theirs:.0f}x ({1 / theirs:.2f} combos/s)",
           ">= 20x")


def test_indicators_against_talib(bars: pd.DataFrame) -> None:
    tiles = []
    level = 1.0
    for _ in range(10):
        piece = bars.copy()
        scale = level / piece["open"].iloc[0]
        piece[["open", "high", "low", "close"]] *= scale
        level = piece["close"].iloc[-1]
        tiles.append(piece)
    million = pd.concat(tiles)
    million.index = pd.date_range("2000-01-01", periods=len(million), freq="5min", tz="UTC", name="time")
    arrays = {name: np.ascontiguousarray(million[name].to_numpy()) for name in million.columns}
    worst, ratios = ("", 0.0), []
    specs = [spec for spec in list_indicators() if spec.engine == "talib"]
    for spec in specs:
        function = getattr(talib, spec.function)
        inputs = [arrays[name] for name in spec.inputs]
        direct = best_of(lambda f=function, i=inputs: f(*i), repeat=3)  # type: ignore[misc]
        ours = best_of(lambda s=spec: compute(s.name, million), repeat=3)  # type: ignore[misc]
        ratios.append(ours / direct)
        if ours / direct > worst[1]:
            worst = (spec.name, ours / direct)
    record(f"{len(specs)} TA-Lib indicators, 1M bars, ours vs TA-Lib direct",
           f"median {np.median(ratios):.2f}x, worst {worst[1]:.2f}x ({worst[0]})", "<= 1.5x")


def test_full_library_against_pandas_ta_classic_all(bars: pd.DataFrame) -> None:
    import pandas_ta_classic as ta

    specs = [spec for spec in list_indicators() if spec.kind != "profile"]
    started = time.perf_counter()
    for spec in specs:
        compute(spec.name, bars)
    ours = time.perf_counter() - started
    frame = bars.tz_localize(None).copy()
    frame.ta.cores = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        frame.ta.strategy(ta.AllStrategy, verbose=False)
        theirs = time.perf_counter() - started
    record(f"all {len(specs)} indicators, 100k bars", f"{ours:.1f} s", "<= 8 s")
    record("  vs pandas-ta-classic 'All' study", f"{theirs / ours:.1f}x faster ({theirs:.1f} s)", "report")


def test_optuna_trials_per_second(bars: pd.DataFrame) -> None:
    trials = 60
    started = time.perf_counter()
    optimize(bars, sma_crossover, {"fast": IntRange(2, 60), "slow": IntRange(61, 300)}, metric="sharpe",
             n_trials=trials, sampler=optuna.samplers.TPESampler(seed=1), fees=0.001)
    rate = trials / (time.perf_counter() - started)
    record("optuna TPE on the SMA objective, in memory, 100k bars", f"{rate:.0f} trials/s", ">= 25/s")

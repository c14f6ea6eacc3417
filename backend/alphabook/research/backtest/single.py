"""One backtest, start to finish: check the frame and the settings, simulate, report.

``backtest`` takes signals or targets you already have; ``run`` calls a strategy first. Both go
through the same vectorbt boundary as grids (:mod:`alphabook.research.backtest.engine`), so a grid row
and a single run with the same parameters agree to the last digit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Unpack

import pandas as pd

from alphabook.core.errors import InvalidInput
from alphabook.research.backtest.bars import bars_from_frame
from alphabook.research.backtest.config import BacktestOptions, settings_from
from alphabook.research.backtest.engine import simulate_signals, simulate_targets
from alphabook.research.backtest.report import Report, build_report
from alphabook.research.backtest.signals import Signals, Strategy, Targets, call_strategy

__all__ = ["backtest", "run"]


def backtest(df: pd.DataFrame, orders: Signals | Targets, **config: Unpack[BacktestOptions]) -> Report:
    """Simulate ``orders`` on the OHLCV frame ``df`` and report (options: see ``Settings``)."""
    bars = bars_from_frame(df)
    settings = settings_from(config)
    if isinstance(orders, Signals):
        column = simulate_signals(bars, [orders], settings)[0]
    elif isinstance(orders, Targets):
        column = simulate_targets(bars, orders, settings)
    else:
        raise InvalidInput(f"backtest() needs Signals or Targets, got {type(orders).__name__}.")
    return build_report(bars, column, float(settings.init_cash), settings.bars_per_year(bars))


def run(
    df: pd.DataFrame, strategy: Strategy, params: Mapping[str, Any] | None = None, **config: Unpack[BacktestOptions]
) -> Report:
    """``backtest(df, strategy(df, **params), **config)``, with the strategy's output checked."""
    return backtest(df, call_strategy(strategy, df, params or {}), **config)

"""Backtests on vectorbt's Rust engine: one run, parameter grids, and a lookahead check.

A strategy is ``signals(df, **params) -> Signals`` (see :mod:`.signals`); ``run`` and ``backtest``
simulate one, ``grid`` many parameter combinations in chunked vectorbt broadcasts, ``check_lookahead``
re-runs a strategy on truncated data to catch signals that peek at the future. Fill convention, engine
selection and metric definitions are documented in :mod:`.engine`, :mod:`.bars` and :mod:`.metrics`.
"""

from alphabook.research.backtest.bars import infer_periods_per_year
from alphabook.research.backtest.config import BacktestOptions, Sizing
from alphabook.research.backtest.grid import grid
from alphabook.research.backtest.lookahead import LookaheadReport, check_lookahead
from alphabook.research.backtest.metrics import Metrics
from alphabook.research.backtest.report import Report
from alphabook.research.backtest.signals import Signals, Strategy, Targets
from alphabook.research.backtest.single import backtest, run

__all__ = [
    "BacktestOptions",
    "LookaheadReport",
    "Metrics",
    "Report",
    "Signals",
    "Sizing",
    "Strategy",
    "Targets",
    "backtest",
    "check_lookahead",
    "grid",
    "infer_periods_per_year",
    "run",
]

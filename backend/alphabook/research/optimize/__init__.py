"""Optimisation and validation: parameter search, walk-forward, overfitting measures, A/B comparison.

optuna runs the searches (or a vectorbt grid when the space is small), scipy the statistics. Every
search result carries the number of trials behind it and its Deflated Sharpe Ratio.
"""

from alphabook.research.optimize.ab import ABResult, compare_returns
from alphabook.research.optimize.overfitting import (
    DeflatedSharpe,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
)
from alphabook.research.optimize.space import Choice, FloatRange, IntRange
from alphabook.research.optimize.study import OptimizationResult, optimize
from alphabook.research.optimize.walkforward import WalkForwardResult, Window, split_windows, walk_forward

__all__ = [
    "ABResult",
    "Choice",
    "DeflatedSharpe",
    "FloatRange",
    "IntRange",
    "OptimizationResult",
    "WalkForwardResult",
    "Window",
    "compare_returns",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "optimize",
    "probabilistic_sharpe_ratio",
    "split_windows",
    "walk_forward",
]

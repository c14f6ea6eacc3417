"""Parameter search: exhaustive grid for small spaces, optuna samplers and pruning for the rest."""

from __future__ import annotations

import optuna
import pandas as pd
import pytest

from alphabook.core.errors import InvalidInput
from alphabook.research.backtest import grid, run
from alphabook.research.optimize.space import Choice, FloatRange, IntRange, grid_size, iterate_grid
from alphabook.research.optimize.study import optimize
from alphabook.research.strategies import sma_crossover

SPACE = {"fast": IntRange(5, 30, 5), "slow": IntRange(40, 120, 20)}


def fast_below_slow(params: dict[str, int]) -> bool:
    return params["fast"] < params["slow"]


def test_small_discrete_space_is_searched_exhaustively(goog_1d: pd.DataFrame) -> None:
    result = optimize(goog_1d, sma_crossover, SPACE, metric="total_return", fees=0.001)
    assert result.method == "grid" and result.n_trials == 6 * 5
    table = grid(goog_1d, sma_crossover, {"fast": range(5, 31, 5), "slow": range(40, 121, 20)}, fees=0.001)
    best = table.loc[table["total_return"].idxmax()]
    assert result.best_params == {"fast": int(best["fast"]), "slow": int(best["slow"])}
    assert result.best_value == pytest.approx(best["total_return"])
    assert result.best_report.total_return == pytest.approx(result.best_value)
    assert 0.0 <= result.deflated_sharpe.probability <= 1.0 and result.deflated_sharpe.n_trials == 30


def test_tpe_finds_a_good_combination_and_respects_the_constraint(goog_1d: pd.DataFrame) -> None:
    space = {"fast": IntRange(2, 60), "slow": IntRange(10, 250)}
    result = optimize(goog_1d, sma_crossover, space, metric="sharpe", n_trials=40, constraint=fast_below_slow,
                      sampler=optuna.samplers.TPESampler(seed=3))
    assert result.method == "sampler" and result.n_trials == 40
    assert result.best_params["fast"] < result.best_params["slow"]
    complete = result.trials[result.trials["state"] == "COMPLETE"]
    assert result.best_value == pytest.approx(complete["value"].max())
    assert run(goog_1d, sma_crossover, result.best_params).sharpe == pytest.approx(result.best_value)
    assert result.to_dict()["n_trials"] == 40


def test_minimising_a_metric(goog_1d: pd.DataFrame) -> None:
    result = optimize(goog_1d, sma_crossover, SPACE, metric="max_drawdown", direction="minimize")
    table = grid(goog_1d, sma_crossover, {"fast": range(5, 31, 5), "slow": range(40, 121, 20)})
    assert result.best_value == pytest.approx(table["max_drawdown"].min())


def test_pruning_stops_hopeless_trials_early(goog_1d: pd.DataFrame) -> None:
    result = optimize(goog_1d, sma_crossover, {"fast": IntRange(2, 60), "slow": IntRange(61, 250)},
                      metric="total_return", n_trials=30, sampler=optuna.samplers.RandomSampler(seed=1),
                      pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0))
    states = result.trials["state"].value_counts()
    assert states.get("PRUNED", 0) > 0 and states.get("COMPLETE", 0) > 0


def test_unknown_metric_and_empty_space_are_refused(goog_1d: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="sharpe"):
        optimize(goog_1d, sma_crossover, SPACE, metric="sharp")
    with pytest.raises(InvalidInput, match="empty"):
        IntRange(10, 5)


def test_space_grid_arithmetic() -> None:
    space = {"a": IntRange(1, 5, 2), "b": Choice("x", "y"), "c": FloatRange(0.0, 1.0, step=0.5)}
    assert grid_size(space) == 3 * 2 * 3
    assert list(iterate_grid(space))[:2] == [{"a": 1, "b": "x", "c": 0.0}, {"a": 1, "b": "x", "c": 0.5}]
    assert grid_size({"c": FloatRange(0.0, 1.0)}) is None

"""Parameter search for any strategy, with any report metric as the objective.

optuna does the heavy lifting: TPE by default (any optuna sampler and pruner may be passed), studies in
memory or in a shared database so several workers fill one study (see :mod:`.storage`). When the space
is discrete and small (fewer than ``GRID_LIMIT`` combinations) and no sampler was asked for, the search
is an exhaustive chunked vectorbt grid instead: measured here, that is both faster and complete.

Every result carries the number of trials behind it and the Deflated Sharpe Ratio computed from it,
because a best-of-N Sharpe ratio means little without N.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import optuna
import pandas as pd

from alphabook.core.errors import InvalidInput
from alphabook.research.backtest import Metrics, Report, Strategy, grid, run
from alphabook.research.optimize.overfitting import DeflatedSharpe, deflated_sharpe_ratio
from alphabook.research.optimize.space import Space, grid_size, grid_values, suggest
from alphabook.research.optimize.storage import open_storage

GRID_LIMIT = 500
#: Data fractions at which a pruned search reports intermediate values (the last one is the full run).
PRUNING_STEPS = (0.25, 0.5, 0.75, 1.0)
Direction = Literal["maximize", "minimize"]
Constraint = Callable[[Mapping[str, Any]], bool]
METRICS = tuple(name for name in Metrics.__dataclass_fields__ if name != "max_drawdown_duration")


@dataclass(frozen=True, slots=True)
class OptimizationResult:
    best_params: dict[str, Any]
    best_value: float
    metric: str
    direction: Direction
    n_trials: int
    trials: pd.DataFrame  # one row per finished trial: parameters, value, state
    best_report: Report
    deflated_sharpe: DeflatedSharpe
    method: Literal["grid", "sampler"]
    study_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "best_params": self.best_params, "best_value": self.best_value, "metric": self.metric,
            "direction": self.direction, "n_trials": self.n_trials, "method": self.method,
            "deflated_sharpe": self.deflated_sharpe.probability,
            "deflated_sharpe_verdict": self.deflated_sharpe.verdict,
            "best_report": {key: value for key, value in self.best_report.to_dict().items() if key != "trades"},
        }


def optimize(
    df: pd.DataFrame,
    strategy: Strategy,
    space: Space,
    *,
    metric: str = "sharpe",
    direction: Direction = "maximize",
    constraint: Constraint | None = None,
    n_trials: int = 100,
    method: Literal["auto", "grid", "sampler"] = "auto",
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    storage: str | optuna.storages.BaseStorage | None = None,
    study_name: str | None = None,
    timeout: float | None = None,
    progress: bool = False,
    **backtest_options: Any,
) -> OptimizationResult:
    """Search ``space`` for the parameters of ``strategy`` that optimise ``metric`` on ``df``.

    ``constraint(params) -> bool`` rules combinations out before they run (e.g. ``fast < slow``).
    """
    _check_metric(metric)
    size = grid_size(space)
    use_grid = method == "grid" or (method == "auto" and sampler is None and storage is None and pruner is None
                                    and size is not None and size <= GRID_LIMIT)
    if use_grid:
        return _grid_search(df, strategy, space, metric, direction, constraint, progress, backtest_options)
    return _sampler_search(df, strategy, space, metric=metric, direction=direction, constraint=constraint,
                           n_trials=n_trials,
                           sampler=sampler, pruner=pruner, storage=storage, study_name=study_name, timeout=timeout,
                           progress=progress, options=backtest_options)


def metric_value(report: Metrics, metric: str) -> float:
    """A report metric as a number optuna can rank (NaN, e.g. no trades, ranks last)."""
    value = float(getattr(report, metric))
    return value if math.isfinite(value) else float("nan")


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise InvalidInput(f"Unknown metric {metric!r}; choose one of: {', '.join(METRICS)}.")


def _grid_search(df: pd.DataFrame, strategy: Strategy, space: Space, metric: str, direction: Direction,
                 constraint: Constraint | None, progress: bool, options: Mapping[str, Any]) -> OptimizationResult:
    table = grid(df, strategy, grid_values(space), constraint=constraint, progress=progress, **options)
    if table.empty:
        raise InvalidInput("No parameter combination could be run; check the space and the strategy's rules.")
    ranked = table[metric].astype("float64")
    best_row = ranked.idxmax() if direction == "maximize" else ranked.idxmin()
    if pd.isna(best_row):
        raise InvalidInput(f"No combination produced a {metric}; the strategy may never trade on this data.")
    best_params = {name: _plain(table.at[best_row, name]) for name in space}
    report = run(df, strategy, best_params, **options)
    per_period = table["sharpe"].astype("float64") / math.sqrt(report.periods_per_year)
    trials = table.assign(value=ranked, state="COMPLETE")
    return OptimizationResult(
        best_params=best_params, best_value=float(ranked[best_row]), metric=metric, direction=direction,
        n_trials=len(table), trials=trials, best_report=report, method="grid",
        deflated_sharpe=deflated_sharpe_ratio(report.returns, len(table), _finite(per_period)),
    )


def _sampler_search(df: pd.DataFrame, strategy: Strategy, space: Space, *, metric: str, direction: Direction,
                    constraint: Constraint | None, n_trials: int, sampler: optuna.samplers.BaseSampler | None,
                    pruner: optuna.pruners.BasePruner | None, storage: str | optuna.storages.BaseStorage | None,
                    study_name: str | None, timeout: float | None, progress: bool,
                    options: Mapping[str, Any]) -> OptimizationResult:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=open_storage(storage), study_name=study_name, direction=direction, load_if_exists=True,
        sampler=sampler or optuna.samplers.TPESampler(seed=None), pruner=pruner or optuna.pruners.NopPruner(),
    )

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, space)
        if constraint is not None and not constraint(params):
            raise optuna.TrialPruned(f"ruled out by the constraint: {params}")
        if pruner is None:
            report = run(df, strategy, params, **options)
        else:
            for step, fraction in enumerate(PRUNING_STEPS):
                report = run(df.iloc[: max(2, int(len(df) * fraction))], strategy, params, **options)
                trial.report(metric_value(report, metric), step)
                if fraction < 1 and trial.should_prune():
                    raise optuna.TrialPruned()
        trial.set_user_attr("sharpe_per_period", report.sharpe / math.sqrt(report.periods_per_year))
        return metric_value(report, metric)

    study.optimize(objective, n_trials=n_trials, timeout=timeout, show_progress_bar=progress,
                   catch=(InvalidInput,))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and _finite_value(t)]
    if not complete:
        raise InvalidInput(f"No trial produced a {metric}; the strategy may never trade on this data.")
    best = (max if direction == "maximize" else min)(complete, key=lambda t: float(t.value or 0.0))
    report = run(df, strategy, best.params, **options)
    sharpes = [float(t.user_attrs["sharpe_per_period"]) for t in complete if "sharpe_per_period" in t.user_attrs]
    return OptimizationResult(
        best_params=dict(best.params), best_value=float(best.value or 0.0), metric=metric, direction=direction,
        n_trials=len(study.trials), trials=study.trials_dataframe(), best_report=report, method="sampler",
        deflated_sharpe=deflated_sharpe_ratio(report.returns, len(study.trials), _finite(sharpes)),
        study_name=study.study_name,
    )


def _finite_value(trial: optuna.trial.FrozenTrial) -> bool:
    return trial.value is not None and math.isfinite(trial.value)


def _finite(values: Sequence[float] | pd.Series) -> list[float]:
    return [float(value) for value in values if math.isfinite(float(value))]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value

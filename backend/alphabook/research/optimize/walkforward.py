"""Walk-forward validation: optimise on the past, trade the next stretch you have not seen, repeat.

Each window optimises on its train span (:func:`~.study.optimize`) and trades its test span with the
winning parameters; signals are computed on train + test bars so indicators are warmed up, but only the
test span is traded, and any position is closed at the window's end. The out-of-sample spans are then
stitched into one backtest (vectorbt, through :func:`~alphabook.research.backtest.backtest`), so the
out-of-sample report has real trades, fees and drawdowns rather than averaged numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import pandas as pd
from tqdm.auto import tqdm

from alphabook.core.errors import InvalidInput
from alphabook.research.backtest import Report, Signals, Strategy, backtest, run
from alphabook.research.backtest.signals import call_strategy
from alphabook.research.optimize.space import Space
from alphabook.research.optimize.study import Direction, metric_value, optimize

Span: TypeAlias = "int | str | pd.Timedelta"  # bars, or a duration such as "90D"


@dataclass(frozen=True, slots=True)
class Window:
    train_start: pd.Timestamp
    train_end: pd.Timestamp  # exclusive: the first test bar
    test_end: pd.Timestamp  # exclusive


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    windows: pd.DataFrame  # per window: bounds, best params, in-sample and out-of-sample metric
    out_of_sample: Report  # the stitched out-of-sample backtest
    in_sample: Report  # the same stitching over each window's train span, for comparison
    metric: str

    @property
    def efficiency(self) -> float:
        """Out-of-sample metric / in-sample metric: near 1 means the optimisation carried over."""
        return metric_value(self.out_of_sample, self.metric) / metric_value(self.in_sample, self.metric)

    def comparison(self) -> pd.DataFrame:
        """In-sample vs out-of-sample, side by side, for every metric."""
        table = pd.DataFrame({"in_sample": self.in_sample.metrics_dict(),
                              "out_of_sample": self.out_of_sample.metrics_dict()})
        table.index.name = "metric"
        return table


def split_windows(index: pd.DatetimeIndex, *, train: Span, test: Span, step: Span | None = None,
                  anchored: bool = False) -> list[Window]:
    """Rolling (or, if ``anchored``, expanding) train/test windows over ``index``; the last partial test
    window is kept if it has at least one bar."""
    positions = [_bars(index, span, name) for span, name in ((train, "train"), (test, "test"))]
    train_bars, test_bars = positions
    step_bars = _bars(index, step, "step") if step is not None else test_bars
    if train_bars + 1 > len(index):
        raise InvalidInput(f"The train span ({train_bars} bars) leaves no bars to test in {len(index)}.")
    windows = []
    start = 0
    while start + train_bars < len(index):
        test_start = start + train_bars
        test_stop = min(test_start + test_bars, len(index))
        first = 0 if anchored else start
        windows.append(Window(index[first], index[test_start], _end(index, test_stop)))
        start += step_bars
    return windows


def walk_forward(
    df: pd.DataFrame,
    strategy: Strategy,
    space: Space,
    *,
    train: Span,
    test: Span,
    step: Span | None = None,
    anchored: bool = False,
    metric: str = "sharpe",
    direction: Direction = "maximize",
    constraint: Callable[[Mapping[str, Any]], bool] | None = None,
    n_trials: int = 50,
    method: Literal["auto", "grid", "sampler"] = "auto",
    progress: bool = False,
    **backtest_options: Any,
) -> WalkForwardResult:
    """Optimise on each train window, trade the following test window, and report both sides."""
    windows = split_windows(df.index, train=train, test=test, step=step, anchored=anchored)
    rows, oos_parts, is_parts = [], [], []
    for window in tqdm(windows, desc="walk-forward", disable=not progress):
        train_bars = df[(df.index >= window.train_start) & (df.index < window.train_end)]
        best = optimize(train_bars, strategy, space, metric=metric, direction=direction, constraint=constraint,
                        n_trials=n_trials, method=method, **backtest_options)
        seen = df[(df.index >= window.train_start) & (df.index < window.test_end)]
        test_mask = seen.index >= window.train_end
        oos_parts.append(_traded_span(call_strategy(strategy, seen, best.best_params), test_mask))
        is_parts.append(_traded_span(call_strategy(strategy, train_bars, best.best_params), None))
        oos = run(seen[test_mask], strategy, best.best_params, **backtest_options) if test_mask.sum() > 2 else None
        rows.append({
            "train_start": window.train_start, "test_start": window.train_end, "test_end": window.test_end,
            **best.best_params, f"in_sample_{metric}": best.best_value,
            f"out_of_sample_{metric}": metric_value(oos, metric) if oos is not None else float("nan"),
            "trials": best.n_trials,
        })
    return WalkForwardResult(
        windows=pd.DataFrame(rows),
        out_of_sample=_stitched(df, oos_parts, backtest_options),
        in_sample=_stitched(df, is_parts, backtest_options),
        metric=metric,
    )


def _traded_span(signals: Signals, mask: Any) -> Signals:
    """Keep the signals inside ``mask`` (all if None) and force an exit on the span's last bar."""
    parts = {}
    for name in ("entries", "exits", "short_entries", "short_exits"):
        series = getattr(signals, name)
        if series is None:
            continue
        span = series[mask] if mask is not None else series
        if name.endswith("exits"):
            span = span.copy()
            span.iloc[-1] = True
        parts[name] = span
    return Signals(**parts)


def _stitched(df: pd.DataFrame, parts: list[Signals], options: Mapping[str, Any]) -> Report:
    """One backtest over the union of spans (overlapping in-sample spans: the later window wins)."""
    merged: dict[str, pd.Series] = {}
    for part in parts:
        for name in ("entries", "exits", "short_entries", "short_exits"):
            series = getattr(part, name)
            if series is not None:
                merged[name] = series if name not in merged else series.combine_first(merged[name])
    index = merged["entries"].index.sort_values()
    bars = df.loc[index]
    aligned = {name: series.reindex(index, fill_value=False).astype(bool) for name, series in merged.items()}
    return backtest(bars, Signals(**aligned), **options)


def _bars(index: pd.DatetimeIndex, span: Span, name: str) -> int:
    if isinstance(span, bool):
        raise InvalidInput(f"{name} must be a number of bars or a duration such as '90D'.")
    if isinstance(span, int):
        bars = span
    else:
        duration = pd.Timedelta(span)
        bars = int(index.searchsorted(index[0] + duration))
    if bars < 2:
        raise InvalidInput(f"The {name} span must cover at least 2 bars; {span!r} covers {bars}.")
    return bars


def _end(index: pd.DatetimeIndex, stop: int) -> pd.Timestamp:
    if stop < len(index):
        return index[stop]
    return index[-1] + (index[-1] - index[-2])

"""Lookahead check: does any signal change when the future is removed?

A backtest cannot see lookahead bias; its results just look too good. A causal strategy's signal on bar t
depends only on bars up to t, so re-running it on the data truncated after bar t must reproduce every
signal up to t exactly. This module does that at several cut points and lists every signal value that
changed (``shift(-1)``, centred rolling windows and whole-sample normalisation are all caught).

Where to cut matters: a peeking signal that rarely fires only shows up when the cut falls right after
one of its firings. The default checkpoints are therefore half spread over the bars where the full run
fires any signal, half spread evenly over the data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alphabook.core.errors import InvalidInput
from alphabook.research.backtest.bars import bars_from_frame
from alphabook.research.backtest.signals import SIGNAL_NAMES, Strategy, call_strategy, signal_arrays

__all__ = ["LookaheadReport", "check_lookahead"]

CHANGE_COLUMNS = ("checkpoint", "time", "signal", "full", "truncated")


@dataclass(frozen=True, slots=True)
class LookaheadReport:
    """``changes`` has one row per signal value that differs between the full run and a run on the data
    ending at ``checkpoint``: the bar ``time``, the ``signal`` name, and its ``full`` / ``truncated`` values."""

    checkpoints: tuple[pd.Timestamp, ...]
    changes: pd.DataFrame

    @property
    def clean(self) -> bool:
        return bool(self.changes.empty)

    @property
    def verdict(self) -> str:
        if self.clean:
            return f"No lookahead found: every signal was reproduced at all {len(self.checkpoints)} checkpoints."
        first = self.changes.iloc[0]
        signals = ", ".join(sorted(set(self.changes["signal"])))
        return (f"Lookahead: {len(self.changes)} signal value(s) ({signals}) changed when future bars were "
                f"removed; first: {first['signal']} at {first['time']} was {first['full']} with the full data "
                f"but {first['truncated']} with data up to {first['checkpoint']}.")


def check_lookahead(
    df: pd.DataFrame,
    strategy: Strategy,
    params: Mapping[str, Any] | None = None,
    *,
    checkpoints: int | Sequence[Any] = 20,
) -> LookaheadReport:
    """Re-run ``strategy(df.loc[:checkpoint], **params)`` and compare with the full run.

    ``checkpoints`` is a number of cut points chosen as the module docstring says, or explicit times
    (each cut keeps the bars at or before it; the last bar is excluded, as cutting there removes nothing).
    """
    index = bars_from_frame(df).index
    params = dict(params or {})
    full = signal_arrays(call_strategy(strategy, df, params), index)
    cuts = _cut_positions(full, index, checkpoints)
    found: list[pd.DataFrame] = []
    for cut in cuts:
        part = df.iloc[: cut + 1]
        truncated = signal_arrays(call_strategy(strategy, part, params), part.index)
        for name in SIGNAL_NAMES:
            before, after = _values(full[name], cut + 1), _values(truncated[name], cut + 1)
            changed = np.flatnonzero(before != after)
            if len(changed):
                found.append(pd.DataFrame({
                    "checkpoint": index[np.full(len(changed), cut)], "time": index[changed], "signal": name,
                    "full": before[changed], "truncated": after[changed],
                }))
    changes = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=list(CHANGE_COLUMNS))
    return LookaheadReport(tuple(index[cuts]), changes)


def _values(signal: np.ndarray | None, length: int) -> np.ndarray:
    return signal[:length] if signal is not None else np.zeros(length, dtype=np.bool_)


def _cut_positions(full: Mapping[str, np.ndarray | None], index: pd.DatetimeIndex,
                   checkpoints: int | Sequence[Any]) -> np.ndarray:
    last = len(index) - 1  # cutting at the last bar removes nothing
    if isinstance(checkpoints, int):
        if isinstance(checkpoints, bool) or checkpoints < 1:
            raise InvalidInput(f"checkpoints must be a count of at least 1 or a list of times, got {checkpoints}.")
        fired = np.zeros(len(index), dtype=np.bool_)
        for signal in full.values():
            if signal is not None:
                fired |= signal
        events = np.flatnonzero(fired[:last])
        on_events = events[_spread(len(events), (checkpoints + 1) // 2)]
        even = np.linspace(0, last, checkpoints - len(on_events) + 2)[1:-1].astype(np.int64)
        return np.unique(np.concatenate((on_events, even)))
    try:
        times = pd.DatetimeIndex([_utc(time) for time in checkpoints])
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"checkpoints must be a count or a list of times; {exc}") from exc
    cuts = index.searchsorted(times, side="right") - 1
    if len(cuts) == 0 or (cuts < 0).any() or (cuts >= last).any():
        raise InvalidInput(f"Every checkpoint must fall from {index[0]} to before the last bar {index[-1]}.")
    return np.unique(cuts)


def _utc(time: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(time)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")


def _spread(available: int, wanted: int) -> np.ndarray:
    """Indices of ``wanted`` items spread evenly over ``available`` (all of them if there are fewer)."""
    if available <= wanted:
        return np.arange(available)
    return np.unique(np.linspace(0, available - 1, wanted).round().astype(np.int64))

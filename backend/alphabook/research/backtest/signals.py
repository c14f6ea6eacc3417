"""The strategy contract: what a strategy hands the backtester, and the one place its output is checked.

Optimisation, notebooks and the marketplace all call a strategy the same way: ``signals(df, **params)``
returns :class:`Signals`, boolean series aligned to the bars, where ``True`` on bar *t* means "the rule
fired on bar t's close". How a signal becomes a fill (next bar's open, or this bar's close) is the
engine's business, so a strategy never shifts its own output. A single backtest may instead be driven
by :class:`Targets`, the position to hold after each bar (the shape an allocator or a model produces).

Series are checked here rather than deep in vectorbt, so a misaligned or non-boolean signal fails with
the strategy's name and a fix, and any exception a strategy raises carries a note with the parameters
that triggered it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from alphabook.core.errors import InvalidInput

__all__ = ["SIGNAL_NAMES", "Signals", "Strategy", "Targets", "call_strategy", "signal_arrays", "target_array"]

SIGNAL_NAMES = ("entries", "exits", "short_entries", "short_exits")

TargetUnit = Literal["fraction", "units", "cash"]


@dataclass(frozen=True, slots=True)
class Signals:
    """Boolean series aligned to the bars: enter/exit long, and optionally enter/exit short.

    An entry while already in a position of the same direction is ignored (no pyramiding); an opposite
    entry reverses the position; an entry and an exit (or a long and a short entry) on the same bar cancel
    out. These are vectorbt's ``accumulate=False``, ``upon_opposite_entry="reversereduce"`` and
    ``upon_*_conflict="ignore"``, passed explicitly so that vectorbt's global settings cannot change them.
    """

    entries: pd.Series
    exits: pd.Series
    short_entries: pd.Series | None = None
    short_exits: pd.Series | None = None

    @property
    def has_shorts(self) -> bool:
        return self.short_entries is not None or self.short_exits is not None


@dataclass(frozen=True, slots=True)
class Targets:
    """The position to hold after each bar; NaN means "no order, keep what you have".

    ``unit`` says what the numbers are: ``"fraction"`` of equity (0.5 = half long, -1 = all short),
    ``"units"`` of the asset, or ``"cash"`` value of the position (negative = short).
    """

    position: pd.Series
    unit: TargetUnit = "fraction"

    def __post_init__(self) -> None:
        if self.unit not in ("fraction", "units", "cash"):
            raise InvalidInput(f"Targets.unit must be 'fraction', 'units' or 'cash', not {self.unit!r}.")


Strategy = Callable[..., Signals]
"""``strategy(df, **params) -> Signals``; plain functions with keyword parameters qualify."""


def call_strategy(strategy: Strategy, df: pd.DataFrame, params: Mapping[str, Any]) -> Signals:
    """Run ``strategy(df, **params)`` and check that it kept the contract."""
    name = getattr(strategy, "__name__", repr(strategy))
    try:
        signals = strategy(df, **params)
    except Exception as exc:
        exc.add_note(f"raised by strategy {name}(df, **{dict(params)!r})")
        raise
    if not isinstance(signals, Signals):
        raise InvalidInput(f"Strategy {name} returned {type(signals).__name__}; it must return a Signals(...).")
    signal_arrays(signals, df.index, source=name)
    return signals


def signal_arrays(
    signals: Signals, index: pd.DatetimeIndex, *, source: str = "the signals"
) -> dict[str, np.ndarray | None]:
    """The four signal series as read-only bool arrays (``None`` for an absent short side), checked against
    ``index``."""
    return {name: _flags(getattr(signals, name), name, index, source) for name in SIGNAL_NAMES}


def target_array(targets: Targets, index: pd.DatetimeIndex) -> np.ndarray:
    """The target positions as a float64 array, checked against ``index``."""
    position = _aligned(targets.position, "position", index, "the targets")
    if position.dtype.kind not in "fiu":
        raise InvalidInput(f"Target positions must be numeric, not {position.dtype}.")
    values: np.ndarray = position.to_numpy(dtype=np.float64)
    if np.isinf(values).any():
        raise InvalidInput("Target positions must be finite numbers (NaN = no order); found an infinity.")
    return values


def _flags(series: pd.Series | None, name: str, index: pd.DatetimeIndex, source: str) -> np.ndarray | None:
    if series is None and name.startswith("short_"):
        return None
    aligned = _aligned(series, name, index, source)
    if aligned.dtype != np.bool_:
        raise InvalidInput(f"{name} from {source} must have dtype bool, not {aligned.dtype}; "
                           "use .fillna(False).astype(bool).")
    flags: np.ndarray = aligned.to_numpy()
    return flags


def _aligned(series: object, name: str, index: pd.DatetimeIndex, source: str) -> pd.Series:
    if not isinstance(series, pd.Series):
        raise InvalidInput(f"{name} from {source} must be a pandas Series aligned to the bars, "
                           f"got {type(series).__name__}.")
    if series.index is not index and not series.index.equals(index):
        raise InvalidInput(
            f"{name} from {source} is not aligned to the bars ({len(series)} rows vs {len(index)} bars, or "
            "different times); build it from df's columns or use .reindex(df.index, fill_value=False)."
        )
    return series

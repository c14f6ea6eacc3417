"""The vectorbt boundary: signals or targets in, fills and trades out, as plain numpy arrays.

vectorbt (``Portfolio.from_signals`` / ``Portfolio.from_orders``) does the order simulation, on its Rust
engine. vectorbt 1.2 picks an engine per call: ``engine=`` on the call, else the global
``vectorbt.settings["engine"]`` (default ``"auto"``: Rust when ``vectorbt-rust`` is installed at the
matching version and supports the call, else Numba, *silently*). Numba costs ~5 s of JIT in every fresh
process, so every call here passes ``engine="rust"``: a missing or mismatched ``vectorbt-rust`` is a loud
configuration error instead of a quiet 5 s, and a notebook that changed the global setting cannot slow
us down (measured in a fresh process on 120k bars: 13 ms on Rust, 21 s on Numba). Only numpy arrays
cross the boundary (no index at all), because vectorbt 1.2 on pandas 3 is 40-150x slower with a
timezone-aware index; callers put the UTC index back.

Fill convention. A signal is computed on bar t's close. With ``fill="next_open"`` (the default, and
backtesting.py's default ``trade_on_close=False``) it executes at bar t+1's open: the signal arrays are
shifted one bar later and the order price is the open (a signal on the last bar never executes). With
``fill="close"`` it executes at bar t's close, unshifted. Either way the position is valued at each
bar's close. ``fees`` is a commission rate charged on each fill's value, ``slippage`` moves each fill
price against the trader, and all-in sizing buys ``floor(cash / (price * (1 + fees)))`` units when
``whole_units`` (vectorbt ``size=np.inf, size_granularity=1``), exactly like backtesting.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from alphabook.core.errors import ConfigurationError, InvalidInput
from alphabook.research.backtest.bars import Bars
from alphabook.research.backtest.config import Settings, Sizing
from alphabook.research.backtest.signals import SIGNAL_NAMES, Signals, Targets, signal_arrays, target_array

__all__ = ["ENGINE", "ColumnResult", "Fills", "TradeLog", "simulate_signals", "simulate_targets"]

ENGINE = "rust"

_SIZE_TYPES = {"all_in": "amount", "units": "amount", "fraction": "percent", "cash": "value"}
_TARGET_SIZE_TYPES = {"fraction": "targetpercent", "units": "targetamount", "cash": "targetvalue"}


@dataclass(frozen=True, slots=True)
class Fills:
    """Executed orders of one column, in time order."""

    bar: np.ndarray  # int64 bar position of the fill
    size: np.ndarray  # units, + bought / - sold
    price: np.ndarray  # fill price after slippage
    fees: np.ndarray  # commission paid


@dataclass(frozen=True, slots=True)
class TradeLog:
    """Round trips of one column (vectorbt exit trades); an open trade is marked to the last close."""

    entry_bar: np.ndarray
    exit_bar: np.ndarray
    entry_price: np.ndarray
    exit_price: np.ndarray
    size: np.ndarray  # units, always positive
    is_long: np.ndarray
    pnl: np.ndarray  # after entry and exit fees
    ret: np.ndarray  # pnl / entry value
    fees: np.ndarray
    is_open: np.ndarray


@dataclass(frozen=True, slots=True)
class ColumnResult:
    fills: Fills
    trades: TradeLog


def simulate_signals(bars: Bars, plans: Sequence[Signals], settings: Settings) -> list[ColumnResult]:
    """One vectorbt ``from_signals`` over ``len(plans)`` columns that share ``bars``."""
    arrays = [signal_arrays(plan, bars.index) for plan in plans]
    shorts = any(plan.has_shorts for plan in plans)
    names = SIGNAL_NAMES if shorts else SIGNAL_NAMES[:2]
    lag = 1 if settings.fill == "next_open" else 0
    stacked = {name: _stack_delayed([columns[name] for columns in arrays], len(bars), lag) for name in names}
    direction: dict[str, Any] = {} if shorts else {"direction": "longonly"}
    portfolio = _call_vectorbt(
        "from_signals",
        bars.close[:, None],
        **stacked,
        **direction,
        size=settings.sizing.amount,
        size_type=_SIZE_TYPES[settings.sizing.kind],
        accumulate=False,
        upon_opposite_entry="reversereduce",
        upon_long_conflict="ignore",
        upon_short_conflict="ignore",
        upon_dir_conflict="ignore",
        max_orders=max(1, sum(int(signals.sum()) for signals in stacked.values())),
        **_common(bars, settings),
    )
    return _columns(portfolio, len(plans))


def simulate_targets(bars: Bars, targets: Targets, settings: Settings) -> ColumnResult:
    """One vectorbt ``from_orders`` run that moves the position to each non-NaN target."""
    if settings.sizing != Sizing.all_in():
        raise InvalidInput("sizing applies to Signals; Targets carry their own size (leave sizing at its default).")
    position = target_array(targets, bars.index)
    if settings.fill == "next_open":
        position = np.concatenate(([np.nan], position[:-1]))
    portfolio = _call_vectorbt(
        "from_orders",
        bars.close[:, None],
        size=position[:, None],
        size_type=_TARGET_SIZE_TYPES[targets.unit],
        direction="both",
        max_orders=max(1, int(np.count_nonzero(~np.isnan(position)))),
        **_common(bars, settings),
    )
    return _columns(portfolio, 1)[0]


def _stack_delayed(columns: list[np.ndarray | None], n: int, lag: int) -> np.ndarray:
    """(bars, columns) bool array with each column delayed by ``lag`` bars; ``None`` = never fires."""
    stacked = np.zeros((n, len(columns)), dtype=np.bool_)
    for j, column in enumerate(columns):
        if column is not None:
            stacked[lag:, j] = column[: n - lag]
    return stacked


def _common(bars: Bars, settings: Settings) -> dict[str, Any]:
    price = bars.open if settings.fill == "next_open" else bars.close
    return {
        "price": price[:, None],
        "fees": settings.fees,
        "slippage": settings.slippage,
        "size_granularity": 1.0 if settings.whole_units else np.nan,
        "init_cash": float(settings.init_cash),
        "engine": ENGINE,
    }


def _call_vectorbt(method: str, close: np.ndarray, **kwargs: Any) -> Any:
    from vectorbt.portfolio.base import Portfolio  # deferred: importing vectorbt takes seconds
    from vectorbt.portfolio.enums import RejectedOrderError

    try:
        return getattr(Portfolio, method)(close, **kwargs)
    except ImportError as exc:
        raise ConfigurationError(
            f"vectorbt's Rust engine is unavailable ({exc}); install vectorbt-rust at vectorbt's version."
        ) from exc
    except RejectedOrderError as exc:
        if "Percent does not support position reversal" in str(exc):
            raise InvalidInput(
                "Sizing.fraction() cannot reverse a position in one order: exit before the opposite entry, "
                "or size with Sizing.all_in(), Sizing.units() or Sizing.cash()."
            ) from exc
        raise


def _columns(portfolio: Any, n_columns: int) -> list[ColumnResult]:
    from vectorbt.portfolio.dispatch import get_exit_trades

    orders = portfolio.order_records
    if (np.diff(orders["col"]) < 0).any():  # vectorbt fills column by column; re-sort only if that changes
        orders = orders[np.argsort(orders["col"], kind="stable")]
    counts = np.bincount(orders["col"], minlength=n_columns).astype(np.int64)
    # vectorbt's engine-neutral trade kernel, called directly: Portfolio.exit_trades builds the same
    # records through Orders/ExitTrades objects whose config copying costs more than the kernel itself.
    close = np.asarray(portfolio.close, dtype=np.float64)  # the close vectorbt broadcast to every column
    trades = get_exit_trades(orders, close, (np.arange(len(orders)), counts), engine=ENGINE)
    order_bounds = np.concatenate(([0], np.cumsum(counts)))
    trade_bounds = np.searchsorted(trades["col"], np.arange(n_columns + 1))
    return [
        ColumnResult(
            _fills(orders[order_bounds[j] : order_bounds[j + 1]]),
            _trade_log(trades[trade_bounds[j] : trade_bounds[j + 1]]),
        )
        for j in range(n_columns)
    ]


def _fills(orders: np.ndarray) -> Fills:
    sign = np.where(orders["side"] == 0, 1.0, -1.0)  # vectorbt OrderSide: 0 buy, 1 sell
    return Fills(orders["idx"], sign * orders["size"], orders["price"], orders["fees"])


def _trade_log(trades: np.ndarray) -> TradeLog:
    return TradeLog(
        entry_bar=trades["entry_idx"],
        exit_bar=trades["exit_idx"],
        entry_price=trades["entry_price"],
        exit_price=trades["exit_price"],
        size=trades["size"],
        is_long=trades["direction"] == 0,  # vectorbt TradeDirection: 0 long, 1 short
        pnl=trades["pnl"],
        ret=trades["return"],
        fees=trades["entry_fees"] + trades["exit_fees"],
        is_open=trades["status"] == 0,  # vectorbt TradeStatus: 0 open, 1 closed
    )

"""Performance metrics computed with numpy from the fills and trades vectorbt produced.

Why not ``Portfolio.stats()``: it builds every metric through pandas wrappers (and
``Portfolio.value()`` alone costs more than the Rust simulation), which would make metrics the
bottleneck of grids. The equity curve is rebuilt here from the fills: cash moves by
``-size * price - fees`` at each fill, the position by ``size``, and equity is cash plus position
valued at each bar's close, the same bookkeeping as vectorbt's ``value()``.

Definitions (``r`` = per-bar returns of equity, the first one relative to the initial cash; ``P`` =
bars per year, see :mod:`alphabook.research.backtest.bars`):

* ``total_return`` = final equity / initial cash - 1; ``cagr`` = (final / initial) ** (1 / years) - 1 with
  years the calendar time covered (first bar's open to last bar's close, 365.25-day years);
* ``volatility`` = std(r, ddof=1) * sqrt(P); ``sharpe`` = mean(r) / std(r, ddof=1) * sqrt(P) (risk-free
  rate 0); ``sortino`` = mean(r) / sqrt(mean(min(r, 0)^2)) * sqrt(P); ``calmar`` = cagr / |max_drawdown|;
* ``max_drawdown`` = the lowest equity / running peak - 1 (a fraction <= 0; the initial cash is the first
  peak); ``max_drawdown_duration`` = the longest time from a peak to the bar that regained it (or to the
  last bar if it never did);
* ``win_rate``, ``profit_factor`` (gross profit / gross loss) and ``expectancy`` (mean pnl per trade, in
  the account currency) use closed trades only; ``num_trades`` also counts a trade still open at the end;
* ``exposure`` = fraction of bars ending with a position; ``fees_paid`` = commission on all fills.

A ratio whose denominator is zero (no trades, no losing trade, flat equity) is NaN, never inf.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from alphabook.research.backtest.bars import Bars
from alphabook.research.backtest.engine import Fills, TradeLog

__all__ = ["Curves", "Metrics", "curves_1d", "json_number", "summarize"]


@dataclass(frozen=True, slots=True)
class Metrics:
    """Scalar performance figures of one backtest (definitions in the module docstring)."""

    total_return: float
    cagr: float
    volatility: float
    sharpe: float
    sortino: float
    calmar: float
    max_drawdown: float
    max_drawdown_duration: pd.Timedelta
    win_rate: float
    profit_factor: float
    expectancy: float
    exposure: float
    num_trades: int
    fees_paid: float
    final_equity: float

    def metrics_dict(self) -> dict[str, Any]:
        """The metrics as plain Python values (NaN stays NaN; see ``Report.to_dict`` for JSON)."""
        return {f.name: getattr(self, f.name) for f in fields(Metrics)}


@dataclass(frozen=True, slots=True)
class Curves:
    equity: np.ndarray
    returns: np.ndarray
    drawdown: np.ndarray


def curves_1d(fills: Fills, close: np.ndarray, init_cash: float) -> Curves:
    """Equity, per-bar returns and drawdown of one column."""
    n = len(close)
    # Cash and position change only at fills: take their running totals after each bar's last fill and
    # hold them until the next bar with a fill.
    last_fill = np.flatnonzero(np.diff(fills.bar, append=n))
    held = np.diff(np.concatenate(([0], fills.bar[last_fill], [n])))
    cash_flow = -fills.size * fills.price - fills.fees
    cash = np.repeat(np.concatenate(([init_cash], init_cash + np.cumsum(cash_flow)[last_fill])), held)
    position = np.repeat(np.concatenate(([0.0], np.cumsum(fills.size)[last_fill])), held)
    equity = np.multiply(position, close, out=position)
    equity += cash
    with np.errstate(divide="ignore", invalid="ignore"):  # equity can reach 0 when shorting
        returns = np.empty(n)
        returns[0] = equity[0] / init_cash
        np.divide(equity[1:], equity[:-1], out=returns[1:])
        returns -= 1.0
        drawdown = np.fmax.accumulate(equity)  # running peak (fmax: ~30% faster than maximum, no NaN here)
        np.maximum(drawdown, init_cash, out=drawdown)
        np.divide(equity, drawdown, out=drawdown)
        drawdown -= 1.0
    return Curves(equity, returns, drawdown)


def summarize(curves: Curves, fills: Fills, trades: TradeLog, bars: Bars, init_cash: float,
              periods_per_year: float) -> Metrics:
    """All metrics of one column."""
    equity, returns = curves.equity, curves.returns
    growth = float(equity[-1]) / init_cash
    cagr = growth ** (1.0 / bars.years) - 1.0 if growth > 0 else -1.0
    max_drawdown = float(curves.drawdown.min())
    annualiser = math.sqrt(periods_per_year)
    mean = float(np.mean(returns))
    deviations = returns - mean
    std = math.sqrt(float(np.dot(deviations, deviations)) / (len(returns) - 1))
    losses = np.minimum(returns, 0.0, out=deviations)
    downside = math.sqrt(float(np.dot(losses, losses)) / len(returns))
    closed_pnl = trades.pnl[~trades.is_open]
    gross_profit = float(closed_pnl[closed_pnl > 0].sum())
    gross_loss = -float(closed_pnl[closed_pnl < 0].sum())
    return Metrics(
        total_return=float(growth - 1.0),
        cagr=float(cagr),
        volatility=std * annualiser,
        sharpe=_ratio(mean, std) * annualiser,
        sortino=_ratio(mean, downside) * annualiser,
        calmar=_ratio(cagr, -max_drawdown),
        max_drawdown=max_drawdown,
        max_drawdown_duration=pd.Timedelta(_max_drawdown_duration_ns(curves.drawdown, bars.times_ns), unit="ns"),
        win_rate=_ratio(float((closed_pnl > 0).sum()), len(closed_pnl)),
        profit_factor=_ratio(gross_profit, gross_loss),
        expectancy=_ratio(float(closed_pnl.sum()), len(closed_pnl)),
        exposure=_exposure_1d(trades, len(equity)),
        num_trades=len(trades.pnl),
        fees_paid=float(fills.fees.sum()),
        final_equity=float(equity[-1]),
    )


def json_number(value: float) -> float | None:
    """``value`` as a JSON-safe float: NaN and infinities become ``None``."""
    return float(value) if math.isfinite(value) else None


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 and math.isfinite(denominator) else math.nan


def _max_drawdown_duration_ns(drawdown: np.ndarray, times_ns: np.ndarray) -> int:
    # Underwater spells are runs of bars below the peak: [start, end). A spell runs from the peak (the bar
    # before it, or the first bar when the peak is the initial cash) to the bar that regained it, or to
    # the last bar.
    edges = np.flatnonzero(np.diff(drawdown < 0, prepend=False, append=False))
    if len(edges) == 0:
        return 0
    starts, ends = edges[::2], edges[1::2]
    last = len(times_ns) - 1
    return int(np.max(times_ns[np.minimum(ends, last)] - times_ns[np.maximum(starts - 1, 0)]))


def _exposure_1d(trades: TradeLog, n: int) -> float:
    """Share of bars ending in the market: the union of the trades' [entry, exit) bar ranges, over n."""
    if len(trades.entry_bar) == 0:
        return 0.0
    order = np.argsort(trades.entry_bar, kind="stable")
    starts = trades.entry_bar[order]
    ends = np.where(trades.is_open, n, trades.exit_bar)[order]
    reach = np.maximum.accumulate(ends)  # trades can overlap (partial exits of one position)
    covered_before = np.concatenate(([0], reach[:-1]))
    return float(np.maximum(reach - np.maximum(starts, covered_before), 0).sum()) / n

"""The result of one backtest: metrics, the curves behind them, the trade list, a plot and a JSON summary.

Series carry the frame's UTC index again (the engine works on bare arrays); ``to_dict`` is what an API
or the marketplace stores, so it holds only JSON types: floats (``None`` for NaN), ISO 8601 timestamps
and durations, and the trade list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from alphabook.research.backtest.bars import Bars
from alphabook.research.backtest.engine import ColumnResult, TradeLog
from alphabook.research.backtest.metrics import Metrics, curves_1d, json_number, summarize

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["Report", "build_report"]

DIRECTION = pd.CategoricalDtype(["long", "short"])
NAT = np.datetime64("NaT", "ns").view(np.int64)


@dataclass(frozen=True, slots=True, repr=False)
class Report(Metrics):
    """Metrics (inherited fields) plus ``equity``, ``drawdown`` and ``returns`` series on the bars' index and
    ``trades``, one row per round trip (vectorbt's exit trades: with Targets, each reduction of a position is
    its own trade). Times are the open times of the bars the fills happened in; a trade still open at the
    end has ``is_open`` set, no exit, and pnl marked to the last close."""

    init_cash: float
    periods_per_year: float
    equity: pd.Series
    drawdown: pd.Series
    returns: pd.Series
    trades: pd.DataFrame
    prices: pd.DataFrame

    def __repr__(self) -> str:  # the generated one would print every series
        index = self.equity.index
        return (f"Report({index[0]:%Y-%m-%d %H:%M} to {index[-1]:%Y-%m-%d %H:%M} UTC, {len(index)} bars: "
                f"total_return={self.total_return:.2%}, sharpe={self.sharpe:.2f}, "
                f"max_drawdown={self.max_drawdown:.2%}, trades={self.num_trades}, "
                f"final_equity={self.final_equity:,.2f})")

    def plot(self) -> go.Figure:
        """Interactive Plotly figure: price with trade markers, equity, drawdown."""
        from alphabook.research.backtest.plotting import report_figure

        return report_figure(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: metrics, period, and trades."""
        summary: dict[str, Any] = {
            "start": self.equity.index[0].isoformat(),
            "end": self.equity.index[-1].isoformat(),
            "bars": len(self.equity),
            "init_cash": float(self.init_cash),
            "periods_per_year": float(self.periods_per_year),
        }
        for name, value in self.metrics_dict().items():
            summary[name] = value.isoformat() if isinstance(value, pd.Timedelta) else _json_scalar(value)
        names = list(self.trades.columns)
        columns = [_json_column(self.trades[name]) for name in names]
        summary["trades"] = [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]
        return summary


def build_report(bars: Bars, column: ColumnResult, init_cash: float, periods_per_year: float) -> Report:
    curves = curves_1d(column.fills, bars.close, init_cash)
    metrics = summarize(curves, column.fills, column.trades, bars, init_cash, periods_per_year)
    index = bars.index
    return Report(
        **metrics.metrics_dict(),
        init_cash=init_cash,
        periods_per_year=periods_per_year,
        equity=pd.Series(curves.equity, index=index, name="equity", copy=False),
        drawdown=pd.Series(curves.drawdown, index=index, name="drawdown", copy=False),
        returns=pd.Series(curves.returns, index=index, name="returns", copy=False),
        trades=_trade_frame(column.trades, bars.times_ns),
        prices=bars.frame,
    )


def _trade_frame(trades: TradeLog, times_ns: np.ndarray) -> pd.DataFrame:
    still_open = trades.is_open
    exit_ns = np.where(still_open, NAT, times_ns[trades.exit_bar])  # NaT for a trade that has not exited
    columns = {
        "entry_time": pd.DatetimeIndex(times_ns[trades.entry_bar].view("M8[ns]"), tz="UTC"),
        "exit_time": pd.DatetimeIndex(exit_ns.view("M8[ns]"), tz="UTC"),
        "entry_price": trades.entry_price,
        "exit_price": np.where(still_open, np.nan, trades.exit_price),
        "size": trades.size,
        "direction": pd.Categorical.from_codes((~trades.is_long).astype(np.int8), dtype=DIRECTION, validate=False),
        "pnl": trades.pnl,
        "return": trades.ret,
        "fees": trades.fees,
        "is_open": still_open,
    }
    frame = pd.DataFrame(columns, copy=False)
    frame.index.name = "trade"
    return frame


def _json_scalar(value: float | int) -> float | int | None:
    return value if isinstance(value, int) else json_number(value)


def _json_column(values: pd.Series) -> list[Any]:
    if values.dtype.kind == "M":
        return [None if pd.isna(time) else time.isoformat() for time in values]
    if values.dtype.kind == "f":
        return [json_number(value) for value in values.tolist()]
    return list(values.tolist())  # direction (categorical of str), is_open (bool)

"""The picture of a backtest, drawn with Plotly: price with trade markers, equity, drawdown.

Three stacked panels share the time axis so a drawdown lines up with the trades that caused it. Up to
``CANDLES_MAX_BARS`` bars the price is drawn as candles; beyond that as a WebGL close line, because
100k candles make a browser crawl. Times are handed to Plotly as naive UTC ``datetime64`` arrays: a
timezone-aware index would reach Plotly as an array of Timestamp objects, which it deep-copies one by one
(seconds for 100k bars). Plotly is imported here only, on first plot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

if TYPE_CHECKING:
    from alphabook.research.backtest.report import Report

__all__ = ["report_figure"]

CANDLES_MAX_BARS = 5_000
GREEN, RED, GREY, BLUE = "#2ca02c", "#d62728", "#7f7f7f", "#1f77b4"


def report_figure(report: Report) -> go.Figure:
    prices, trades = report.prices, report.trades
    times = _naive_utc(prices.index)
    figure = make_subplots(
        rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.03, row_heights=[0.55, 0.25, 0.2],
        subplot_titles=("Price", "Equity", "Drawdown"),
    )
    if len(prices) <= CANDLES_MAX_BARS:
        price_trace = go.Candlestick(
            x=times, open=prices["open"], high=prices["high"], low=prices["low"], close=prices["close"],
            name="price", showlegend=False,
        )
    else:
        price_trace = go.Scattergl(x=times, y=prices["close"], name="close", line={"color": GREY, "width": 1})
    figure.add_trace(price_trace, row=1, col=1)
    long_entry = trades["direction"] == "long"
    closed = ~trades["is_open"]
    for name, rows, symbol, color in (
        ("long entry", long_entry, "triangle-up", GREEN),
        ("short entry", ~long_entry, "triangle-down", RED),
    ):
        entries = trades[rows]
        figure.add_trace(_markers(name, entries["entry_time"], entries["entry_price"], symbol, color), row=1, col=1)
    exits = trades[closed]
    figure.add_trace(_markers("exit", exits["exit_time"], exits["exit_price"], "x", "black"), row=1, col=1)
    figure.add_trace(go.Scattergl(x=times, y=report.equity.to_numpy(), name="equity", line={"color": BLUE}),
                     row=2, col=1)
    figure.add_trace(
        go.Scattergl(x=times, y=report.drawdown.to_numpy(), name="drawdown", fill="tozeroy",
                     line={"color": RED, "width": 1}),
        row=3, col=1,
    )
    figure.update_yaxes(tickformat=".0%", row=3, col=1)
    figure.update_xaxes(rangeslider_visible=False)
    figure.update_xaxes(title_text="time (UTC)", row=3, col=1)
    figure.update_layout(height=800, hovermode="x unified", legend={"orientation": "h", "y": 1.04},
                         margin={"l": 60, "r": 20, "t": 60, "b": 40})
    return figure


def _naive_utc(times: pd.DatetimeIndex | pd.Series) -> np.ndarray:
    index = pd.DatetimeIndex(times)
    naive: np.ndarray = index.tz_convert(None).to_numpy()
    return naive


def _markers(name: str, times: pd.Series, prices: pd.Series, symbol: str, color: str) -> go.Scatter:
    return go.Scatter(x=_naive_utc(times), y=prices.to_numpy(), name=name, mode="markers",
                      marker={"symbol": symbol, "color": color, "size": 9, "line": {"width": 1, "color": "white"}})

"""The charts of the dashboards, drawn with Bokeh (which Panel renders natively): candles with overlays,
lines over time (equity, earnings), drawdown areas, and the small sparklines of the Explore cards.

Every function takes plain pandas data and returns a Bokeh figure; pages put them in ``pn.pane.Bokeh``.
Times are UTC and shown as such.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from bokeh.models import ColumnDataSource, HoverTool
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

UP, DOWN = "#26a69a", "#ef5350"
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


def candles(bars: pd.DataFrame, overlays: Mapping[str, pd.Series] | None = None, *, title: str = "",
            height: int = 380) -> figure:
    """OHLC candles of ``bars`` (a UTC DatetimeIndex and open/high/low/close) with each of ``overlays`` drawn on
    the price as a line (an indicator's output)."""
    frame = bars.rename_axis(None).copy()  # research frames name their index "time", the column added here
    frame["time"] = frame.index
    frame["color"] = [UP if close >= open_ else DOWN for open_, close in zip(frame["open"], frame["close"],
                                                                                strict=True)]
    source = ColumnDataSource(frame)
    plot = figure(x_axis_type="datetime", title=title, height=height, sizing_mode="stretch_width", tools=TOOLS,
                  active_scroll="wheel_zoom", x_axis_label="time (UTC)")
    width = _bar_width(frame.index)
    plot.segment("time", "high", "time", "low", color="color", source=source)
    bodies = plot.vbar("time", width, "open", "close", fill_color="color", line_color="color", source=source)
    plot.add_tools(HoverTool(renderers=[bodies], formatters={"@time": "datetime"},
                             tooltips=[("time", "@time{%F %H:%M}"), ("open", "@open"), ("high", "@high"),
                                       ("low", "@low"), ("close", "@close")]))
    for number, (name, series) in enumerate((overlays or {}).items()):
        plot.line(series.index, series.to_numpy(), legend_label=str(name), line_width=2,
                  color=Category10_10[number % 10])
    if overlays:
        plot.legend.location = "top_left"
        plot.legend.click_policy = "hide"
    return plot


def lines(series: Mapping[str, pd.Series], *, title: str = "", y_label: str = "", height: int = 260) -> figure:
    """Lines over time (equity, cash, earnings), one per entry of ``series``."""
    plot = figure(x_axis_type="datetime", title=title, height=height, sizing_mode="stretch_width", tools=TOOLS,
                  y_axis_label=y_label, x_axis_label="time (UTC)")
    for number, (name, values) in enumerate(series.items()):
        plot.line(values.index, values.to_numpy(), legend_label=str(name), line_width=2,
                  color=Category10_10[number % 10])
    if len(series) > 1:
        plot.legend.location = "top_left"
    elif plot.legend:
        plot.legend.visible = False
    return plot


def drawdown(equity: pd.Series, *, height: int = 160) -> figure:
    """How far below its running peak ``equity`` was, in percent (0 at every new high)."""
    peak = equity.cummax()
    percent = (equity / peak - 1.0) * 100.0
    plot = figure(x_axis_type="datetime", title="Drawdown", height=height, sizing_mode="stretch_width",
                  tools=TOOLS, y_axis_label="%")
    plot.varea(percent.index, percent.to_numpy(), 0.0, fill_color=DOWN, fill_alpha=0.4)
    return plot


def sparkline(values: pd.Series, *, width: int = 260, height: int = 40) -> figure:
    """A bare line for a card: the shape of a preview, no axes, no tools."""
    plot = figure(width=width, height=height, toolbar_location=None, tools="", x_axis_type="datetime",
                  min_border=0, outline_line_color=None)
    plot.axis.visible = False
    plot.grid.visible = False
    plot.line(values.index, values.to_numpy(), line_width=1.5, color="#1f6feb")
    return plot


def _bar_width(index: pd.Index) -> float:
    """Candle body width in milliseconds: 70% of the typical spacing between bars."""
    if len(index) < 2:
        return 60_000.0
    spacing = pd.Series(index).diff().median()
    return float(spacing.total_seconds() * 1000 * 0.7)

"""``ab.ai.strategy("buy BTC when RSI < 30 and MACD crosses above its signal")`` in a notebook.

The API does the work (:mod:`alphabook.ai.pipeline`: your model writes the code, the sandbox validates and
runs it, the backtester reports); this module asks for it over the SDK's HTTP client and shows the result
the way a notebook shows things: the code, the steps, the figures of the backtest and the Plotly chart.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, fields
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from alphabook.sdk.client import current

__all__ = ["GeneratedStrategy", "strategy"]

SHOWN_METRICS = ("total_return", "sharpe", "max_drawdown", "num_trades", "win_rate", "final_equity")


@dataclass(frozen=True)
class GeneratedStrategy:
    """What the assistant made of a sentence; ``code`` is untrusted (it came from a model): run it with the
    sandbox, as the assistant did, not with ``exec``."""

    sentence: str
    ok: bool
    code: str
    explanation: str
    provider: str
    model: str
    steps: list[dict[str, Any]]
    dataset: dict[str, Any]
    backtest: dict[str, Any] | None
    error: str | None
    _chart: dict[str, Any] | None

    @property
    def chart(self) -> go.Figure | None:
        """The backtest's price, equity and drawdown as a Plotly figure."""
        return pio.from_json(json.dumps(self._chart)) if self._chart else None

    def __repr__(self) -> str:
        verdict = "ok" if self.ok else f"failed: {self.error}"
        stats = ", ".join(f"{name}={self.backtest[name]}" for name in SHOWN_METRICS
                          if self.backtest and name in self.backtest)
        return (f"GeneratedStrategy({self.sentence!r}, {verdict}, by {self.provider}/{self.model}"
                f"{', ' + stats if stats else ''})")

    def _repr_html_(self) -> str:
        steps = "".join(f"<li>{'✓' if step['ok'] else '✗'} {html.escape(step['name'])}: "
                        f"{html.escape(str(step['detail']))}</li>" for step in self.steps)
        rows = "".join(f"<tr><th>{name}</th><td>{html.escape(str(self.backtest[name]))}</td></tr>"
                       for name in SHOWN_METRICS if self.backtest and name in self.backtest)
        figure = self.chart
        chart = figure.to_html(full_html=False, include_plotlyjs="cdn") if figure is not None else ""
        error = f"<p><b>{html.escape(self.error)}</b></p>" if self.error else ""
        where = html.escape(f"{self.dataset.get('symbol', '')} {self.dataset.get('timeframe', '')}")
        return (f"<div><h4>{html.escape(self.sentence)}</h4>{error}<p>{html.escape(self.explanation)}</p>"
                f"<ul>{steps}</ul><pre><code>{html.escape(self.code)}</code></pre><table>{rows}</table>"
                f"<p>{where}, answered by {html.escape(self.provider)} ({html.escape(self.model)})</p>{chart}</div>")


def strategy(sentence: str, *, provider: str = "alphabook", symbol: str | None = None,
             timeframe: str | None = None) -> GeneratedStrategy:
    """Turn ``sentence`` into a validated, backtested strategy with your AI providers (offline without any)."""
    body = current().post("/ai/strategy", {"sentence": sentence, "provider": provider, "symbol": symbol,
                                          "timeframe": timeframe})
    shown = {field.name: body[field.name] for field in fields(GeneratedStrategy) if field.name != "_chart"}
    return GeneratedStrategy(**shown, _chart=body["chart"])

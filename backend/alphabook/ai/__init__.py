"""The AI strategy assistant (#11): a sentence in, a validated and backtested strategy out.

Server side, :mod:`.router` picks a person's LLM provider (their own key, the platform's metered one, or the
offline :mod:`.providers.rules` parser), :mod:`.pipeline` turns the answer into code that only ever runs in
:mod:`alphabook.sandbox`, and :mod:`alphabook.research.backtest` reports on it. In a notebook,
``ab.ai.strategy("buy BTC when RSI < 30 and MACD crosses above its signal")`` asks the API for the same
(:mod:`alphabook.sdk.ai`), so this package's ``strategy`` is that SDK call, loaded on first use.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "strategy":
        from alphabook.sdk.ai import strategy

        return strategy
    raise AttributeError(f"module 'alphabook.ai' has no attribute {name!r}")

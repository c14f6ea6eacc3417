"""Research: the engine quants use from notebooks, and that the sandbox and marketplace reuse.

- :mod:`alphabook.research.data`: one OHLCV convention; bundled, file and ccxt sources; exact resampling.
- :mod:`alphabook.research.indicators`: ``compute(name, df, **params)`` over 247 indicators (TA-Lib first,
  pandas-ta-classic for the rest), and the ``indicator(df, **params)`` contract creators write to.
- :mod:`alphabook.research.backtest`: vectorbt backtests (Rust engine) with full reports, grids and a
  lookahead check; :mod:`alphabook.research.strategies` holds reference strategies.
- :mod:`alphabook.research.optimize`: optuna studies, walk-forward validation, the Deflated Sharpe Ratio
  and A/B comparison.

It is a plain library: no web, no database required (optuna studies may use one).
"""

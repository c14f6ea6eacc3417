"""Research: market data sources, indicators, backtests and optimisation (a pure library; issue #3)."""

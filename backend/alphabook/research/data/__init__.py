"""Market data for research: one OHLCV frame convention and the sources that produce it.

Every source returns the same frame (UTC index of bar open times named ``time``, float64
``open, high, low, close, volume``; see :mod:`.frame`), addressed by one symbol form
(``BINANCE:BTC/USDT``, ``NASDAQ:GOOG``; see :mod:`.symbols`) and ccxt's timeframe spelling
(``5m``, ``1h``, ``1d``, ``1w``, ``1M``). :func:`load` is the notebook entry point::

    from alphabook.research.data import load, CcxtSource
    goog = load("NASDAQ:GOOG", "1d")                       # bundled sample, offline
    btc = load("BINANCE:BTC/USDT", "1h", start, end, source=CcxtSource("binance"))
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from alphabook.research.data.base import Capabilities, DataSource
from alphabook.research.data.bundled import BundledSource
from alphabook.research.data.ccxt_source import CcxtSource, RetryPolicy
from alphabook.research.data.files import FileSource
from alphabook.research.data.frame import OHLCV_COLUMNS, empty_ohlcv, to_ohlcv, validate
from alphabook.research.data.resample import resample
from alphabook.research.data.symbols import Symbol, parse_symbol
from alphabook.research.data.timeframes import Timeframe, parse_timeframe

__all__ = [
    "OHLCV_COLUMNS",
    "BundledSource",
    "Capabilities",
    "CcxtSource",
    "DataSource",
    "FileSource",
    "RetryPolicy",
    "Symbol",
    "Timeframe",
    "empty_ohlcv",
    "load",
    "parse_symbol",
    "parse_timeframe",
    "resample",
    "to_ohlcv",
    "validate",
]


def load(
    symbol: str | Symbol,
    timeframe: str | Timeframe,
    start: datetime | None = None,
    end: datetime | None = None,
    source: DataSource | None = None,
) -> pd.DataFrame:
    """Bars of ``symbol`` opening in ``[start, end)`` from ``source`` (default: the offline :class:`BundledSource`).

    Same contract as :meth:`DataSource.fetch_bars`; without a source, a symbol that is not bundled raises
    InvalidInput listing the bundled ones, so nothing goes online unless a source that does is passed.
    """
    return (source or BundledSource()).fetch_bars(symbol, timeframe, start, end)

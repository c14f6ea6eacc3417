"""Real market data that works offline on a fresh machine: the samples the ``backtesting`` package ships.

backtesting.py (a test dependency and a common research install) carries three real series as CSV in
``backtesting/test``; serving them through the ``DataSource`` contract gives notebooks, docs and tests
real prices with no download. What the files hold (checked against the files and the package's docs):

- ``NASDAQ:GOOG`` 1d: Alphabet daily bars, 2004-08-19 (the IPO) to 2013-03-01, labelled by trading date
  at 00:00 UTC (the bar is a US session, not a UTC day).
- ``FX:EUR/USD`` 1h: hourly bars, 2017-04-19 to 2018-02-07; volume is tick volume, the file's times
  carry no zone and are taken as UTC.
- ``INDEX:BTC/USD`` 1M: monthly BTC/USD bars, 2012-01 to 2024-12, which the package calls "index data"
  without naming a venue. The file labels each month by its *last* day (2012-01-31 holds January);
  like every bundled bar it is relabelled to its open, so that month reads 2012-01-01.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar

import pandas as pd

from alphabook.core.errors import ConfigurationError
from alphabook.research.data.base import Capabilities, DataSource, catalog_entry, catalog_symbols
from alphabook.research.data.files import read_ohlcv_file
from alphabook.research.data.symbols import Symbol, parse_symbol
from alphabook.research.data.timeframes import Timeframe, parse_timeframe


@dataclass(frozen=True, slots=True)
class BundledDataset:
    symbol: Symbol
    timeframe: Timeframe
    file_name: str


DATASETS = (
    BundledDataset(parse_symbol("NASDAQ:GOOG"), parse_timeframe("1d"), "GOOG.csv"),
    BundledDataset(parse_symbol("FX:EUR/USD"), parse_timeframe("1h"), "EURUSD.csv"),
    BundledDataset(parse_symbol("INDEX:BTC/USD"), parse_timeframe("1M"), "BTCUSD.csv"),
)


class BundledSource(DataSource):
    """The ``backtesting`` package's sample series (see the module docstring), read once per process."""

    capabilities = Capabilities(
        timeframes=frozenset(str(dataset.timeframe) for dataset in DATASETS), needs_network=False
    )
    catalog: ClassVar[dict[tuple[Symbol, Timeframe], BundledDataset]] = {
        (dataset.symbol, dataset.timeframe): dataset for dataset in DATASETS
    }

    def __repr__(self) -> str:
        return "BundledSource()"

    def _bars(
        self, symbol: Symbol, timeframe: Timeframe, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        hint = " (FileSource and CcxtSource serve other symbols)"
        return _read(catalog_entry(self.catalog, symbol, timeframe, repr(self), hint))

    def symbols(self) -> list[Symbol]:
        return catalog_symbols(self.catalog)


@cache
def _read(dataset: BundledDataset) -> pd.DataFrame:
    try:
        import backtesting
    except ImportError as error:
        raise ConfigurationError("the bundled samples come with the 'backtesting' package: install it") from error
    frame = read_ohlcv_file(Path(backtesting.__file__).parent / "test" / dataset.file_name)
    frame.index = dataset.timeframe.floor(frame.index)
    return frame

"""Which bars a generated strategy is backtested on: the asset the sentence names, from offline data.

The bundled samples (:class:`~alphabook.research.data.BundledSource`) always exist: Alphabet daily, EUR/USD
hourly and BTC/USD monthly bars. An installation can add its own files (``ai_market_data_dir``, read by
:class:`~alphabook.research.data.FileSource`), which are preferred for the asset they hold (e.g. Binance BTC/USDT
5-minute bars). A person may also name the symbol and timeframe outright. Only the latest
``ai_backtest_max_bars`` bars are used, so a backtest stays quick.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from alphabook.core.config import Settings
from alphabook.research.data import BundledSource, DataSource, FileSource, load, parse_symbol, parse_timeframe
from alphabook.research.data.symbols import Symbol

__all__ = ["Dataset", "bars_for"]

BUNDLED = {"BTC": ("INDEX:BTC/USD", "1M"), "GOOG": ("NASDAQ:GOOG", "1d"), "EUR": ("FX:EUR/USD", "1h")}
DEFAULT = ("NASDAQ:GOOG", "1d")


@dataclass(frozen=True, slots=True)
class Dataset:
    symbol: str
    timeframe: str
    bars: pd.DataFrame
    note: str = ""  # said when the asset the sentence names has no offline bars


def bars_for(asset: str | None, settings: Settings, symbol: str | None = None,
             timeframe: str | None = None) -> Dataset:
    """The bars to backtest on; InvalidInput (from the data sources) for a symbol no offline source holds."""
    files = FileSource(settings.ai_market_data_dir) if settings.ai_market_data_dir else None
    wanted = parse_symbol(symbol) if symbol else None
    wanted_timeframe = str(parse_timeframe(timeframe)) if timeframe else None

    def fits(held: Symbol, held_timeframe: object) -> bool:
        if wanted is not None:
            return held == wanted and wanted_timeframe in (None, str(held_timeframe))
        return asset is not None and asset in {held.base, held.ticker}

    match = next(((held, held_timeframe) for held, held_timeframe in (files.files if files else {})
                  if fits(held, held_timeframe)), None)
    source: DataSource = BundledSource()
    note = ""
    if files is not None and match is not None:
        source, chosen = files, (str(match[0]), str(match[1]))
    elif wanted is not None:
        chosen = (str(wanted), wanted_timeframe or _bundled_timeframe(wanted))
    else:
        chosen = BUNDLED.get(asset or "", DEFAULT)
        if asset is not None and asset not in BUNDLED:
            note = f"there are no offline {asset} bars, so this is {chosen[0]}; "
    bars = load(chosen[0], chosen[1], source=source).iloc[-settings.ai_backtest_max_bars:]
    return Dataset(symbol=chosen[0], timeframe=chosen[1], bars=bars, note=note)


def _bundled_timeframe(symbol: Symbol) -> str:
    return next((timeframe for name, timeframe in BUNDLED.values() if parse_symbol(name) == symbol), "1d")

"""OHLCV bars from CSV or Parquet files: one file, or a folder whose file names say what each holds.

pandas reads the files (``read_csv``, gzip inferred from ``.gz``; ``read_parquet`` through pyarrow) and
:func:`~alphabook.research.data.frame.to_ohlcv` normalises whatever shape they have, so a file exported
by freqtrade, Yahoo Finance or backtesting.py loads without a converter.

Folder mode maps file names to symbols: ``<exchange>_<market>_<timeframe>.csv|.csv.gz|.parquet``, e.g.
``binance_BTCUSDT_5m.csv.gz`` -> ``BINANCE:BTC/USDT`` at ``5m`` and ``yahoo_ORCL_1d.csv.gz`` ->
``YAHOO:ORCL`` at ``1d`` (the names used in ../shared/data). The market is a pair when it ends in one of
the quote currencies in ``QUOTE_CURRENCIES`` (``BTCUSDT`` or ``BTC-USDT``), otherwise a ticker
(``ORCL``, ``BRK-B``). Other files in the folder are ignored. For a pair with another quote currency,
or any file named differently, use single-file mode and name the symbol and timeframe.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from alphabook.core.errors import InvalidInput
from alphabook.research.data.base import Capabilities, DataSource, catalog_entry, catalog_symbols
from alphabook.research.data.frame import to_ohlcv
from alphabook.research.data.symbols import Symbol, parse_symbol
from alphabook.research.data.timeframes import Timeframe, parse_timeframe

QUOTE_CURRENCIES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "DAI", "USD", "EUR", "GBP", "JPY", "TRY", "BTC", "ETH")
_FILE_NAME = re.compile(
    r"(?P<exchange>[A-Za-z0-9]+)_(?P<market>[A-Za-z0-9.\-]+)_(?P<timeframe>[0-9]+[smhdwM])\.(csv|csv\.gz|parquet)"
)
_SUFFIXES = (".csv", ".csv.gz", ".parquet")


def read_ohlcv_file(path: Path) -> pd.DataFrame:
    """Read one CSV (optionally gzipped) or Parquet file as a valid OHLCV frame; InvalidInput naming the file."""
    if not path.name.lower().endswith(_SUFFIXES):
        raise InvalidInput(f"{path}: only {list(_SUFFIXES)} files hold bars")
    try:
        raw = pd.read_parquet(path) if path.name.lower().endswith(".parquet") else pd.read_csv(path)
        return to_ohlcv(raw)
    except InvalidInput as error:
        raise InvalidInput(f"{path}: {error.detail}", **error.extra) from error
    except (OSError, ValueError) as error:
        raise InvalidInput(f"{path} cannot be read: {error}") from error


def symbol_from_file_name(name: str) -> tuple[Symbol, Timeframe] | None:
    """The symbol and timeframe a file name declares under the folder convention, or None if it declares none."""
    match = _FILE_NAME.fullmatch(name)
    if match is None:
        return None
    exchange, market = match["exchange"].upper(), match["market"].upper()
    for quote in QUOTE_CURRENCIES:
        base = market.removesuffix(quote).removesuffix("-")
        if market.endswith(quote) and base:
            return Symbol(exchange, base=base, quote=quote), parse_timeframe(match["timeframe"])
    return Symbol(exchange, ticker=market), parse_timeframe(match["timeframe"])


class FileSource(DataSource):
    """Bars from a folder of files named by the convention above, or from one file.

    ``FileSource(folder)`` scans the folder once, when it is created (create a new source to see new
    files); ``FileSource(file, symbol=..., timeframe=...)`` serves one file under the given names, which
    default to what the file's name declares. Each fetch re-reads the file, so edits show up at once.
    """

    def __init__(
        self, path: str | Path, *, symbol: str | Symbol | None = None, timeframe: str | Timeframe | None = None
    ) -> None:
        root = Path(path).expanduser()
        if root.is_dir():
            if symbol is not None or timeframe is not None:
                raise InvalidInput(f"{root} is a folder: symbol= and timeframe= name the bars of a single file")
            self.files = _scan(root)
        elif root.is_file():
            self.files = {_single_file_key(root, symbol, timeframe): root}
        else:
            raise InvalidInput(f"{root} does not exist: pass a CSV/Parquet file or a folder of them")
        self.path = root
        self.capabilities = Capabilities(
            timeframes=frozenset(str(held) for _, held in self.files), needs_network=False
        )

    def __repr__(self) -> str:
        return f"FileSource({str(self.path)!r})"

    def _bars(
        self, symbol: Symbol, timeframe: Timeframe, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        return read_ohlcv_file(catalog_entry(self.files, symbol, timeframe, repr(self)))

    def symbols(self) -> list[Symbol]:
        return catalog_symbols(self.files)


def _single_file_key(
    path: Path, symbol: str | Symbol | None, timeframe: str | Timeframe | None
) -> tuple[Symbol, Timeframe]:
    if symbol is not None and timeframe is not None:
        return parse_symbol(symbol), parse_timeframe(timeframe)
    declared = symbol_from_file_name(path.name)
    if declared is None:
        raise InvalidInput(
            f"{path.name} does not follow <exchange>_<market>_<timeframe>.csv: pass symbol= and timeframe="
        )
    return (
        parse_symbol(symbol) if symbol is not None else declared[0],
        parse_timeframe(timeframe) if timeframe is not None else declared[1],
    )


def _scan(folder: Path) -> dict[tuple[Symbol, Timeframe], Path]:
    files: dict[tuple[Symbol, Timeframe], Path] = {}
    for path in sorted(folder.iterdir()):
        declared = symbol_from_file_name(path.name) if path.is_file() else None
        if declared is None:
            continue
        if declared in files:
            symbol, timeframe = declared
            raise InvalidInput(f"{files[declared].name} and {path.name} both hold {symbol} {timeframe}: keep one")
        files[declared] = path
    return files

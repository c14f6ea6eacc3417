"""The ``DataSource`` plug-in point: where OHLCV bars come from, behind one written contract.

Notebooks, backtests and the scheduler ask a source for bars and get the same frame convention back
(:mod:`alphabook.research.data.frame`) whether the bars come from a package's sample files, a folder of
CSV/Parquet files or an exchange through ccxt. The argument checks, the half-open range rule and the
final validation live here once (``fetch_bars``); an implementation only finds the bars (``_bars``).
What a source can do is data on it (:class:`Capabilities`), as freqtrade describes exchanges, so callers
ask ``"5m" in source.capabilities.timeframes`` instead of testing its class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import pandas as pd

from alphabook.core.errors import InvalidInput
from alphabook.research.data.frame import bars_between, validate
from alphabook.research.data.symbols import Symbol, parse_symbol
from alphabook.research.data.timeframes import Timeframe, parse_timeframe

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a source serves: the timeframes it holds as stored bars, and whether it goes online."""

    timeframes: frozenset[str]
    needs_network: bool


class DataSource(ABC):
    """Where OHLCV bars come from.

    ``capabilities`` is set on the class when it is fixed (the bundled samples) and on the instance when
    it depends on construction (the files in a folder, the exchange's timeframes).
    """

    capabilities: Capabilities

    def fetch_bars(
        self,
        symbol: str | Symbol,
        timeframe: str | Timeframe,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        """Return the bars of ``symbol`` at ``timeframe`` that open in ``[start, end)``.

        Returns a frame that passes :func:`~alphabook.research.data.frame.validate`: UTC index of bar
        open times, float64 ``open, high, low, close, volume``. The range is half-open on bar *open*
        times: a bar opening exactly at ``start`` is included, one opening at ``end`` is not, and a bar
        that opened before ``start`` is excluded even if it was still running at ``start``. ``None``
        leaves a side unbounded (from the first bar the source has; up to its latest bar). A range
        holding no bars (``start == end``, a weekend, before a listing) returns an empty, valid frame.
        A source that goes online may include the still-forming latest bar, as exchanges do.

        Raises InvalidInput for text that is not a symbol or timeframe, a symbol the source does not
        have, a timeframe outside ``capabilities.timeframes`` (or not held for that symbol), naive
        ``start``/``end`` or ``start > end``; TemporaryError when a remote source stayed unreachable
        after retries; RejectedError when the remote refused the request.

        State: a pure read for local sources; a caching source may write downloaded bars to its cache.
        """
        parsed_symbol = parse_symbol(symbol)
        parsed_timeframe = parse_timeframe(timeframe)
        if str(parsed_timeframe) not in self.capabilities.timeframes:
            raise InvalidInput(
                f"{type(self).__name__} does not serve {parsed_timeframe} bars; it serves "
                f"{sorted(self.capabilities.timeframes)} (resample() builds coarser bars from finer ones)"
            )
        lower, upper = _utc("start", start), _utc("end", end)
        if lower is not None and upper is not None and lower > upper:
            raise InvalidInput(f"start {lower} is after end {upper}: swap them")
        bars = self._bars(parsed_symbol, parsed_timeframe, lower, upper)
        return validate(bars_between(bars, lower, upper))

    @abstractmethod
    def _bars(
        self, symbol: Symbol, timeframe: Timeframe, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        """The implementation's part of :meth:`fetch_bars`, called with parsed, checked arguments.

        Returns a valid OHLCV frame holding at least every bar that opens in ``[start, end)``; it may
        hold more (``fetch_bars`` trims). Raises InvalidInput for a symbol (or symbol and timeframe) the
        source does not have, naming what it does have when that list is short.
        """

    @abstractmethod
    def symbols(self) -> list[Symbol]:
        """Return the symbols this source can serve, in a stable order.

        Raises TemporaryError/RejectedError as ``fetch_bars`` does when the list comes from a remote
        (an exchange's markets). State: none, beyond what a remote client caches about itself.
        """


def _utc(name: str, moment: datetime | None) -> pd.Timestamp | None:
    if moment is None:
        return None
    if not isinstance(moment, datetime):
        raise InvalidInput(f"{name} must be a datetime (or None), not {type(moment).__name__}")
    if moment.tzinfo is None:
        raise InvalidInput(f"{name} {moment} is naive: pass an aware datetime, e.g. datetime(2024, 1, 1, tzinfo=UTC)")
    return pd.Timestamp(moment).tz_convert("UTC")


def catalog_entry(
    catalog: Mapping[tuple[Symbol, Timeframe], T], symbol: Symbol, timeframe: Timeframe, source: str, hint: str = ""
) -> T:
    """Look ``(symbol, timeframe)`` up in a local source's catalog; InvalidInput saying what it does hold."""
    if (symbol, timeframe) in catalog:
        return catalog[(symbol, timeframe)]
    held = sorted(str(other) for known, other in catalog if known == symbol)
    if held:
        raise InvalidInput(
            f"{source} holds {symbol} as {held} bars, not {timeframe} (resample() builds coarser bars from finer ones)"
        )
    raise InvalidInput(f"{source} has no {symbol}; it has {sorted({str(known) for known, _ in catalog})}{hint}")


def catalog_symbols(catalog: Mapping[tuple[Symbol, Timeframe], object]) -> list[Symbol]:
    """The distinct symbols of a catalog, sorted by their text."""
    return sorted({symbol for symbol, _ in catalog}, key=str)

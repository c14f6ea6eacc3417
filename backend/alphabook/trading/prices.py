"""The ``PriceFeed`` plug-in point: where the paper broker and the portfolio get prices, behind one contract.

The paper broker fills market orders at a feed's quote and resting orders against the bars the feed has
completed since it last looked; the portfolio marks open positions at the feed's last prices. Two real
implementations: :class:`ReplayFeed` plays any :class:`~alphabook.research.data.DataSource` (the bundled
samples, a folder of CSVs, ccxt's cached candles) as if it were happening now, so a demo trades offline,
and :class:`CcxtTickerFeed` asks a live exchange through ccxt for tickers and one-minute candles.

Every time a feed returns is on the application clock (:func:`alphabook.core.clock.utcnow`, aware UTC), a
replayed series included, so orders, fills, ``DAY`` expiry and equity history share one timeline. Symbols are
the broker's (ccxt's ``BTC/USDT``, a stock's ``GOOG``). Prices are ``Decimal``: a float coming from pandas or
ccxt is converted through its shortest ``repr``, which is the decimal the venue or the file wrote.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import ccxt
import numpy as np
import numpy.typing as npt
import pandas as pd

from alphabook.core.clock import utcnow
from alphabook.core.errors import InvalidInput, RejectedError, TemporaryError
from alphabook.research.data import BundledSource, DataSource
from alphabook.research.data.symbols import Symbol, parse_symbol
from alphabook.research.data.timeframes import Timeframe, parse_timeframe

__all__ = ["Bar", "CcxtTickerFeed", "PriceFeed", "Quote", "ReplayFeed", "ReplayMarket", "to_decimal"]


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """A number from pandas or ccxt as the decimal it was written as (``repr`` of a float is its shortest form)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float | np.floating):
        return Decimal(repr(float(value)))
    return Decimal(value)


@dataclass(frozen=True, slots=True)
class Quote:
    """The latest price of a symbol: what a market order would pay (``ask``) or get (``bid``) right now."""

    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    at: datetime  # when the price was made (a replayed bar's close, an exchange ticker's timestamp)
    volume: Decimal | None = None  # the latest bar's volume, for volume-based slippage; None when unknown


@dataclass(frozen=True, slots=True)
class Bar:
    """One completed bar, labelled by its open time; ``closes_at`` is the next bar's open."""

    symbol: str
    opened_at: datetime
    closes_at: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class PriceFeed(ABC):
    """Latest quotes and completed bars of the symbols a broker trades.

    Implementations are safe to share between threads; they cache what they can but never hold a database
    session, so callers may ask them for prices before taking a lock.
    """

    @abstractmethod
    def quote(self, symbol: str) -> Quote:
        """The latest quote of ``symbol`` as of :func:`~alphabook.core.clock.utcnow`.

        Raises RejectedError for a symbol the feed does not have (or has no price for yet: a replay that
        starts before its series); TemporaryError when a remote feed is unreachable or rate-limited.
        State: none, beyond the feed's own caches.
        """

    def price(self, symbol: str) -> Decimal:
        """The last traded price of ``symbol``; raises as :meth:`quote` does."""
        return self.quote(symbol).last

    @abstractmethod
    def bars_since(self, symbol: str, since: datetime) -> list[Bar]:
        """The bars of ``symbol`` that open at or after ``since`` and have closed by now, oldest first.

        A bar still forming is never returned, so matching an order against these bars never sees the
        future. ``since`` must be aware. Raises as :meth:`quote` does; InvalidInput for a naive ``since``.
        """

    @abstractmethod
    def symbols(self) -> list[str]:
        """The symbols the feed serves, sorted (for a live exchange: its spot markets)."""


def _aware(moment: datetime, name: str = "since") -> datetime:
    if moment.tzinfo is None:
        raise InvalidInput(f"{name} {moment} is naive: pass an aware UTC datetime")
    return moment.astimezone(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(moment: datetime) -> int:
    """Microseconds since the epoch, exact (no float on the way)."""
    delta = _aware(moment, "moment") - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_us(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


# --------------------------------------------------------------------------------------------------- replay


@dataclass(frozen=True, slots=True)
class ReplayMarket:
    """One replayed series: the source's symbol and timeframe, and the bar time the replay starts from."""

    source_symbol: str | Symbol
    timeframe: str | Timeframe
    start: datetime


@dataclass(frozen=True, slots=True)
class _Series:
    """A market's bars as arrays, with each bar's open and close already mapped onto the wall clock."""

    wall_opens: npt.NDArray[np.int64]  # µs since the epoch
    wall_closes: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]  # rows of open, high, low, close, volume


class ReplayFeed(PriceFeed):
    """Replays historic bars from any ``DataSource`` as if they were trading now.

    Each market's ``start`` (a bar time in the data) is pinned to the wall-clock moment ``anchor`` (default:
    when the feed is made) and the series then plays at ``speed`` bars' worth of time per unit of wall time
    (1: a daily bar per day; 288: a 5-minute bar per second). A bar that closes at data time ``c`` is
    served as closing at ``anchor + ceil((c - start) / speed)``, in whole microseconds, so the mapping is
    exact and monotone and a frozen test clock moves the replay deterministically. The quote is the close
    of the latest completed bar (``spread_bps`` around it gives a synthetic bid and ask); once the series
    runs out, the last close stays the quote.

    Bars are read once per market and kept in memory (from 30 bars before ``start``, so there is a price at
    the anchor); with a ccxt-backed source that first read downloads through its on-disk cache.
    """

    def __init__(self, source: DataSource, markets: Mapping[str, ReplayMarket], *, anchor: datetime | None = None,
                 speed: int = 1, spread_bps: Decimal = Decimal(0)) -> None:
        if not markets:
            raise InvalidInput("a ReplayFeed needs at least one market to replay")
        if isinstance(speed, bool) or not isinstance(speed, int) or speed < 1:
            raise InvalidInput(f"speed must be a whole number >= 1, not {speed!r}")
        if not isinstance(spread_bps, Decimal) or spread_bps < 0:
            raise InvalidInput(f"spread_bps must be a non-negative Decimal, not {spread_bps!r}")
        self.source = source
        self.markets = dict(markets)
        self.anchor = _aware(anchor if anchor is not None else utcnow(), "anchor")
        self.speed = speed
        self.spread_bps = spread_bps
        self._series: dict[str, _Series] = {}

    @classmethod
    def bundled(cls, *, anchor: datetime | None = None, speed: int = 1) -> ReplayFeed:
        """The offline demo feed: the ``backtesting`` package's samples (see :mod:`alphabook.research.data.bundled`)
        as ``GOOG`` (daily, from 2011), ``EUR/USD`` (hourly, from mid-2017) and ``BTC/USD`` (monthly, from 2017)."""
        markets = {
            "GOOG": ReplayMarket("NASDAQ:GOOG", "1d", datetime(2011, 1, 3, tzinfo=UTC)),
            "EUR/USD": ReplayMarket("FX:EUR/USD", "1h", datetime(2017, 6, 1, tzinfo=UTC)),
            "BTC/USD": ReplayMarket("INDEX:BTC/USD", "1M", datetime(2017, 1, 1, tzinfo=UTC)),
        }
        return cls(BundledSource(), markets, anchor=anchor, speed=speed)

    def __repr__(self) -> str:
        return f"ReplayFeed({self.source!r}, {sorted(self.markets)}, speed={self.speed})"

    def symbols(self) -> list[str]:
        return sorted(self.markets)

    def replay_time(self, symbol: str, at: datetime | None = None) -> datetime:
        """The data time of ``symbol``'s series that plays at wall time ``at`` (default: now)."""
        market = self._market(symbol)
        elapsed = _us(at if at is not None else utcnow()) - _us(self.anchor)
        return _from_us(_us(market.start) + elapsed * self.speed)

    def quote(self, symbol: str) -> Quote:
        series = self._load(symbol)
        now = _us(utcnow())
        last = int(np.searchsorted(series.wall_closes, now, side="right")) - 1
        if last < 0:
            raise RejectedError(f"No price for {symbol} yet: its replay has no bar closed by {_from_us(now)}.")
        close = to_decimal(series.values[last, 3])
        half_spread = close * self.spread_bps / Decimal(20_000)
        return Quote(symbol, bid=close - half_spread, ask=close + half_spread, last=close,
                     at=_from_us(int(series.wall_closes[last])), volume=to_decimal(series.values[last, 4]))

    def bars_since(self, symbol: str, since: datetime) -> list[Bar]:
        series = self._load(symbol)
        first = int(np.searchsorted(series.wall_opens, _us(_aware(since)), side="left"))
        end = int(np.searchsorted(series.wall_closes, _us(utcnow()), side="right"))
        return [
            Bar(symbol, _from_us(int(series.wall_opens[row])), _from_us(int(series.wall_closes[row])),
                *(to_decimal(value) for value in series.values[row]))
            for row in range(first, end)
        ]

    def _market(self, symbol: str) -> ReplayMarket:
        try:
            return self.markets[symbol]
        except KeyError:
            raise RejectedError(f"{symbol} is not replayed here; this feed has {self.symbols()}.") from None

    def _load(self, symbol: str) -> _Series:
        # Loading twice under a race is harmless (same data, last write wins), so no lock is needed.
        cached = self._series.get(symbol)
        if cached is not None:
            return cached
        market = self._market(symbol)
        timeframe = parse_timeframe(market.timeframe)
        start = pd.Timestamp(_aware(market.start, "start"))
        lookback = start - 30 * timeframe.nominal
        try:
            bars = self.source.fetch_bars(parse_symbol(market.source_symbol), timeframe, lookback.to_pydatetime())
        except InvalidInput as error:
            raise RejectedError(f"{symbol} cannot be replayed: {error.detail}") from error
        opens = bars.index.as_unit("us").asi8
        closes = timeframe.close(bars.index).as_unit("us").asi8
        start_us, anchor_us = _us(start.to_pydatetime()), _us(self.anchor)
        series = _Series(
            wall_opens=anchor_us - (start_us - opens) // self.speed,  # ceil((open - start) / speed)
            wall_closes=anchor_us - (start_us - closes) // self.speed,
            values=bars[["open", "high", "low", "close", "volume"]].to_numpy(dtype="float64"),
        )
        self._series[symbol] = series
        return series


# ----------------------------------------------------------------------------------------------------- ccxt


class CcxtTickerFeed(PriceFeed):
    """Live prices from an exchange through ccxt: ``fetch_ticker`` for quotes, ``fetch_ohlcv`` for bars.

    ``exchange`` is a constructed ccxt exchange (``ccxt.binance({...})``, sandbox mode as the caller set
    it). Bars are ``timeframe`` candles (default one minute), of which only completed ones are returned, so
    a resting order on the paper broker fills up to one candle after the market touched its price. A
    ticker without bid or ask (some venues omit them) quotes its last price on both sides. ccxt's errors
    map as in :class:`~alphabook.research.data.CcxtSource`: an unknown market is RejectedError, a network
    failure or rate limit TemporaryError (the caller retries: a feed does not sleep), anything else
    RejectedError.
    """

    def __init__(self, exchange: Any, *, timeframe: str = "1m", page_limit: int = 500) -> None:
        parsed = parse_timeframe(timeframe)
        if parsed.is_calendar:
            raise InvalidInput(f"CcxtTickerFeed needs fixed-length bars, not {parsed}")
        self.exchange = exchange
        self.timeframe = parsed
        self.page_limit = page_limit

    def __repr__(self) -> str:
        return f"CcxtTickerFeed({self.exchange.id!r}, timeframe={str(self.timeframe)!r})"

    def symbols(self) -> list[str]:
        markets = self._call(self.exchange.load_markets, "its market list")
        return sorted(symbol for symbol, market in markets.items() if market.get("spot"))

    def quote(self, symbol: str) -> Quote:
        ticker = self._call(lambda: self.exchange.fetch_ticker(symbol), f"the {symbol} ticker")
        last = ticker.get("last") if ticker.get("last") is not None else ticker.get("close")
        if last is None:
            raise TemporaryError(f"{self.exchange.id} sent a {symbol} ticker without a price; try again.")
        bid, ask = ticker.get("bid"), ticker.get("ask")
        stamp = ticker.get("timestamp")
        return Quote(symbol, bid=to_decimal(bid if bid else last), ask=to_decimal(ask if ask else last),
                     last=to_decimal(last), at=_from_us(int(stamp) * 1000) if stamp else utcnow())

    def bars_since(self, symbol: str, since: datetime) -> list[Bar]:
        since_ms = _us(_aware(since)) // 1000
        step_ms = int(self.timeframe.delta / pd.Timedelta(1, "ms"))
        now_ms = _us(utcnow()) // 1000
        bars: list[Bar] = []
        cursor = since_ms - since_ms % step_ms  # the candle containing ``since``; filtered below
        while cursor + step_ms <= now_ms:
            page = self._call(
                lambda start=cursor: self.exchange.fetch_ohlcv(symbol, str(self.timeframe), since=start,
                                                               limit=self.page_limit),
                f"{symbol} {self.timeframe} candles")
            rows = [row for row in page if row[0] >= cursor]
            for ts_ms, open_, high, low, close, volume in (row[:6] for row in rows):
                if ts_ms >= since_ms and ts_ms + step_ms <= now_ms:
                    bars.append(Bar(symbol, _from_us(ts_ms * 1000), _from_us((ts_ms + step_ms) * 1000),
                                    to_decimal(open_), to_decimal(high), to_decimal(low), to_decimal(close),
                                    to_decimal(volume or 0)))
            if len(rows) < self.page_limit:
                break
            cursor = int(rows[-1][0]) + step_ms
        return bars

    def _call(self, request: Any, what: str) -> Any:
        try:
            return request()
        except ccxt.BadSymbol as error:
            raise RejectedError(f"{self.exchange.id} has no market for {what}: {error}") from error
        except ccxt.OperationFailed as error:
            raise TemporaryError(f"{self.exchange.id} could not send {what}: {error}") from error
        except ccxt.BaseError as error:
            raise RejectedError(f"{self.exchange.id} refused {what}: {error}") from error

"""Bars from any exchange ccxt supports, downloaded once and then served from a Parquet cache.

ccxt speaks each exchange's protocol. Its ``fetch_ohlcv`` returns one page of candles from ``since``,
so a range is read page by page, each page starting one millisecond after the last bar received, and
ccxt's own rate limiter (``enableRateLimit``, on unless the config turns it off) spaces the requests
as the exchange asks. Failures are sorted by what should happen next: ccxt's retryable branch
(``OperationFailed``: NetworkError, RequestTimeout, ExchangeNotAvailable, DDoSProtection,
RateLimitExceeded) is retried with exponential backoff, waiting at least as long as a 429's
``Retry-After`` asks, and becomes TemporaryError when the attempts run out; BadSymbol becomes
InvalidInput and every other exchange error a RejectedError at once, since the same request would
fail again.

The cache (:mod:`alphabook.research.data.cache`) means each range is downloaded once: a request inside
the cached coverage makes no request at all, a wider one fetches only the missing parts. The
still-forming bar (the one open at :func:`alphabook.core.clock.utcnow`) is returned but never cached,
so a later call fetches its final values. tqdm shows a progress bar for downloads longer than two
seconds when ``progress=True``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import ccxt
import pandas as pd
from tqdm.auto import tqdm

from alphabook.core.clock import utcnow
from alphabook.core.errors import InvalidInput, RejectedError, TemporaryError
from alphabook.research.data.base import Capabilities, DataSource
from alphabook.research.data.cache import BarCache, CachedBars, CacheKey, Span, merge_spans, missing_spans
from alphabook.research.data.frame import OHLCV_COLUMNS, empty_ohlcv, to_ohlcv
from alphabook.research.data.symbols import Symbol
from alphabook.research.data.timeframes import Timeframe, parse_timeframe

R = TypeVar("R")
_EPOCH = pd.Timestamp(0, tz="UTC")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How patiently to retry a temporary failure: ``attempts`` tries, delays doubling from ``first_delay_s``."""

    attempts: int = 5
    first_delay_s: float = 1.0
    max_delay_s: float = 60.0

    def delay_s(self, attempt: int, retry_after_s: float | None) -> float:
        """The wait after failed try number ``attempt`` (from 1), at least the server's Retry-After."""
        backoff = self.first_delay_s * 2.0 ** (attempt - 1)
        return min(self.max_delay_s, max(backoff, retry_after_s or 0.0))


def retry_after_s(exchange: Any, error: Exception) -> float | None:
    """The Retry-After of the 429 that caused ``error`` on ``exchange`` (a ccxt client), if it was one."""
    if not isinstance(error, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return None
    value = (exchange.last_response_headers or {}).get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/alphabook/ohlcv``, i.e. ``~/.cache/alphabook/ohlcv`` on most machines."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "alphabook" / "ohlcv"


class CcxtSource(DataSource):
    """Spot bars of one exchange through ccxt, for symbols written ``<EXCHANGE ID>:BASE/QUOTE``.

    ``config`` is passed to the ccxt exchange constructor (deep-merged by ccxt with its defaults), e.g.
    ``{"urls": {"api": {"public": "http://127.0.0.1:8123/api/v3"}}}`` to talk to a local stand-in.
    """

    def __init__(
        self,
        exchange_id: str,
        *,
        config: Mapping[str, Any] | None = None,
        cache_dir: str | Path | None = None,
        progress: bool = False,
        retry: RetryPolicy | None = None,
    ) -> None:
        if exchange_id not in ccxt.exchanges:
            raise InvalidInput(f"ccxt has no exchange {exchange_id!r}: use an id from ccxt.exchanges, e.g. 'binance'")
        self.exchange_id = exchange_id
        self.exchange = getattr(ccxt, exchange_id)({"enableRateLimit": True, **(config or {})})
        if not self.exchange.has.get("fetchOHLCV"):
            raise InvalidInput(f"{exchange_id} publishes no candle history through ccxt: choose another exchange")
        self.cache = BarCache(Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir())
        self.progress = progress
        self.retry = retry or RetryPolicy()
        self.page_limit = _page_limit(self.exchange)
        self.capabilities = Capabilities(
            timeframes=frozenset(_understood(self.exchange.timeframes or {})), needs_network=True
        )

    def __repr__(self) -> str:
        return f"CcxtSource({self.exchange_id!r}, cache_dir={str(self.cache.root)!r})"

    def symbols(self) -> list[Symbol]:
        markets = self._call(self.exchange.load_markets, "its market list")
        found = set()
        for market in markets.values():
            try:
                if market.get("spot"):
                    found.add(Symbol(self.exchange_id.upper(), base=market["base"], quote=market["quote"]))
            except InvalidInput:  # a currency code outside the universal symbol form
                continue
        return sorted(found, key=str)

    def _bars(
        self, symbol: Symbol, timeframe: Timeframe, start: pd.Timestamp | None, end: pd.Timestamp | None
    ) -> pd.DataFrame:
        if symbol.exchange != self.exchange_id.upper():
            raise InvalidInput(f"{self!r} serves {self.exchange_id.upper()}:BASE/QUOTE symbols, not {symbol}")
        ccxt_symbol = symbol.ccxt_symbol
        forming = timeframe.floor(pd.DatetimeIndex([utcnow()]))[0]
        horizon = forming + timeframe.offset  # nothing opens after the forming bar
        wanted = Span(_EPOCH if start is None else start, horizon if end is None else min(end, horizon))
        key = CacheKey(self.exchange_id, symbol, timeframe)
        cached = self.cache.read(key)
        gaps = missing_spans(cached.coverage, wanted)
        if not gaps:
            return cached.bars
        bars = _combine(cached.bars, self._download(ccxt_symbol, timeframe, gaps))
        coverage = merge_spans(cached.coverage + [Span(gap.start, min(gap.end, forming)) for gap in gaps])
        self.cache.write(key, CachedBars(bars[bars.index < forming], coverage))
        return bars

    def _download(self, ccxt_symbol: str, timeframe: Timeframe, gaps: list[Span]) -> pd.DataFrame:
        expected = sum((gap.end - gap.start) // timeframe.nominal for gap in gaps)
        rows: list[list[Any]] = []
        description = f"{self.exchange_id} {ccxt_symbol} {timeframe}"
        with tqdm(total=expected, unit="bar", desc=description, disable=not self.progress, delay=2) as progress:
            for gap in gaps:
                rows.extend(self._download_span(ccxt_symbol, timeframe, gap, progress))
            progress.total = progress.n  # the history may end before the estimate did: finish at 100%
        if not rows:
            return empty_ohlcv()
        return to_ohlcv(pd.DataFrame(rows, columns=["ts_ms", *OHLCV_COLUMNS]))

    def _download_span(self, ccxt_symbol: str, timeframe: Timeframe, gap: Span, progress: Any) -> list[list[Any]]:
        """Every candle opening in ``gap``, page by page; each page starts just after the previous one's last bar."""
        since, end_ms = _ms(gap.start), _ms(gap.end)
        step_ms = timeframe.nominal // pd.Timedelta(1, "ms")
        rows: list[list[Any]] = []
        while since < end_ms:
            request = partial(
                self.exchange.fetch_ohlcv, ccxt_symbol, str(timeframe), since=since, limit=self.page_limit
            )
            page = [row for row in self._call(request, f"{ccxt_symbol} {timeframe} bars") if since <= row[0] < end_ms]
            if not page:
                break
            if not rows:  # history may begin after the gap does: stop promising bars before it
                progress.total -= (page[0][0] - since) // step_ms
            rows.extend(page)
            progress.update(len(page))
            last = pd.Timestamp(page[-1][0], unit="ms", tz="UTC")
            since = page[-1][0] + 1
            if _ms(last + timeframe.offset) >= end_ms:
                break
        return rows

    def _call(self, request: Callable[[], R], what: str) -> R:
        """Run one ccxt request, retrying temporary failures (see the module docstring for the mapping)."""
        attempt = 1
        while True:
            try:
                return request()
            except ccxt.BadSymbol as error:
                raise InvalidInput(f"{self.exchange_id} has no market for {what}: {error}") from error
            except ccxt.OperationFailed as error:
                if attempt >= self.retry.attempts:
                    raise TemporaryError(
                        f"{self.exchange_id} kept failing on {what} ({attempt} attempts): {error}", attempts=attempt
                    ) from error
                time.sleep(self.retry.delay_s(attempt, retry_after_s(self.exchange, error)))
                attempt += 1
            except ccxt.BaseError as error:
                raise RejectedError(f"{self.exchange_id} refused {what}: {error}") from error



def _combine(cached: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
    """Cached and freshly downloaded bars as one sorted frame; a fresh bar replaces a cached one."""
    parts = [part for part in (cached, fresh) if len(part)]
    if not parts:
        return empty_ohlcv()
    bars = pd.concat(parts)
    return bars[~bars.index.duplicated(keep="last")].sort_index()


def _understood(timeframes: Mapping[str, Any]) -> list[str]:
    """The exchange's timeframes that alphabook can parse (ccxt also lists some, like '1y', it cannot)."""
    understood = []
    for text in timeframes:
        try:
            understood.append(str(parse_timeframe(text)))
        except InvalidInput:
            continue
    return understood


def _page_limit(exchange: Any) -> int | None:
    """The most candles one request may ask for, from ccxt's ``features`` table; None lets ccxt choose."""
    features = (getattr(exchange, "features", None) or {}).get("spot") or {}
    limit = (features.get("fetchOHLCV") or {}).get("limit")
    return int(limit) if limit else None


def _ms(moment: pd.Timestamp) -> int:
    return int(moment.value) // 1_000_000  # Timestamp.value is in nanoseconds whatever its unit

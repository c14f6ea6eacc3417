"""A local stand-in for Binance's public spot REST API (the parts ccxt's ``binance`` calls for market data).

It speaks the real protocol, so the code under test runs the real ccxt client end to end:
``GET /api/v3/exchangeInfo`` lists the spot markets (what ``load_markets()`` reads), ``GET /api/v3/klines``
answers ``symbol, interval, startTime, endTime, limit`` with Binance's 12-field kline arrays built from
the OHLCV frames it was given (prices as decimal strings, as Binance sends them), ``GET /api/v3/ticker/24hr``
(what ccxt's ``fetch_ticker`` reads) quotes a symbol at the price a test set with ``set_ticker`` or else at its
last served close, and ``/api/v3/time`` and ``/api/v3/ping`` answer as Binance does. Errors carry Binance's JSON
body (``{"code": -1121, "msg": ...}``) so ccxt maps them to its own exception classes exactly as it would in
production.

Tests steer it through three knobs: ``page_limit`` (Binance caps a page at 1000 klines; a smaller cap
makes pagination cross page boundaries), ``inject(n, failure)`` (answer the n-th request, counting every
request from 1, with a 429 carrying ``Retry-After``, a 5xx or a permanent 400), and ``requests`` (a log
of every request's path and query, so a test can prove which ranges were downloaded).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pandas as pd

BINANCE_MAX_LIMIT = 1000
BINANCE_DEFAULT_LIMIT = 500
INTERVAL_MS = {
    "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
    "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000, "12h": 43_200_000,
    "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000,
}


@dataclass(frozen=True)
class Failure:
    """One canned error answer: HTTP status, Binance's JSON error body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """One injected failure: answer ``failure`` (before serving, or after when ``after_processing``), or only
    stall ``delay_s`` seconds (or until ``release`` is set) before an answer that was served."""

    failure: Failure | None
    method: str | None
    path: str
    after_processing: bool = False
    delay_s: float = 0.0
    release: threading.Event | None = None

    def stall(self) -> None:
        time.sleep(self.delay_s)
        if self.release is not None:
            self.release.wait(60)


class FaultInjection:
    """The failure knobs the trading venues' fakes share, matched by method and path prefix, used up in order."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self._faults_lock = threading.Lock()

    def fail(self, path: str, failure: Failure, *, method: str | None = None, times: int = 1,
             after_processing: bool = False) -> None:
        """Answer the next ``times`` requests to ``path`` with ``failure`` (after serving them, if asked)."""
        with self._faults_lock:
            self.faults.extend(Fault(failure, method, path, after_processing) for _ in range(times))

    def stall(self, path: str, seconds: float, *, method: str | None = None, times: int = 1) -> None:
        """Serve the next ``times`` requests to ``path`` but answer only after ``seconds``."""
        with self._faults_lock:
            self.faults.extend(Fault(None, method, path, True, seconds) for _ in range(times))

    def hold(self, path: str, *, method: str | None = None) -> threading.Event:
        """Serve the next request to ``path`` but answer only once the returned event is set (a venue slow to
        answer for as long as a test needs)."""
        release = threading.Event()
        with self._faults_lock:
            self.faults.append(Fault(None, method, path, True, 0.0, release))
        return release

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._faults_lock:
            for index, fault in enumerate(self.faults):
                if path.startswith(fault.path) and fault.method in (None, method):
                    return self.faults.pop(index)
        return None


def rate_limited(retry_after_s: int = 0) -> Failure:
    """Binance's answer when the request weight is exhausted (ccxt raises DDoSProtection)."""
    message = "Too much request weight used; current limit is 6000 request weight per 1 MINUTE."
    return Failure(429, {"code": -1003, "msg": message}, {"Retry-After": str(retry_after_s)})


def server_error(status: int = 503) -> Failure:
    """Binance's internal error (ccxt raises OperationFailed, a retryable error)."""
    return Failure(status, {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."})


def illegal_parameter() -> Failure:
    """A permanent refusal (ccxt raises BadRequest): retrying the same request cannot help."""
    return Failure(400, {"code": -1100, "msg": "Illegal characters found in parameter 'symbol'."})


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, str]

    @property
    def start_ms(self) -> int | None:
        return int(self.query["startTime"]) if "startTime" in self.query else None


class FakeBinance:
    """Serve ``bars[(unified symbol, interval)]`` (OHLCV frames, UTC index of bar opens) as Binance klines."""

    def __init__(self, bars: Mapping[tuple[str, str], pd.DataFrame], *, page_limit: int = BINANCE_MAX_LIMIT) -> None:
        self.bars = dict(bars)
        self.page_limit = page_limit
        self.requests: list[Request] = []
        self.failures: dict[int, Failure] = {}
        self.tickers: dict[str, tuple[float, float, float]] = {}  # symbol -> bid, ask, last
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeBinance:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def ccxt_config(self) -> dict[str, Any]:
        """ccxt constructor overrides that point ``ccxt.binance`` here (spot markets only, no throttle wait)."""
        return {
            "urls": {"api": {"public": f"{self.url}/api/v3"}},
            "options": {"fetchMarkets": {"types": ["spot"]}},
            "rateLimit": 1,
        }

    def inject(self, request_number: int, failure: Failure) -> None:
        """Answer the ``request_number``-th request (counting every request from 1) with ``failure``."""
        self.failures[request_number] = failure

    def klines_requests(self) -> list[Request]:
        return [request for request in self.requests if request.path == "/api/v3/klines"]

    def _record(self, request: Request) -> Failure | None:
        with self._lock:
            self.requests.append(request)
            return self.failures.get(len(self.requests))

    def _markets(self) -> dict[str, tuple[str, str]]:
        """Binance market id (``BTCUSDT``) -> (base, quote)."""
        pairs = {symbol for symbol, _ in self.bars}
        return {symbol.replace("/", ""): (symbol.split("/")[0], symbol.split("/")[1]) for symbol in pairs}

    def exchange_info(self) -> dict[str, Any]:
        symbols = [
            {
                "symbol": market_id, "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
                "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
                "orderTypes": ["LIMIT", "MARKET"], "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
                     "tickSize": "0.01000000"},
                    {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
                     "stepSize": "0.00001000"},
                ],
                "permissions": [], "permissionSets": [["SPOT"]],
            }
            for market_id, (base, quote) in sorted(self._markets().items())
        ]
        return {"timezone": "UTC", "serverTime": _now_ms(), "rateLimits": [], "exchangeFilters": [],
                "symbols": symbols}

    def klines(self, query: Mapping[str, str]) -> tuple[int, Any]:
        markets = self._markets()
        if query.get("symbol") not in markets:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        interval = query.get("interval", "")
        if interval not in INTERVAL_MS:
            return 400, {"code": -1120, "msg": "Invalid interval."}
        base, quote = markets[query["symbol"]]
        frame = self.bars.get((f"{base}/{quote}", interval))
        if frame is None:
            return 200, []
        limit = min(int(query.get("limit", BINANCE_DEFAULT_LIMIT)), BINANCE_MAX_LIMIT, self.page_limit)
        opens_ms = frame.index.as_unit("ms").asi8
        wanted = (opens_ms >= int(query.get("startTime", 0))) & (opens_ms <= int(query.get("endTime", 2**62)))
        rows = frame[wanted]
        # Binance pages forward from startTime; without it, it answers with the latest bars.
        rows = rows.iloc[:limit] if "startTime" in query else rows.iloc[-limit:]
        step = INTERVAL_MS[interval]
        return 200, [
            [open_ms, repr(bar.open), repr(bar.high), repr(bar.low), repr(bar.close), repr(bar.volume),
             open_ms + step - 1, repr(bar.volume * bar.close), 100, "0", "0", "0"]
            for open_ms, bar in zip(rows.index.as_unit("ms").asi8.tolist(), rows.itertuples(), strict=True)
        ]

    def set_ticker(self, symbol: str, *, last: float, bid: float | None = None, ask: float | None = None) -> None:
        """What ``/api/v3/ticker/24hr`` answers for ``symbol`` from now on (bid and ask default to ``last``)."""
        self.tickers[symbol] = (bid if bid is not None else last, ask if ask is not None else last, last)

    def ticker_24hr(self, query: Mapping[str, str]) -> tuple[int, Any]:
        """Binance's 24-hour ticker of one symbol (what ccxt's ``fetch_ticker`` reads): the price set with
        :meth:`set_ticker`, else the last close of the symbol's shortest served interval."""
        markets = self._markets()
        if query.get("symbol") not in markets:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        base, quote = markets[query["symbol"]]
        symbol = f"{base}/{quote}"
        if symbol not in self.tickers:
            interval = min((key[1] for key in self.bars if key[0] == symbol), key=INTERVAL_MS.__getitem__)
            close = float(self.bars[(symbol, interval)]["close"].iloc[-1])
            self.tickers[symbol] = (close, close, close)
        bid, ask, last = self.tickers[symbol]
        now = _now_ms()
        return 200, {"symbol": query["symbol"], "priceChange": "0", "priceChangePercent": "0",
                     "weightedAvgPrice": repr(last), "prevClosePrice": repr(last), "lastPrice": repr(last),
                     "lastQty": "1", "bidPrice": repr(bid), "bidQty": "1", "askPrice": repr(ask), "askQty": "1",
                     "openPrice": repr(last), "highPrice": repr(last), "lowPrice": repr(last), "volume": "0",
                     "quoteVolume": "0", "openTime": now - 86_400_000, "closeTime": now, "firstId": 0, "lastId": 0,
                     "count": 0}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        exchange = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {key: values[0] for key, values in parse_qs(url.query).items()}
                failure = exchange._record(Request(url.path, query))
                if failure is not None:
                    self._json(failure.status, failure.body, failure.headers)
                elif url.path == "/api/v3/exchangeInfo":
                    self._json(200, exchange.exchange_info())
                elif url.path == "/api/v3/klines":
                    self._json(*exchange.klines(query))
                elif url.path == "/api/v3/ticker/24hr":
                    self._json(*exchange.ticker_24hr(query))
                elif url.path == "/api/v3/time":
                    self._json(200, {"serverTime": _now_ms()})
                elif url.path == "/api/v3/ping":
                    self._json(200, {})
                else:
                    self._json(404, {"code": -1000, "msg": f"Unknown path {url.path}"})

        return Handler


def _now_ms() -> int:
    return int(pd.Timestamp.now(tz="UTC").timestamp() * 1000)

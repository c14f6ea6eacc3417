"""A local stand-in for Binance's signed spot trading API, built on the market-data fake in :mod:`.fake_exchange`.

It extends :class:`~tests.fakes.fake_exchange.FakeBinance` (public endpoints, ``inject`` and ``requests`` keep
working for its existing users) with the endpoints ccxt's ``binance`` calls to trade on spot:
``POST/GET/DELETE /api/v3/order``, ``GET /api/v3/openOrders``, ``/api/v3/allOrders``, ``/api/v3/myTrades`` and
``/api/v3/account``. They are checked as Binance checks them, so the real ccxt client runs end to end:

* ``X-MBX-APIKEY`` must be the fake's key (else 401, ``-2015``); ``signature`` must be the hex HMAC-SHA256,
  keyed by the secret, of the query string concatenated with the body, both without the ``signature``
  parameter (else ``-1022``); ``timestamp`` must lie within ``recvWindow`` (default 5000 ms, at most 60000) of
  the server's clock and not more than 1000 ms ahead of it (else ``-1021``).
* Orders: ``MARKET``, ``LIMIT``, ``STOP_LOSS``, ``STOP_LOSS_LIMIT``, ``TAKE_PROFIT``, ``TAKE_PROFIT_LIMIT`` with
  Binance's parameter rules (``timeInForce`` only and always for the limit kinds, ``-1106`` otherwise), its
  ``LOT_SIZE``/``PRICE_FILTER`` filters, ``newClientOrderId`` unique among *open* orders (a duplicate is
  ``-2010 "Duplicate order sent."``; Binance accepts the id again once the first order is final, so a caller
  that must not place twice has to look the id up first), a stop that would trigger at once refused with
  ``-2010 "Stop price would trigger immediately."``, and ``newOrderRespType`` ACK/RESULT/FULL.
* Balances move with fills (commission ``commission_rate`` of what is received, in the received asset) and
  resting orders lock what they may spend; an order the free balance cannot pay is ``-2010 "Account has
  insufficient balance for requested action."``.

Matching is a tiny price-driven model, one price per symbol set by the test with :meth:`set_price`: a MARKET
order fills in full at the price; a LIMIT order fills at once at the price if marketable, otherwise rests and
fills at its limit when the price crosses it; IOC/FOK limits that cannot fill at once expire (``EXPIRED``).
``STOP_LOSS`` buys trigger when the price rises to the stop and sells when it falls to it (``TAKE_PROFIT`` the
other way round); on triggering the order becomes a market or limit order as its name says.

Knobs for failures, matched by path (and method) and used up in order: ``fail(path, failure)`` answers with
``failure`` instead of serving; ``fail(..., after_processing=True)`` serves the request and then answers with the
failure (the reply was lost: the order exists); ``stall(path, seconds)`` serves the request and answers only
after ``seconds`` (a client with a shorter timeout gives up). Logs: ``trading_requests`` (method, path, params,
API key of every signed request) besides the parent's ``requests``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlparse

import ccxt
import pandas as pd

from tests.fakes.fake_exchange import FakeBinance, FaultInjection, Request

ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"]
SIGNED_PATHS = {"/api/v3/order", "/api/v3/openOrders", "/api/v3/allOrders", "/api/v3/myTrades", "/api/v3/account"}
CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
STEP = Decimal("0.00001")  # the LOT_SIZE stepSize and PRICE_FILTER tickSize the parent's exchangeInfo lists
TICK = Decimal("0.01")
_LIMIT_KINDS = {"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"}
_STOP_KINDS = {"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"}
_FINAL = {"FILLED", "CANCELED", "EXPIRED", "REJECTED"}


class BinanceError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def insufficient_balance() -> BinanceError:
    return BinanceError(400, -2010, "Account has insufficient balance for requested action.")


def mandatory(name: str) -> BinanceError:
    return BinanceError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")



@dataclass(frozen=True)
class SignedRequest:
    method: str
    path: str
    params: dict[str, str]
    api_key: str | None


@dataclass
class Order:
    order_id: int
    client_order_id: str
    symbol: str  # Binance's market id, "BTCUSDT"
    side: str
    type: str
    time_in_force: str | None
    quantity: Decimal
    price: Decimal  # 0 when the type has none, as Binance reports it
    stop_price: Decimal
    time_ms: int
    status: str = "NEW"
    executed: Decimal = Decimal(0)
    quote_executed: Decimal = Decimal(0)
    update_ms: int = 0
    triggered: bool = False
    reserved: Decimal = Decimal(0)  # locked quote (buys) or base (sells)
    trade_ids: list[int] = field(default_factory=list)


class FakeBinanceTrading(FakeBinance, FaultInjection):
    """Binance spot with one account: ``prices`` per unified symbol (the markets) and starting ``balances``."""

    def __init__(
        self,
        prices: Mapping[str, Decimal],
        balances: Mapping[str, Decimal],
        *,
        api_key: str = "fake-binance-key",
        secret: str = "fake-binance-secret",
        commission_rate: Decimal = Decimal("0.001"),
        bars: Mapping[tuple[str, str], pd.DataFrame] | None = None,
    ) -> None:
        super().__init__(bars or {})
        self.prices = dict(prices)
        self.api_key, self.secret, self.commission_rate = api_key, secret, commission_rate
        self.free: dict[str, Decimal] = dict(balances)
        self.locked: dict[str, Decimal] = {}
        self.orders: dict[int, Order] = {}
        self.trades: list[dict[str, Any]] = []
        self.trading_requests: list[SignedRequest] = []
        FaultInjection.__init__(self)
        self.errors: list[Exception] = []  # the fake's own failures: a test ends by checking it is empty
        self._ids = itertools.count(1)
        self._trade_ids = itertools.count(1001)
        self._state = threading.RLock()

    # --- knobs ------------------------------------------------------------------------------------------

    def ccxt_config(self) -> dict[str, Any]:
        """ccxt constructor overrides: public and private spot endpoints here, no currency list, no throttle."""
        config = super().ccxt_config()
        config["options"] = {**config["options"], "fetchCurrencies": False, "fetchMargins": False}
        return config

    def urls(self) -> dict[str, Any]:
        """Every Binance API ccxt knows, pointed here: spot at ``/api/v3``, the rest at paths this fake refuses
        (so a stray request fails here instead of reaching the real Binance)."""
        apis = {name: f"{self.url}/unserved/{name}" for name in ccxt.binance().urls["api"]}
        return {"api": {**apis, "public": f"{self.url}/api/v3", "private": f"{self.url}/api/v3"}}

    def set_price(self, symbol: str, price: Decimal) -> None:
        """Move the last price of ``symbol`` (unified, "BTC/USDT"); resting orders it crosses trigger and fill."""
        with self._state:
            self.prices[symbol] = price
            market_id = symbol.replace("/", "")
            for order in sorted(self.orders.values(), key=lambda o: o.order_id):
                if order.symbol == market_id and order.status in ("NEW", "PARTIALLY_FILLED"):
                    self._match(order, placing=False)

    def orders_placed(self) -> int:
        return len(self.orders)

    # --- protocol -----------------------------------------------------------------------------------------

    def _markets(self) -> dict[str, tuple[str, str]]:
        markets = super()._markets()
        for symbol in self.prices:
            base, quote = symbol.split("/")
            markets[base + quote] = (base, quote)
        return markets

    def exchange_info(self) -> dict[str, Any]:
        info = super().exchange_info()
        for market in info["symbols"]:
            market["orderTypes"] = list(ORDER_TYPES)
        return info

    def serve_signed(self, method: str, path: str, query: str, body: str,
                     headers: Mapping[str, str]) -> tuple[int, Any, dict[str, str]]:
        payload_q, signature_q = _without_signature(query)
        payload_b, signature_b = _without_signature(body)
        params = dict(parse_qsl(payload_q + ("&" if payload_q and payload_b else "") + payload_b,
                                keep_blank_values=True))
        api_key = headers.get("X-MBX-APIKEY")
        self.trading_requests.append(SignedRequest(method, path, params, api_key))
        parent_failure = self._record(Request(path, params))
        if parent_failure is not None:
            return parent_failure.status, parent_failure.body, parent_failure.headers
        fault = self._take_fault(method, path)
        if fault is not None and not fault.after_processing:
            assert fault.failure is not None
            return fault.failure.status, fault.failure.body, fault.failure.headers
        try:
            self._authenticate(api_key, payload_q + payload_b, signature_q or signature_b, params)
            with self._state:
                status, answer = 200, self._route(method, path, params)
        except BinanceError as error:
            status, answer = error.status, {"code": error.code, "msg": error.msg}
        except Exception as error:  # a bug in the fake: answer, and keep it for the test to fail on
            self.errors.append(error)
            status, answer = 500, {"code": -1000, "msg": f"fake error: {error!r}"}
        if fault is not None:
            fault.stall()
            if fault.failure is not None:
                return fault.failure.status, fault.failure.body, fault.failure.headers
        return status, answer, {}

    def _authenticate(self, api_key: str | None, payload: str, signature: str | None,
                      params: Mapping[str, str]) -> None:
        if api_key != self.api_key:
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        if not signature:
            raise mandatory("signature")
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature.lower(), expected):
            raise BinanceError(400, -1022, "Signature for this request is not valid.")
        if not params.get("timestamp", "").isdigit():
            raise mandatory("timestamp")
        recv_window = int(params.get("recvWindow") or 5000)
        if recv_window > 60_000:
            raise BinanceError(400, -1131, "recvWindow must be less than 60000")
        now, stamp = _now_ms(), int(params["timestamp"])
        if stamp > now + 1000:
            raise BinanceError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now - stamp > recv_window:
            raise BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")

    def _route(self, method: str, path: str, params: Mapping[str, str]) -> Any:
        if (method, path) == ("POST", "/api/v3/order"):
            return self._new_order(params)
        if (method, path) == ("GET", "/api/v3/order"):
            return _order_json(self._find(params, -2013, "Order does not exist."))
        if (method, path) == ("DELETE", "/api/v3/order"):
            return self._cancel(params)
        if (method, path) == ("GET", "/api/v3/openOrders"):
            symbol = params.get("symbol")
            if symbol is not None:
                self._market(symbol)
            return [_order_json(o) for o in self._sorted() if o.status in ("NEW", "PARTIALLY_FILLED")
                    and symbol in (None, o.symbol)]
        if (method, path) == ("GET", "/api/v3/allOrders"):
            symbol = self._market(params.get("symbol"))
            limit = min(int(params.get("limit", 500)), 1000)
            chosen = [o for o in self._sorted() if o.symbol == symbol and o.order_id >= int(params.get("orderId", 0))
                      and int(params.get("startTime", 0)) <= o.time_ms <= int(params.get("endTime", 2**62))]
            # from orderId or startTime on, the first ones; otherwise the most recent, as Binance pages
            chosen = chosen[:limit] if "orderId" in params or "startTime" in params else chosen[-limit:]
            return [_order_json(o) for o in chosen]
        if (method, path) == ("GET", "/api/v3/myTrades"):
            symbol = self._market(params.get("symbol"))
            wanted = params.get("orderId")
            return [t for t in self.trades if t["symbol"] == symbol and wanted in (None, str(t["orderId"]))]
        if (method, path) == ("GET", "/api/v3/account"):
            return self._account(params)
        raise BinanceError(404, -1000, f"Unknown path {method} {path}")

    # --- orders -------------------------------------------------------------------------------------------

    def _new_order(self, params: Mapping[str, str]) -> dict[str, Any]:
        market_id = self._market(params.get("symbol"))
        side, kind = params.get("side"), params.get("type")
        if side not in ("BUY", "SELL"):
            raise mandatory("side")
        if kind not in ORDER_TYPES or kind == "LIMIT_MAKER":
            raise BinanceError(400, -1116, "Invalid orderType.")
        quantity = _decimal(params, "quantity", required=True)
        price = _decimal(params, "price", required=kind in _LIMIT_KINDS)
        stop = _decimal(params, "stopPrice", required=kind in _STOP_KINDS)
        tif = params.get("timeInForce")
        if kind in _LIMIT_KINDS and tif not in ("GTC", "IOC", "FOK"):
            raise mandatory("timeInForce")
        if kind not in _LIMIT_KINDS and tif is not None:
            raise BinanceError(400, -1106, "Parameter 'timeInForce' sent when not required.")
        if kind not in _LIMIT_KINDS and price:
            raise BinanceError(400, -1106, "Parameter 'price' sent when not required.")
        if quantity <= 0 or quantity % STEP:
            raise BinanceError(400, -1013, "Filter failure: LOT_SIZE")
        if any(value % TICK for value in (price, stop)):
            raise BinanceError(400, -1013, "Filter failure: PRICE_FILTER")
        client_id = params.get("newClientOrderId") or f"fake{next(self._ids)}{int(time.time() * 1000)}"
        if not CLIENT_ID.match(client_id):
            raise BinanceError(400, -1100, "Illegal characters found in parameter 'newClientOrderId'; legal range "
                                           "is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.")
        if any(o.client_order_id == client_id and o.status not in _FINAL for o in self.orders.values()):
            raise BinanceError(400, -2010, "Duplicate order sent.")
        now_price = self._price(market_id)
        order = Order(next(self._ids), client_id, market_id, side, kind, tif if kind in _LIMIT_KINDS else None,
                      quantity, price, stop, _now_ms())
        order.update_ms = order.time_ms
        if kind in _STOP_KINDS and _stop_reached(order, now_price):
            raise BinanceError(400, -2010, "Stop price would trigger immediately.")
        base, quote = self._markets()[market_id]
        if side == "BUY":
            order.reserved = quantity * (price or stop or now_price)
            self._reserve(quote, order.reserved)
        else:
            order.reserved = quantity
            self._reserve(base, quantity)
        self.orders[order.order_id] = order
        self._match(order, placing=True)
        return self._order_response(order, params.get("newOrderRespType") or
                                    ("FULL" if kind in ("MARKET", "LIMIT") else "ACK"))

    def _match(self, order: Order, *, placing: bool) -> None:
        price_now = self._price(order.symbol)
        just_triggered = False
        if order.type in _STOP_KINDS and not order.triggered:
            if not _stop_reached(order, price_now):
                return
            order.triggered = just_triggered = True
        taker = placing or just_triggered
        if order.type in ("MARKET", "STOP_LOSS", "TAKE_PROFIT"):
            self._fill(order, price_now)
        elif (price_now <= order.price) if order.side == "BUY" else (price_now >= order.price):
            self._fill(order, price_now if taker else order.price)
        elif taker and order.time_in_force in ("IOC", "FOK"):
            self._finish(order, "EXPIRED")

    def _fill(self, order: Order, price: Decimal) -> None:
        base, quote = self._markets()[order.symbol]
        quantity = order.quantity - order.executed
        cost = quantity * price
        received_asset, received = (base, quantity) if order.side == "BUY" else (quote, cost)
        commission = received * self.commission_rate
        if order.side == "BUY":
            self.locked[quote] -= order.reserved
            if self.free.get(quote, Decimal(0)) + order.reserved < cost:  # a stop bought above its stop price
                self.locked[quote] += order.reserved
                self._finish(order, "EXPIRED")
                return
            self.free[quote] = self.free.get(quote, Decimal(0)) + order.reserved - cost
        else:
            self.locked[base] -= order.reserved
        order.reserved = Decimal(0)
        self.free[received_asset] = self.free.get(received_asset, Decimal(0)) + received - commission
        trade_id = next(self._trade_ids)
        now = _now_ms()
        self.trades.append({
            "symbol": order.symbol, "id": trade_id, "orderId": order.order_id, "orderListId": -1,
            "price": _s(price), "qty": _s(quantity), "quoteQty": _s(cost), "commission": _s(commission),
            "commissionAsset": received_asset, "time": now, "isBuyer": order.side == "BUY", "isMaker": False,
            "isBestMatch": True,
        })
        order.trade_ids.append(trade_id)
        order.executed += quantity
        order.quote_executed += cost
        order.status, order.update_ms = "FILLED", now

    def _finish(self, order: Order, status: str) -> None:
        base, quote = self._markets()[order.symbol]
        asset = quote if order.side == "BUY" else base
        self.locked[asset] -= order.reserved
        self.free[asset] = self.free.get(asset, Decimal(0)) + order.reserved
        order.reserved = Decimal(0)
        order.status, order.update_ms = status, _now_ms()

    def _cancel(self, params: Mapping[str, str]) -> dict[str, Any]:
        order = self._find(params, -2011, "Unknown order sent.")
        if order.status in _FINAL:
            raise BinanceError(400, -2011, "Unknown order sent.")
        self._finish(order, "CANCELED")
        answer = _order_json(order)
        answer["origClientOrderId"] = order.client_order_id
        answer["clientOrderId"] = params.get("newClientOrderId") or f"cancel{order.order_id}"  # as Binance does
        answer["transactTime"] = order.update_ms
        return answer

    def _find(self, params: Mapping[str, str], code: int, message: str) -> Order:
        market_id = self._market(params.get("symbol"))
        order_id, client_id = params.get("orderId"), params.get("origClientOrderId")
        if not order_id and not client_id:
            raise BinanceError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were "
                                           "empty/null!")
        for order in sorted(self.orders.values(), key=lambda o: -o.order_id):  # the latest with a reused client id
            if order.symbol == market_id and (str(order.order_id) == order_id if order_id
                                              else order.client_order_id == client_id):
                return order
        raise BinanceError(400, code, message)

    def _order_response(self, order: Order, kind: str) -> dict[str, Any]:
        ack = {"symbol": order.symbol, "orderId": order.order_id, "orderListId": -1,
               "clientOrderId": order.client_order_id, "transactTime": order.time_ms}
        if kind == "ACK":
            return ack
        result = {**ack, **{k: v for k, v in _order_json(order).items()
                            if k not in ("time", "updateTime", "isWorking", "stopPrice", "icebergQty")}}
        if kind == "FULL":
            result["fills"] = [{"price": t["price"], "qty": t["qty"], "commission": t["commission"],
                                "commissionAsset": t["commissionAsset"], "tradeId": t["id"]}
                               for t in self.trades if t["id"] in order.trade_ids]
        return result

    # --- account ------------------------------------------------------------------------------------------

    def _account(self, params: Mapping[str, str]) -> dict[str, Any]:
        assets = sorted(set(self.free) | set(self.locked))
        balances = [{"asset": a, "free": _s(self.free.get(a, Decimal(0))), "locked": _s(self.locked.get(a, Decimal(0)))}
                    for a in assets]
        if params.get("omitZeroBalances") == "true":
            balances = [b for b in balances if Decimal(b["free"]) or Decimal(b["locked"])]
        return {"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
                "commissionRates": {"maker": _s(self.commission_rate), "taker": _s(self.commission_rate),
                                    "buyer": "0.00000000", "seller": "0.00000000"},
                "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
                "requireSelfTradePrevention": False, "preventSor": False, "updateTime": _now_ms(),
                "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": 354937868}

    def _reserve(self, asset: str, amount: Decimal) -> None:
        if self.free.get(asset, Decimal(0)) < amount:
            raise insufficient_balance()
        self.free[asset] -= amount
        self.locked[asset] = self.locked.get(asset, Decimal(0)) + amount

    def _market(self, market_id: str | None) -> str:
        if not market_id:
            raise mandatory("symbol")
        if market_id not in self._markets():
            raise BinanceError(400, -1121, "Invalid symbol.")
        return market_id

    def _price(self, market_id: str) -> Decimal:
        base, quote = self._markets()[market_id]
        return self.prices[f"{base}/{quote}"]

    def _sorted(self) -> list[Order]:
        return sorted(self.orders.values(), key=lambda o: o.order_id)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        public: Any = super()._handler()
        fake = self

        class Handler(public):  # type: ignore[misc, valid-type]
            def do_GET(self) -> None:
                if urlparse(self.path).path in SIGNED_PATHS:
                    self._signed("GET")
                else:
                    super().do_GET()

            def do_POST(self) -> None:
                self._signed("POST")

            def do_DELETE(self) -> None:
                self._signed("DELETE")

            def _signed(self, method: str) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                self._json(*fake.serve_signed(method, url.path, url.query, body, self.headers))

        return Handler


def _order_json(order: Order) -> dict[str, Any]:
    """An order as ``GET /api/v3/order`` shows it."""
    return {
        "symbol": order.symbol, "orderId": order.order_id, "orderListId": -1, "clientOrderId": order.client_order_id,
        "price": _s(order.price), "origQty": _s(order.quantity), "executedQty": _s(order.executed),
        "cummulativeQuoteQty": _s(order.quote_executed), "status": order.status,
        "timeInForce": order.time_in_force or "GTC", "type": order.type, "side": order.side,
        "stopPrice": _s(order.stop_price), "icebergQty": "0.00000000", "time": order.time_ms,
        "updateTime": order.update_ms, "isWorking": order.type not in _STOP_KINDS or order.triggered,
        "workingTime": order.time_ms if order.type not in _STOP_KINDS or order.triggered else -1,
        "origQuoteOrderQty": "0.00000000", "selfTradePreventionMode": "EXPIRE_MAKER",
    }


def _stop_reached(order: Order, price: Decimal) -> bool:
    rising = (order.side == "BUY") == order.type.startswith("STOP_LOSS")  # buy stops and sell take-profits
    return price >= order.stop_price if rising else price <= order.stop_price


def _without_signature(raw: str) -> tuple[str, str | None]:
    """``raw`` without its ``signature=`` parameter (the bytes that were signed), and the signature."""
    kept, signature = [], None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part.partition("=")[2]
        else:
            kept.append(part)
    return "&".join(kept), signature


def _decimal(params: Mapping[str, str], name: str, *, required: bool) -> Decimal:
    text = params.get(name)
    if not text:
        if required:
            raise mandatory(name)
        return Decimal(0)
    try:
        return Decimal(text)
    except ArithmeticError:
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.") from None


def _s(value: Decimal) -> str:
    return f"{value:.8f}"


def _now_ms() -> int:
    return int(time.time() * 1000)

"""Orders on any exchange ccxt supports, behind the :class:`~alphabook.trading.brokers.base.Broker` contract.

ccxt speaks each venue's protocol; this adapter adds what the contract promises on top of it:

* **Capabilities are read from ccxt's data**, not from the exchange's class: ``exchange.has`` and the per-market
  ``exchange.features`` table say whether trigger prices (stop and stop-limit orders) and IOC are accepted.
  Stops are sent with ccxt's unified ``triggerPrice`` parameter (Binance spot turns it into ``STOP_LOSS`` /
  ``STOP_LOSS_LIMIT``), IOC with ``timeInForce``; a request outside the capabilities is refused before anything
  is sent. ``live`` is ``not sandbox``: ``sandbox=True`` calls ccxt's ``set_sandbox_mode(True)`` (the venue's
  testnet), and ``urls`` may then point the client anywhere (tests point it at a local fake).
* **Exact numbers.** Quantities and prices go out as ccxt's ``amount_to_precision``/``price_to_precision``
  strings, and a value the venue's step would change is refused rather than silently rounded. ccxt's answers
  (floats or strings) come back through ``str`` into ``Decimal``.
* **Exactly once.** Our ``client_order_id`` travels as ccxt's unified ``clientOrderId`` (Binance's
  ``newClientOrderId``). Many venues, Binance among them, only refuse a client id while its first order is
  *open*, so :meth:`CcxtBroker.place` first looks the id up and returns the existing order if there is one.
  When sending fails in a way that leaves the outcome unknown (a timeout, a 5xx), it looks the id up again
  before resending under the same id, at most ``retry.attempts`` times; then it raises ``TemporaryError``.
* **Finding an order by our id** uses the venue's own lookup where ccxt can pass it (``fetchOrder`` with
  ``clientOrderId``: ``has["fetchOrderWithClientOrderId"]`` or the venues in :data:`CLIENT_ID_LOOKUP`, e.g.
  Binance's ``origClientOrderId``), and otherwise scans ``fetch_orders`` (or open plus closed and cancelled
  orders), which only sees as far back as the venue lists orders.
* **Errors.** ccxt's retryable branch (``OperationFailed``: NetworkError, RequestTimeout, DDoSProtection,
  RateLimitExceeded, ExchangeNotAvailable, OnMaintenance, and 5xx answers) is retried with backoff for reads
  and cancels (honouring a 429's ``Retry-After``) and becomes ``TemporaryError``; ccxt's InsufficientFunds
  becomes our :class:`InsufficientFunds`; every other ccxt error (InvalidOrder, BadSymbol, OrderNotFound,
  AuthenticationError, PermissionDenied, ExchangeError) is the venue's final word, a ``RejectedError``.

Fills are ccxt's trades of the order: the ones in the placement answer (Binance's FULL response) or, when an
order has filled but its answer lists no trades, ``fetch_order_trades`` where the venue has it. Spot
positions are the non-zero balances of assets other than ``quote_currency``; a balance carries no cost basis,
so their ``average_price`` is None (unknown). Derivative accounts (``market_type`` "swap" or
"future") report ``fetch_positions`` instead. ``replace`` is the contract's cancel-then-place: ccxt's
``edit_order`` differs per venue in what it keeps, so it is not relied on.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Concatenate, Literal, ParamSpec, TypeVar

import ccxt

from alphabook.core.clock import utcnow
from alphabook.core.errors import ConfigurationError, InvalidInput, RejectedError, TemporaryError
from alphabook.research.data.ccxt_source import RetryPolicy, retry_after_s
from alphabook.trading.brokers.base import (
    Balance,
    Broker,
    BrokerCapabilities,
    BrokerOrder,
    Fill,
    InsufficientFunds,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    TimeInForce,
)

__all__ = ["CLIENT_ID_LOOKUP", "CcxtBroker"]

R = TypeVar("R")
P = ParamSpec("P")
MarketType = Literal["spot", "swap", "future"]

#: Venues whose ``fetchOrder`` finds an order by ``params={"clientOrderId": ...}`` although ccxt's ``has`` table
#: does not say so (``has["fetchOrderWithClientOrderId"]`` covers the venues that do).
CLIENT_ID_LOOKUP = frozenset({"binance", "binanceus", "binanceusdm", "binancecoinm"})

_MARKET_LIKE = (OrderType.MARKET, OrderType.STOP)
_STATUSES = {"closed": OrderStatus.FILLED, "canceled": OrderStatus.CANCELED, "expired": OrderStatus.EXPIRED,
             "rejected": OrderStatus.REJECTED}


def _one_at_a_time(method: Callable[Concatenate[CcxtBroker, P], R]) -> Callable[Concatenate[CcxtBroker, P], R]:
    """Serialise a broker's calls: a synchronous ccxt client is not safe to share between threads (its nonce,
    throttle and last response headers), and a dispatcher's threads share one broker per account."""
    def serialised(broker: CcxtBroker, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with broker._lock:
            return method(broker, *args, **kwargs)
    return functools.update_wrapper(serialised, method)


class CcxtBroker(Broker):
    """One account at one ccxt exchange, trading ``market_type`` markets (spot by default)."""

    name: ClassVar[str] = "ccxt"

    def __init__(
        self,
        exchange_id: str,
        api_key: str,
        secret: str,
        *,
        sandbox: bool = False,
        urls: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        quote_currency: str = "USDT",
        market_type: MarketType = "spot",
        lookup_by_client_id: bool | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        """``urls`` is merged into ccxt's ``urls`` after sandbox mode is set (tests point both at a fake);
        ``config`` goes to the ccxt constructor (timeouts, options); ``lookup_by_client_id`` overrides whether
        the venue can fetch an order by our id (default: ccxt's ``has`` and :data:`CLIENT_ID_LOOKUP`)."""
        if exchange_id not in ccxt.exchanges:
            raise InvalidInput(f"ccxt has no exchange {exchange_id!r}: use an id from ccxt.exchanges, e.g. 'binance'")
        options = {**dict((config or {}).get("options") or {}), "defaultType": market_type}
        # number=str: ccxt then hands out decimal strings, never floats (a config may still choose float)
        self.exchange: Any = getattr(ccxt, exchange_id)({"enableRateLimit": True, "number": str, **(config or {}),
                                                         "apiKey": api_key, "secret": secret, "options": options})
        if sandbox:
            try:
                self.exchange.set_sandbox_mode(True)
            except ccxt.NotSupported as error:
                raise InvalidInput(f"{exchange_id} has no sandbox (testnet) in ccxt: trade it live or on paper "
                                   "instead") from error
        if urls:
            self.exchange.urls = self.exchange.deep_extend(self.exchange.urls, dict(urls))
        if sandbox and _urls(self.exchange.urls.get("api")) & _urls(self.exchange.describe()["urls"].get("api")):
            raise ConfigurationError(f"The urls given for the {exchange_id} testnet point at its live API: a "
                                     "sandbox broker never trades real money.")
        self.exchange_id = exchange_id
        self._lock = threading.RLock()
        self.quote_currency = quote_currency
        self.market_type: MarketType = market_type
        self.retry = retry or RetryPolicy()
        has = self.exchange.has
        self.lookup_by_client_id = (bool(has.get("fetchOrderWithClientOrderId")) or exchange_id in CLIENT_ID_LOOKUP
                                    if lookup_by_client_id is None else lookup_by_client_id)
        self.capabilities = capabilities_of(self.exchange, market_type, sandbox=sandbox)

    def __repr__(self) -> str:
        return f"CcxtBroker({self.exchange_id!r}, live={self.capabilities.live})"

    # --- orders -----------------------------------------------------------------------------------------------

    @_one_at_a_time
    def place(self, order: OrderRequest) -> BrokerOrder:
        self._check_supported(order)
        existing = self.find_order(order.client_order_id, order.symbol)
        if existing is not None:
            return existing
        kind = "market" if order.type in _MARKET_LIKE else "limit"
        amount = self._exact(order.symbol, "quantity", order.quantity, self.exchange.amount_to_precision)
        price = None if order.limit_price is None else self._exact(
            order.symbol, "limit_price", order.limit_price, self.exchange.price_to_precision)
        params: dict[str, Any] = {"clientOrderId": order.client_order_id}
        if order.stop_price is not None:
            params["triggerPrice"] = self._exact(order.symbol, "stop_price", order.stop_price,
                                                 self.exchange.price_to_precision)
        if kind == "limit":
            params["timeInForce"] = order.time_in_force.value.upper()
        what = f"order {order.client_order_id} ({order.side} {order.quantity} {order.symbol} {order.type})"
        attempt = 1
        while True:
            try:
                raw = self.exchange.create_order(order.symbol, kind, order.side.value, amount, price, params)
                return self._view(raw, order.symbol, order.client_order_id)
            except ccxt.InsufficientFunds as error:
                raise InsufficientFunds(f"{self.exchange_id} cannot pay for {what}: {error}") from error
            except ccxt.OperationFailed as error:  # it may or may not have arrived: only the venue knows
                server_wait_s = retry_after_s(self.exchange, error)  # before the lookup replaces the last response
                found = self.find_order(order.client_order_id, order.symbol)
                if found is not None:
                    return found
                if attempt >= self.retry.attempts:
                    raise TemporaryError(f"{self.exchange_id} kept failing on {what} ({attempt} attempts); it was "
                                         f"not placed as far as the venue shows: {error}", attempts=attempt) from error
                time.sleep(self.retry.delay_s(attempt, server_wait_s))
                attempt += 1
            except ccxt.BaseError as error:
                if "duplicate" in str(error).lower():  # a racing send of the id got there first (Binance -2010)
                    found = self.find_order(order.client_order_id, order.symbol)
                    if found is not None:
                        return found
                raise RejectedError(f"{self.exchange_id} rejected {what}: {error}") from error

    @_one_at_a_time
    def cancel(self, broker_order_id: str, symbol: str) -> BrokerOrder:
        try:
            self._call(lambda: self.exchange.cancel_order(broker_order_id, symbol), f"cancelling order "
                       f"{broker_order_id} on {symbol}")
        except RejectedError:
            current = self.fetch_order(broker_order_id, symbol)  # RejectedError if the venue knows no such order
            if current.status.is_final:
                return current
            raise
        return self.fetch_order(broker_order_id, symbol)  # the final view, with its fills and our client id

    @_one_at_a_time
    def fetch_order(self, broker_order_id: str, symbol: str) -> BrokerOrder:
        raw = self._call(lambda: self.exchange.fetch_order(broker_order_id, symbol),
                         f"looking up order {broker_order_id} on {symbol}")
        return self._view(raw, symbol)

    @_one_at_a_time
    def find_order(self, client_order_id: str, symbol: str) -> BrokerOrder | None:
        if self.lookup_by_client_id:
            def lookup() -> Any:
                try:
                    return self.exchange.fetch_order("", symbol, {"clientOrderId": client_order_id})
                except ccxt.OrderNotFound:
                    return None
            raw = self._call(lookup, f"looking up client order id {client_order_id} on {symbol}")
        else:
            listed = self._call(lambda: self._listed_orders(symbol), f"listing orders on {symbol}")
            matches = [entry for entry in listed if entry.get("clientOrderId") == client_order_id]
            raw = matches[-1] if matches else None
        return None if raw is None else self._view(raw, symbol, client_order_id)

    # --- account ----------------------------------------------------------------------------------------------

    @_one_at_a_time
    def positions(self) -> list[Position]:
        if self.market_type != "spot":
            raw = self._call(lambda: self.exchange.fetch_positions(), "fetching positions")
            found = []
            for entry in raw:
                contracts = _decimal(entry.get("contracts")) or Decimal(0)
                if contracts:
                    sign = -1 if entry.get("side") == "short" and contracts > 0 else 1
                    found.append(Position(str(entry["symbol"]), sign * contracts,
                                          _decimal(entry.get("entryPrice"))))
            return sorted(found, key=lambda position: position.symbol)
        return [Position(f"{balance.currency}/{self.quote_currency}", balance.total, None)
                for balance in self.balances() if balance.currency != self.quote_currency and balance.total]

    @_one_at_a_time
    def balances(self) -> list[Balance]:
        raw = self._call(lambda: self.exchange.fetch_balance(), "fetching balances")
        totals, free = raw.get("total") or {}, raw.get("free") or {}
        found = []
        for currency in sorted(totals):
            total = _decimal(totals[currency]) or Decimal(0)
            if total:
                found.append(Balance(currency, total, _decimal(free.get(currency)) or Decimal(0)))
        return found

    # --- helpers ----------------------------------------------------------------------------------------------

    def _check_supported(self, order: OrderRequest) -> None:
        caps = self.capabilities
        if order.type not in caps.order_types:
            kinds = ", ".join(sorted(caps.order_types))
            raise RejectedError(f"{self.exchange_id} takes no {order.type} orders through ccxt; use one of: {kinds}.")
        if order.type is not OrderType.MARKET and order.time_in_force not in caps.time_in_force:
            kinds = ", ".join(sorted(caps.time_in_force))
            raise RejectedError(f"{self.exchange_id} takes no {order.time_in_force} orders through ccxt; use one "
                                f"of: {kinds}.")

    def _exact(self, symbol: str, name: str, value: Decimal, to_precision: Callable[[str, str], str]) -> str:
        """``value`` as the venue's precision string; refused when that precision would change it."""
        self._call(self.exchange.load_markets, "its market list")
        try:
            text = to_precision(symbol, format(value, "f"))
        except ccxt.BadSymbol as error:
            raise RejectedError(f"{self.exchange_id} has no market {symbol}: {error}") from error
        except ccxt.BaseError as error:
            raise RejectedError(f"{self.exchange_id} refuses {name} {value} on {symbol}: {error}") from error
        if Decimal(text) != value:
            raise RejectedError(f"{name} {value} is finer than {symbol}'s step on {self.exchange_id}; the nearest it "
                                f"accepts is {text}.")
        return text

    def _listed_orders(self, symbol: str) -> list[Any]:
        has = self.exchange.has
        if has.get("fetchOrders"):
            return list(self.exchange.fetch_orders(symbol))
        listed = list(self.exchange.fetch_open_orders(symbol))
        for method in ("fetchClosedOrders", "fetchCanceledOrders"):
            if has.get(method):
                listed += getattr(self.exchange, _snake(method))(symbol)
        return listed

    def _view(self, raw: Mapping[str, Any], symbol: str, client_order_id: str | None = None) -> BrokerOrder:
        """ccxt's order structure as a BrokerOrder, its fills fetched when the answer lists none."""
        order_id = str(raw.get("id") or "")
        filled = _decimal(raw.get("filled")) or Decimal(0)
        trades: Sequence[Any] = raw.get("trades") or []
        if filled and not trades and order_id and self.exchange.has.get("fetchOrderTrades"):
            trades = self._call(lambda: self.exchange.fetch_order_trades(order_id, symbol),
                                f"fetching the fills of order {order_id}")
        status = _STATUSES.get(str(raw.get("status")), OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.NEW)
        fallback_at = raw.get("lastTradeTimestamp") or raw.get("timestamp")
        fills = tuple(_fill(trade, order_id, index, fallback_at) for index, trade in enumerate(trades))
        return BrokerOrder(
            broker_order_id=order_id,
            client_order_id=client_order_id or str(raw.get("clientOrderId") or ""),
            symbol=str(raw.get("symbol") or symbol),
            status=status,
            filled_quantity=filled,
            average_price=_decimal(raw.get("average")) if filled else None,
            fills=fills,
        )

    def _call(self, request: Callable[[], R], what: str) -> R:
        """Run one idempotent ccxt request, retrying temporary failures (see the module docstring)."""
        attempt = 1
        while True:
            try:
                return request()
            except ccxt.InsufficientFunds as error:
                raise InsufficientFunds(f"{self.exchange_id} refused {what}: {error}") from error
            except ccxt.OperationFailed as error:
                if attempt >= self.retry.attempts:
                    raise TemporaryError(f"{self.exchange_id} kept failing on {what} ({attempt} attempts): {error}",
                                         attempts=attempt) from error
                time.sleep(self.retry.delay_s(attempt, retry_after_s(self.exchange, error)))
                attempt += 1
            except ccxt.OrderNotFound as error:
                raise RejectedError(f"{self.exchange_id} knows no such order ({what}): {error}") from error
            except ccxt.BadSymbol as error:
                raise RejectedError(f"{self.exchange_id} lists no such market ({what}): {error}") from error
            except ccxt.BaseError as error:
                raise RejectedError(f"{self.exchange_id} refused {what}: {error}") from error



def capabilities_of(exchange: Any, market_type: MarketType, *, sandbox: bool) -> BrokerCapabilities:
    """What the venue takes through ccxt, from ``exchange.has`` and ``exchange.features[market_type]``."""
    has = exchange.has
    features = (getattr(exchange, "features", None) or {}).get(market_type) or {}
    if "createOrder" not in features:  # derivatives are split into linear and inverse contracts
        features = features.get("linear") or features.get("inverse") or {}
    create = features.get("createOrder") or {}
    triggers = bool(create.get("triggerPrice")) or bool(has.get("createTriggerOrder"))
    order_types = {OrderType.MARKET, OrderType.LIMIT}
    if triggers and (has.get("createStopMarketOrder") or has.get("createStopOrder")):
        order_types.add(OrderType.STOP)
    if triggers and (has.get("createStopLimitOrder") or has.get("createStopOrder")):
        order_types.add(OrderType.STOP_LIMIT)
    time_in_force = {TimeInForce.GTC}
    if (create.get("timeInForce") or {}).get("IOC"):
        time_in_force.add(TimeInForce.IOC)
    notes = ["replace is cancel, then place", "market orders execute at once whatever their time in force"]
    if market_type == "spot":
        notes.append("spot positions are asset balances: their average_price is None (the venue keeps no cost basis)")
    return BrokerCapabilities(
        live=not sandbox,
        order_types=frozenset(order_types),
        time_in_force=frozenset(time_in_force),
        fractional=True,  # crypto amounts are traded in fractions of a unit, to the market's step
        short_selling=market_type != "spot",
        native_replace=False,
        testnet=sandbox,
        notes=tuple(notes),
    )


def _fill(trade: Mapping[str, Any], order_id: str, index: int, fallback_ms: Any) -> Fill:
    fee = trade.get("fee") or {}
    stamp = trade.get("timestamp") or fallback_ms
    return Fill(
        fill_id=str(trade.get("id") or f"{order_id}-{index}"),
        quantity=_decimal(trade.get("amount")) or Decimal(0),
        price=_decimal(trade.get("price")) or Decimal(0),
        fee=_decimal(fee.get("cost")) or Decimal(0),
        fee_currency=str(fee.get("currency") or ""),
        at=datetime.fromtimestamp(int(stamp) / 1000, UTC) if stamp else utcnow(),
    )


def _decimal(value: Any) -> Decimal | None:
    """A ccxt number (float, int or string) as the Decimal it prints as; None for a missing one."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _urls(api: Any) -> set[str]:
    """The URLs in one of ccxt's ``urls["api"]`` values (a string, or a dict of them by API name)."""
    if isinstance(api, str):
        return {api}
    return {url for url in api.values() if isinstance(url, str)} if isinstance(api, Mapping) else set()


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)

"""The ``Broker`` plug-in point: where orders go, behind one written contract.

The webhook router, the outbox dispatcher and copy trading speak only this interface, whether the orders
land on the paper broker (alphabook's own simulation), an exchange through ccxt, or Alpaca. What a broker
can do is data on it (:class:`BrokerCapabilities`, as freqtrade describes exchanges), so the risk checks
ask ``OrderType.STOP in broker.capabilities.order_types`` instead of testing its class; whether it moves
real money is the one capability nothing may get wrong (``live``), so it is required of every broker.

Quantities and prices are ``Decimal`` (``NUMERIC`` in the database); float never crosses this boundary.
Errors follow :mod:`alphabook.core.errors`: ``TemporaryError`` is worth retrying with backoff (timeouts,
5xx, rate limits), ``RejectedError`` is the counterparty's final word, and its subclass
:class:`InsufficientFunds` says why in the one case a trader most needs to know.

Every order carries our ``client_order_id``; a broker dedupes on it where the venue can (Binance's
``newClientOrderId``, Alpaca's ``client_order_id``), and :meth:`Broker.find_order` looks it up, which is how
the dispatcher learns after a crash whether an order it may or may not have sent is already there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar

from alphabook.core.errors import AlphabookError, InvalidInput, RejectedError

__all__ = [
    "Balance",
    "Broker",
    "BrokerCapabilities",
    "BrokerOrder",
    "Fill",
    "InsufficientFunds",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "Position",
    "Side",
    "TimeInForce",
]


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"  # becomes a market order once the stop price trades
    STOP_LIMIT = "stop_limit"  # becomes a limit order once the stop price trades


class TimeInForce(StrEnum):
    GTC = "gtc"  # good till cancelled
    IOC = "ioc"  # fill what can be filled at once, cancel the rest
    DAY = "day"  # cancelled at the end of the UTC day (the venue's session day where it has one)


class OrderStatus(StrEnum):
    NEW = "new"  # accepted and working (resting, or a stop waiting for its trigger)
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


class InsufficientFunds(RejectedError):
    """The account cannot pay for the order (or hold the short it would open)."""

    slug = "insufficient-funds"
    title = "Insufficient funds"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order as alphabook asks a broker to place it."""

    client_order_id: str  # ours, unique per account; 1-36 of [A-Za-z0-9_-] (what Alpaca and Binance accept)
    symbol: str  # ccxt's unified form for pairs ("BTC/USDT"), the ticker for stocks ("AAPL")
    side: Side
    type: OrderType
    quantity: Decimal
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= len(self.client_order_id) <= 36 or not all(c.isascii() and (c.isalnum() or c in "_-")
                                                                for c in self.client_order_id):
            problems.append("client_order_id must be 1 to 36 letters, digits, '_' or '-'")
        for name in ("quantity", "limit_price", "stop_price"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, Decimal) or not value.is_finite() or value <= 0):
                problems.append(f"{name} must be a positive, finite Decimal, not {value!r}")
        needs_limit = self.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_stop = self.type in (OrderType.STOP, OrderType.STOP_LIMIT)
        if needs_limit != (self.limit_price is not None):
            problems.append(f"a {self.type} order {'needs' if needs_limit else 'takes no'} limit_price")
        if needs_stop != (self.stop_price is not None):
            problems.append(f"a {self.type} order {'needs' if needs_stop else 'takes no'} stop_price")
        if problems:
            raise InvalidInput("; ".join(problems) + ".")


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. ``fill_id`` is unique within its order, so applying fills twice is detectable."""

    fill_id: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    at: datetime  # timezone-aware UTC


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """The broker's view of one order, as placed, fetched or cancelled."""

    broker_order_id: str
    client_order_id: str
    symbol: str
    status: OrderStatus
    filled_quantity: Decimal
    average_price: Decimal | None  # None until something filled
    fills: tuple[Fill, ...] = ()  # every fill so far, oldest first, where the venue reports them
    reason: str | None = None  # why it was rejected, cancelled or expired, in the venue's words


@dataclass(frozen=True, slots=True)
class Position:
    symbol: str
    quantity: Decimal  # negative for a short
    average_price: Decimal | None  # None where the venue keeps no cost basis (a spot balance)


@dataclass(frozen=True, slots=True)
class Balance:
    currency: str
    total: Decimal
    available: Decimal  # not reserved by open orders


@dataclass(frozen=True, slots=True)
class BrokerCapabilities:
    """What a broker supports, read by the risk checks and shown to the trader before they route a hook."""

    live: bool  # True when orders move real money; paper hooks refuse such brokers
    order_types: frozenset[OrderType]
    time_in_force: frozenset[TimeInForce]
    fractional: bool  # quantities below one unit
    short_selling: bool
    native_replace: bool  # the venue amends in place; otherwise replace is cancel, then place
    testnet: bool = False  # a venue's own sandbox (not real money, not ours either)
    one_at_a_time: bool = False  # takes an account's orders one by one (under its lock): send them in sequence
    notes: tuple[str, ...] = field(default=())


class Broker(ABC):
    """One account at one venue. Instances are cheap; credentials are given at construction.

    Every method may raise ``TemporaryError`` (try again later; nothing is known to have changed, except
    where a method says so) or ``RejectedError``; each documents what else it raises and what it changes.
    """

    name: ClassVar[str]
    capabilities: BrokerCapabilities

    @abstractmethod
    def place(self, order: OrderRequest) -> BrokerOrder:
        """Send ``order``; return the broker's view right after it accepted it (a market order may be filled).

        Raises InsufficientFunds when the account cannot pay; RejectedError when the venue refuses it (an
        unknown symbol, an order type outside ``capabilities``, a size below the venue's minimum); InvalidInput
        never, as ``OrderRequest`` checks itself. A second call with the same ``client_order_id`` places
        nothing new: it returns the first order (or raises RejectedError where the venue only refuses the
        duplicate; callers use :meth:`find_order` then). On TemporaryError the order may or may not exist.
        """

    def place_many(self, orders: Sequence[OrderRequest]) -> list[BrokerOrder | AlphabookError]:
        """Send ``orders`` in this sequence; each one's view, or the error :meth:`place` raised for it.

        One order's refusal does not stop the others. A venue reached over the network sends them one by one
        (this default); a simulated venue places them in one transaction, which is what lets the dispatcher keep
        up with a burst of alerts. Anything but an ``AlphabookError`` (a bug, a lost database) is raised, and then
        none of the orders is known to be placed."""
        answers: list[BrokerOrder | AlphabookError] = []
        for order in orders:
            try:
                answers.append(self.place(order))
            except AlphabookError as error:
                answers.append(error)
        return answers

    @abstractmethod
    def cancel(self, broker_order_id: str, symbol: str) -> BrokerOrder:
        """Cancel a working order; return its final view (what filled before the cancel stays filled).

        Cancelling an order that is already final returns it unchanged. Raises RejectedError for an id the
        venue does not know.
        """

    def replace(self, broker_order_id: str, symbol: str, replacement: OrderRequest) -> BrokerOrder:
        """Replace a working order with ``replacement`` (its own new ``client_order_id``); return the new order.

        Without ``native_replace`` this is cancel, then place: if the old order filled meanwhile, it is not
        replaced and RejectedError says so. Raises as :meth:`place` and :meth:`cancel` do.
        """
        old = self.cancel(broker_order_id, symbol)
        if old.status is OrderStatus.FILLED:
            raise RejectedError(f"Order {broker_order_id} filled before it could be replaced.")
        return self.place(replacement)

    @abstractmethod
    def fetch_order(self, broker_order_id: str, symbol: str) -> BrokerOrder:
        """The broker's current view of one order. Raises RejectedError for an id the venue does not know."""

    def refresh(self, working: Sequence[tuple[str, str]]) -> list[BrokerOrder]:
        """The current view of ``working`` orders, given as (broker order id, symbol): how the dispatcher learns
        of fills on resting orders. A venue is polled order by order (this default); a simulated venue instead
        advances its own matching and answers with every order that changed. Raises as :meth:`fetch_order`."""
        return [self.fetch_order(broker_order_id, symbol) for broker_order_id, symbol in working]

    @abstractmethod
    def find_order(self, client_order_id: str, symbol: str) -> BrokerOrder | None:
        """The order placed with our ``client_order_id``, or None if the venue has none: how a dispatcher that
        crashed mid-send learns whether to send again. Never places anything."""

    @abstractmethod
    def positions(self) -> list[Position]:
        """Open positions (non-zero quantities), in a stable order. For spot venues: assets held."""

    @abstractmethod
    def balances(self) -> list[Balance]:
        """Cash and asset balances, one per currency, in a stable order."""

"""The paper broker's matching rules: when a working order fills, and at what reference price.

Pure functions of an order and a price (a quote at placement, then each completed bar), so the rules can be
read and tested on their own. The bar rules assume nothing about the path inside a bar beyond its open, high
and low, and they never let an order do better than the market could have given it:

At placement, against the quote (``bid``/``ask``/``last``):
  - market: fills at the ask (buy) or bid (sell), as a taker.
  - limit: marketable when ask <= limit (buy) or bid >= limit (sell): fills at once as a taker at that
    quote; otherwise it rests.
  - stop / stop-limit: triggered at once when last >= stop (buy) or last <= stop (sell); a triggered stop
    is then a market order, a triggered stop-limit a limit order, as above.

On each completed bar (``open``, ``high``, ``low``), for a resting order:
  - buy limit L: fills when low <= L, at min(L, open) (a bar that opens below the limit fills at the open).
    Sell limit L: high >= L, at max(L, open). These are maker fills.
  - buy stop S: triggers when high >= S, at max(S, open) (gapping through the stop fills at the open); sell
    stop: low <= S, at min(S, open). The stop becomes a market order and fills at that trigger price as a
    taker; a stop already triggered but not filled (a volume cap) fills at later bars' opens.
  - stop-limit (S, L): triggers as a stop; it fills in the trigger bar only if the trigger price is within
    the limit (<= L for a buy, >= L for a sell), at the trigger price as a taker. Otherwise it rests as a
    limit order from the next bar: the bar's path after the trigger is unknown, so no fill is assumed in it.

Slippage and fees are applied by the caller to the reference price returned here (:mod:`.costs`); a taker
fill of an order with a limit is never worse than the limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from alphabook.trading.brokers.base import OrderType, Side
from alphabook.trading.prices import Bar, Quote

__all__ = ["Match", "Working", "at_quote", "on_bar", "within_limit"]


@dataclass(frozen=True, slots=True)
class Working:
    """What matching reads of an order."""

    side: Side
    type: OrderType
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    triggered: bool = False  # a stop or stop-limit whose stop has traded


@dataclass(frozen=True, slots=True)
class Match:
    """The outcome for one order at one price: whether its stop has triggered, and its fill, if any."""

    triggered: bool
    price: Decimal | None = None  # the reference price it fills at; None: no fill
    taker: bool = False  # took liquidity: slippage and the taker fee apply


def within_limit(side: Side, price: Decimal, limit: Decimal | None) -> bool:
    """Whether a fill at ``price`` respects ``limit`` (no limit: always)."""
    if limit is None:
        return True
    return price <= limit if side is Side.BUY else price >= limit


def _acts_as_market(order: Working, triggered: bool) -> bool:
    return order.type is OrderType.MARKET or (order.type is OrderType.STOP and triggered)


def at_quote(order: Working, quote: Quote) -> Match:
    """Placement: does ``order`` fill against ``quote`` right away (see the module docstring)?"""
    triggered = order.triggered
    if order.type in (OrderType.STOP, OrderType.STOP_LIMIT) and not triggered:
        assert order.stop_price is not None
        triggered = quote.last >= order.stop_price if order.side is Side.BUY else quote.last <= order.stop_price
        if not triggered:
            return Match(triggered=False)
    touch = quote.ask if order.side is Side.BUY else quote.bid
    if _acts_as_market(order, triggered) or within_limit(order.side, touch, order.limit_price):
        return Match(triggered, touch, taker=True)
    return Match(triggered)


def on_bar(order: Working, bar: Bar) -> Match:
    """A completed ``bar`` for a resting ``order`` (see the module docstring)."""
    buy = order.side is Side.BUY
    if order.type in (OrderType.STOP, OrderType.STOP_LIMIT) and not order.triggered:
        stop = order.stop_price
        assert stop is not None
        if buy and bar.high >= stop:
            trigger = max(stop, bar.open)
        elif not buy and bar.low <= stop:
            trigger = min(stop, bar.open)
        else:
            return Match(triggered=False)
        if order.type is OrderType.STOP or within_limit(order.side, trigger, order.limit_price):
            return Match(True, trigger, taker=True)
        return Match(True)
    if _acts_as_market(order, order.triggered):
        return Match(order.triggered, bar.open, taker=True)
    limit = order.limit_price
    assert limit is not None
    if buy and bar.low <= limit:
        return Match(order.triggered, min(limit, bar.open))
    if not buy and bar.high >= limit:
        return Match(order.triggered, max(limit, bar.open))
    return Match(order.triggered)

"""What copy trading needs to know of positions: holdings in one symbol, copies' fills, equity, last prices.

Everything comes from what alphabook recorded (orders and ``order_fills``), never from what anybody claims.
The *holding* in one symbol, of an account or of one subscription's copies, is the position from recorded fills
plus what working orders could still add or take away: caps and mirrored reductions are computed on the exposure
(the position once working orders fill), closes on what is not already being closed, so an order still on its
way is never copied or closed twice. Filled quantities are summed in Python (SQLite keeps exact decimals as
text). Equity and entry prices come from the portfolio's P&L engine (:mod:`alphabook.trading.portfolio`), so a
follower sees the same numbers on their portfolio page as copy trading acts on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from alphabook.trading.copy.models import CopyTrade
from alphabook.trading.models import Order, OrderFill, OrderState, TradingAccount
from alphabook.trading.portfolio import Execution, portfolio

__all__ = ["FINAL_STATES", "Holding", "account_holding", "copied_executions", "copied_holding", "copied_symbols",
           "equity", "latest_prices", "signed"]

FINAL_STATES = frozenset({OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED, OrderState.EXPIRED,
                          OrderState.FAILED})
ZERO = Decimal(0)


def signed(side: str, quantity: Decimal) -> Decimal:
    """A buy's quantity as it changes a position (+), a sell's (-)."""
    return quantity if side == "buy" else -quantity


def latest_prices(session: Session, symbols: Iterable[str], *, until: datetime | None = None) -> dict[str, Decimal]:
    """The last price each symbol traded at on the platform (any account), where it traded at all."""
    prices = {}
    for symbol in sorted(set(symbols)):
        query = (select(OrderFill.price).join(Order, Order.id == OrderFill.order_id).where(Order.symbol == symbol)
                 .order_by(OrderFill.at.desc(), OrderFill.id.desc()).limit(1))
        if until is not None:
            query = query.where(OrderFill.at < until)
        price = session.scalar(query)
        if price is not None:
            prices[symbol] = price
    return prices


def equity(session: Session, account: TradingAccount) -> Decimal:
    """The account's equity as its portfolio shows it (:func:`alphabook.trading.portfolio.portfolio`)."""
    return portfolio(session, account).equity.to_decimal()


@dataclass(frozen=True, slots=True)
class Holding:
    """One symbol's position from recorded fills, and what working orders could still change it."""

    filled: Decimal  # signed
    working_buys: Decimal = ZERO  # still to fill of working buys
    working_sells: Decimal = ZERO

    @property
    def exposure(self) -> Decimal:
        """The position once every working order has filled."""
        return self.filled + self.working_buys - self.working_sells

    @property
    def to_close(self) -> Decimal:
        """The signed quantity to trade to go flat, counting working orders that already reduce the position
        (an order to close it that is on its way is not closed again); zero when nothing is left to close."""
        if self.filled > 0:
            return -max(self.filled - self.working_sells, ZERO)
        if self.filled < 0:
            return max(-self.filled - self.working_buys, ZERO)
        return ZERO


def _holding(session: Session, orders: Select[int, str, str, Decimal]) -> Holding:
    rows = session.execute(orders).all()
    done: dict[int, Decimal] = {}
    ids = [row[0] for row in rows]
    if ids:
        for order_id, quantity in session.execute(select(OrderFill.order_id, OrderFill.quantity)
                                                  .where(OrderFill.order_id.in_(ids))):
            done[order_id] = done.get(order_id, ZERO) + quantity
    position = buys = sells = ZERO
    for order_id, side, state, quantity in rows:
        filled_part = done.get(order_id, ZERO)
        position += signed(side, filled_part)
        if state not in FINAL_STATES:
            if side == "buy":
                buys += max(quantity - filled_part, ZERO)
            else:
                sells += max(quantity - filled_part, ZERO)
    return Holding(position, buys, sells)


def account_holding(session: Session, account_id: int, symbol: str, *, leave_out: int | None = None) -> Holding:
    """The account's holding in ``symbol`` over all its orders (but ``leave_out``, the one being copied)."""
    query = (select(Order.id, Order.side, Order.state, Order.quantity)
             .where(Order.account_id == account_id, Order.symbol == symbol))
    if leave_out is not None:
        query = query.where(Order.id != leave_out)
    return _holding(session, query)


def copied_holding(session: Session, subscription_id: int, symbol: str) -> Holding:
    """What copy trading holds for one subscription in ``symbol``: the orders it wrote, and only those."""
    return _holding(session, select(Order.id, Order.side, Order.state, Order.quantity)
                    .join(CopyTrade, CopyTrade.order_id == Order.id)
                    .where(CopyTrade.subscription_id == subscription_id, Order.symbol == symbol))


def copied_executions(session: Session, subscription_id: int) -> list[Execution]:
    """The fills of the orders copy trading wrote for one subscription, in the order they happened, as the
    portfolio's P&L engine reads them (for the copies' own entry prices)."""
    query = (select(OrderFill, Order.symbol, Order.side).join(Order, OrderFill.order_id == Order.id)
             .join(CopyTrade, CopyTrade.order_id == Order.id).where(CopyTrade.subscription_id == subscription_id)
             .order_by(OrderFill.at, OrderFill.id))
    return [Execution(fill.id, fill.order_id, symbol, side == "buy", fill.quantity, fill.price, fill.fee,
                      fill.fee_currency, fill.at) for fill, symbol, side in session.execute(query)]


def copied_symbols(session: Session, subscription_id: int) -> list[str]:
    query = (select(Order.symbol).join(CopyTrade, CopyTrade.order_id == Order.id)
             .where(CopyTrade.subscription_id == subscription_id).distinct())
    return sorted(session.scalars(query))

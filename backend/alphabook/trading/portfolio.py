"""An account's portfolio, computed from alphabook's own order journal, so it means the same for every broker.

The fills in ``order_fills`` (what brokers reported, recorded by the dispatcher) are replayed in time order:

- **Positions at average cost.** A fill that adds to a position averages its price into the cost basis; one
  that reduces it realizes ``(price - average) x quantity`` (the other way round for a short) and leaves the
  average unchanged; one that crosses zero closes the position and opens the other side at its own price.
  Average cost is what brokers report as the entry price (Alpaca's ``avg_entry_price``, the paper broker's
  positions), so the numbers here can be checked against theirs. It is kept as an exact fraction, so nothing
  drifts however many fills there are.
- **Fees** are charged when paid: realized P&L is net of every fee, opening fees included, which makes
  ``equity = starting cash + realized + unrealized`` exact. A fee in the account's (or the pair's quote)
  currency is cash; one in the bought asset (Binance's commission) counts at the fill's price; any other
  currency (BNB) cannot be valued without a rate and is listed apart in ``unconverted_fees``.
- **Cash** is starting cash plus sale proceeds minus purchase costs and fees: exact for demo and paper
  accounts, and for a live account the change since alphabook began routing its orders.
- **Unrealized P&L** marks each position at a :class:`~alphabook.trading.prices.PriceFeed`'s last price, or at
  its last fill when there is no feed (or the feed cannot price the symbol now); each position says which.
- **Round trips** (the trades statistics count) run from flat to flat per symbol; a fill that reverses a
  position ends one trip and starts the next, its fee split between them by quantity. A trip's P&L is net of
  its fees. Statistics: win rate, profit factor (gross profit / gross loss), expectancy (mean P&L per trip)
  and the maximum drawdown of the closed-trade equity curve (starting cash plus each trip's P&L in order).

Amounts come out as :class:`~alphabook.core.money.Money`, rounded half-even to the currency's minor unit at
the very end (an explicit rounding: the journal is kept to 1e-10); quantities and prices as ``Decimal``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, TypeAlias

from sqlalchemy import select
from sqlalchemy.orm import Session

from alphabook.core.clock import utcnow
from alphabook.core.errors import RejectedError, TemporaryError
from alphabook.core.money import Money, currency_exponent
from alphabook.trading.models import Order, OrderFill, TradingAccount

if TYPE_CHECKING:
    from alphabook.trading.prices import PriceFeed

__all__ = ["Execution", "Ledger", "MarkSource", "Portfolio", "PositionView", "RoundTrip", "Stats", "build_ledger",
           "executions", "money", "portfolio", "statistics"]

MarkSource: TypeAlias = "PriceFeed | None"
_RATIO = Decimal("0.0001")  # win rate, profit factor and drawdown share: four decimals
_PRICE = Decimal("1e-10")


def money(amount: Fraction | Decimal | int, currency: str) -> Money:
    """``amount`` of ``currency`` rounded half-even to its minor unit: the one place the portfolio rounds."""
    scaled = Fraction(amount) * 10 ** currency_exponent(currency)
    return Money(round(scaled), currency)


def _decimal(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(_PRICE, rounding=ROUND_HALF_EVEN)


def _ratio(numerator: Fraction, denominator: Fraction) -> Decimal | None:
    return None if denominator == 0 else _decimal(numerator / denominator).quantize(_RATIO, ROUND_HALF_EVEN)


# --------------------------------------------------------------------------------------------- the ledger


@dataclass(frozen=True, slots=True)
class Execution:
    """One fill as the P&L engine reads it."""

    fill_row_id: int
    order_id: int
    symbol: str
    buy: bool
    quantity: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    at: datetime


def executions(session: Session, account_id: int, *, until: datetime | None = None) -> list[Execution]:
    """The account's fills at or before ``until`` (default: all), in the order they happened."""
    query = (select(OrderFill, Order.symbol, Order.side).join(Order, OrderFill.order_id == Order.id)
             .where(Order.account_id == account_id).order_by(OrderFill.at, OrderFill.id))
    if until is not None:
        query = query.where(OrderFill.at <= until)
    return [Execution(fill.id, fill.order_id, symbol, side == "buy", fill.quantity, fill.price, fill.fee,
                      fill.fee_currency, fill.at)
            for fill, symbol, side in session.execute(query)]


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """A position from flat to flat: entries, exits, fees, and the P&L net of those fees."""

    symbol: str
    direction: str  # "long" or "short"
    opened_at: datetime
    closed_at: datetime
    quantity: Decimal  # everything entered
    entry_price: Decimal  # average of the entries
    exit_price: Decimal  # average of the exits
    fees: Fraction
    pnl: Fraction


@dataclass(slots=True)
class _Trip:
    direction: str
    opened_at: datetime
    entered: Fraction = Fraction(0)
    entry_value: Fraction = Fraction(0)
    exited: Fraction = Fraction(0)
    exit_value: Fraction = Fraction(0)
    gross: Fraction = Fraction(0)
    fees: Fraction = Fraction(0)


@dataclass(slots=True)
class Holding:
    """One symbol's running position: signed quantity and exact cost basis."""

    quantity: Fraction = Fraction(0)
    cost: Fraction = Fraction(0)  # of the open quantity, signed like it
    realized: Fraction = Fraction(0)  # net of this symbol's fees
    fees: Fraction = Fraction(0)
    last_price: Decimal = Decimal(0)
    trip: _Trip | None = None

    @property
    def average_price(self) -> Fraction:
        return self.cost / self.quantity if self.quantity else Fraction(0)


@dataclass(slots=True)
class Ledger:
    """Every fill of an account replayed: cash, holdings, realized P&L and fees, per order too, and round trips."""

    currency: str
    starting_cash: Fraction
    cash: Fraction = Fraction(0)
    holdings: dict[str, Holding] = field(default_factory=lambda: defaultdict(Holding))
    realized: Fraction = Fraction(0)
    fees: Fraction = Fraction(0)
    unconverted_fees: dict[str, Decimal] = field(default_factory=dict)
    realized_by_order: dict[int, Fraction] = field(default_factory=lambda: defaultdict(Fraction))
    fees_by_order: dict[int, Fraction] = field(default_factory=lambda: defaultdict(Fraction))
    round_trips: list[RoundTrip] = field(default_factory=list)

    def apply(self, fill: Execution) -> None:
        holding = self.holdings[fill.symbol]
        quantity, price = Fraction(fill.quantity), Fraction(fill.price)
        fee = self._cash_fee(fill)
        self.cash += -quantity * price if fill.buy else quantity * price
        self.cash -= fee
        self.fees += fee
        self.realized -= fee
        holding.fees += fee
        holding.realized -= fee
        self.fees_by_order[fill.order_id] += fee
        self.realized_by_order[fill.order_id] -= fee
        holding.last_price = fill.price
        sign = 1 if fill.buy else -1
        closing = Fraction(0)
        if holding.quantity and (holding.quantity > 0) != fill.buy:
            closing = min(quantity, abs(holding.quantity))
            long = holding.quantity > 0
            basis = abs(holding.cost) * closing / abs(holding.quantity)  # the cost basis that leaves
            gross = price * closing - basis if long else basis - price * closing
            self.realized += gross
            holding.realized += gross
            self.realized_by_order[fill.order_id] += gross
            holding.cost += -basis if long else basis
            holding.quantity += sign * closing
            trip = holding.trip
            assert trip is not None
            trip.exited += closing
            trip.exit_value += closing * price
            trip.gross += gross
            trip.fees += fee * closing / quantity
            if holding.quantity == 0:
                holding.cost = Fraction(0)
                self._close(fill.symbol, trip, fill.at)
                holding.trip = None
        opening = quantity - closing
        if opening:
            if holding.trip is None:
                holding.trip = _Trip("long" if fill.buy else "short", fill.at)
            holding.trip.entered += opening
            holding.trip.entry_value += opening * price
            holding.trip.fees += fee * opening / quantity
            holding.quantity += sign * opening
            holding.cost += sign * opening * price

    def _cash_fee(self, fill: Execution) -> Fraction:
        currency = fill.fee_currency.upper()
        base, _, quote = fill.symbol.upper().partition("/")
        if fill.fee == 0 or currency in (self.currency, quote):
            return Fraction(fill.fee)
        if currency == base:
            return Fraction(fill.fee) * Fraction(fill.price)
        self.unconverted_fees[currency] = self.unconverted_fees.get(currency, Decimal(0)) + fill.fee
        return Fraction(0)

    def _close(self, symbol: str, trip: _Trip, at: datetime) -> None:
        self.round_trips.append(RoundTrip(
            symbol=symbol, direction=trip.direction, opened_at=trip.opened_at, closed_at=at,
            quantity=_decimal(trip.entered), entry_price=_decimal(trip.entry_value / trip.entered),
            exit_price=_decimal(trip.exit_value / trip.exited), fees=trip.fees, pnl=trip.gross - trip.fees))


def build_ledger(account: TradingAccount, fills: list[Execution]) -> Ledger:
    start = Fraction(account.starting_cash.to_decimal())
    ledger = Ledger(currency=account.currency, starting_cash=start, cash=start)
    for fill in fills:
        ledger.apply(fill)
    return ledger


# ---------------------------------------------------------------------------------------------- positions


@dataclass(frozen=True, slots=True)
class PositionView:
    symbol: str
    quantity: Decimal  # negative for a short
    average_price: Decimal
    cost_basis: Money  # quantity x average price (negative for a short)
    mark_price: Decimal
    marked_by: str  # "feed" or "last_fill"
    market_value: Money
    unrealized_pnl: Money
    realized_pnl: Money  # this symbol's, net of its fees, closed trips and partial closes alike
    opened_at: datetime | None


@dataclass(frozen=True, slots=True)
class Portfolio:
    account_id: int
    currency: str
    as_of: datetime
    starting_cash: Money
    cash: Money
    market_value: Money
    equity: Money  # cash + market value
    realized_pnl: Money
    unrealized_pnl: Money
    fees: Money
    positions: list[PositionView]
    unconverted_fees: dict[str, Decimal]


def _mark(marks: MarkSource, symbol: str, holding: Holding) -> tuple[Decimal, str]:
    if marks is not None:
        try:
            return marks.price(symbol), "feed"
        except (TemporaryError, RejectedError):
            pass
    return holding.last_price, "last_fill"


def portfolio(session: Session, account: TradingAccount, marks: MarkSource = None, *,
              at: datetime | None = None) -> Portfolio:
    """``account``'s cash, positions and P&L from its fills up to ``at`` (default: all, as of now), open
    positions marked by ``marks`` (see the module docstring)."""
    ledger = build_ledger(account, executions(session, account.id, until=at))
    currency = account.currency
    views: list[PositionView] = []
    unrealized = market_value = Fraction(0)
    for symbol in sorted(ledger.holdings):
        holding = ledger.holdings[symbol]
        if not holding.quantity:
            continue
        mark, marked_by = _mark(marks, symbol, holding)
        value = holding.quantity * Fraction(mark)
        market_value += value
        unrealized += value - holding.cost
        views.append(PositionView(
            symbol=symbol, quantity=_decimal(holding.quantity), average_price=_decimal(holding.average_price),
            cost_basis=money(holding.cost, currency), mark_price=mark, marked_by=marked_by,
            market_value=money(value, currency), unrealized_pnl=money(value - holding.cost, currency),
            realized_pnl=money(holding.realized, currency),
            opened_at=holding.trip.opened_at if holding.trip is not None else None))
    cash, value_money = money(ledger.cash, currency), money(market_value, currency)
    return Portfolio(
        account_id=account.id, currency=currency, as_of=at or utcnow(), starting_cash=account.starting_cash,
        cash=cash, market_value=value_money, equity=cash + value_money, realized_pnl=money(ledger.realized, currency),
        unrealized_pnl=money(unrealized, currency), fees=money(ledger.fees, currency), positions=views,
        unconverted_fees=dict(ledger.unconverted_fees))


# --------------------------------------------------------------------------------------------- statistics


@dataclass(frozen=True, slots=True)
class Stats:
    currency: str
    trades: int  # closed round trips
    wins: int
    losses: int
    win_rate: Decimal | None  # wins / trades; None without trades
    profit_factor: Decimal | None  # gross profit / gross loss; None without a losing trade
    expectancy: Money | None  # mean P&L per trade
    gross_profit: Money
    gross_loss: Money  # as a positive amount
    average_win: Money | None
    average_loss: Money | None  # as a negative amount
    largest_win: Money | None
    largest_loss: Money | None
    max_drawdown: Money  # the deepest fall of the closed-trade equity curve from a peak, positive
    max_drawdown_pct: Decimal | None  # that fall as a share of the peak (0.125 is 12.5 %)
    round_trips: list[RoundTrip]


def statistics(session: Session, account: TradingAccount) -> Stats:
    """Trade statistics of ``account``'s closed round trips (see the module docstring)."""
    ledger = build_ledger(account, executions(session, account.id))
    return stats_of(ledger.round_trips, ledger.starting_cash, account.currency)


def stats_of(trips: list[RoundTrip], starting_cash: Fraction, currency: str) -> Stats:
    wins = [trip.pnl for trip in trips if trip.pnl > 0]
    losses = [trip.pnl for trip in trips if trip.pnl < 0]
    gross_profit, gross_loss = sum(wins, Fraction(0)), -sum(losses, Fraction(0))
    total = sum((trip.pnl for trip in trips), Fraction(0))
    peak = equity = starting_cash
    worst, worst_share = Fraction(0), Fraction(0)
    for trip in sorted(trips, key=lambda trip: trip.closed_at):
        equity += trip.pnl
        peak = max(peak, equity)
        if peak - equity > worst:
            worst = peak - equity
            worst_share = worst / peak if peak > 0 else Fraction(0)

    def amount(value: Fraction | None) -> Money | None:
        return None if value is None else money(value, currency)

    count = len(trips)
    return Stats(
        currency=currency, trades=count, wins=len(wins), losses=len(losses),
        win_rate=_ratio(Fraction(len(wins)), Fraction(count)), profit_factor=_ratio(gross_profit, gross_loss),
        expectancy=amount(total / count if count else None), gross_profit=money(gross_profit, currency),
        gross_loss=money(gross_loss, currency), average_win=amount(gross_profit / len(wins) if wins else None),
        average_loss=amount(-gross_loss / len(losses) if losses else None),
        largest_win=amount(max(wins) if wins else None), largest_loss=amount(min(losses) if losses else None),
        max_drawdown=money(worst, currency),
        max_drawdown_pct=_ratio(worst_share, Fraction(1)) if worst else (Decimal(0) if trips else None),
        round_trips=list(trips))

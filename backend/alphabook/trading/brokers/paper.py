"""alphabook's own simulated venue: the ``paper`` broker, one instance per trading account.

It keeps a venue's book in its own tables (:mod:`alphabook.trading.paper_book`) and takes its prices from a
:class:`~alphabook.trading.prices.PriceFeed`: market orders fill at the feed's quote when placed, and resting
orders fill when :meth:`PaperBroker.match` (called by the scheduler or the dispatcher) walks them through the
bars the feed has completed since each was last looked at. The rules are in :mod:`alphabook.trading.matching`;
fees and slippage come from :class:`~alphabook.trading.costs.Costs`.

Money rules, which are the venue's to enforce:

- A buy needs its cost plus fees in available cash. Available cash is cash minus what working orders hold
  back (a resting buy holds ``remaining x limit`` (stop price for a stop) plus its largest possible fee) and
  minus what open shorts lock. A stop that gaps beyond its price may cost more than it held back: if the
  account cannot pay when it fills, the order is cancelled with that reason, as a venue would reject it.
- A sell needs the holdings, less what other working sells hold back. With ``allow_short`` a sell may go
  beyond them; the short part then needs its value in available cash, and an open short locks twice its
  entry value (its proceeds and the same again from the account), so shorting cannot spend its own proceeds.
- Every change to an account happens in one transaction that first locks the account's ``paper_accounts``
  row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers anyway), so
  concurrent orders on one account cannot spend the same cash twice. These transactions touch the venue's
  tables only, never alphabook's orders, so they take no part in :mod:`alphabook.trading.locking`'s order; a
  caller must not hold a write transaction of its own while it calls the broker (on SQLite it would wait on
  itself), which the dispatcher, recording answers only after the broker returned, does not.

Prices and quotes are fetched before that lock is taken, so a slow feed never holds an account's lock.
Order ids are the book's row ids as text. Times are the application clock's (:func:`~alphabook.core.clock.utcnow`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alphabook.core.clock import utcnow
from alphabook.core.db import Database, plain
from alphabook.core.errors import AlphabookError, InvalidInput, RejectedError, TemporaryError
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
    Side,
    TimeInForce,
)
from alphabook.trading.costs import Costs, exact
from alphabook.trading.matching import Working, at_quote, on_bar
from alphabook.trading.models import TradingAccount
from alphabook.trading.paper_book import PaperAccount, PaperFill, PaperOrder, PaperPosition
from alphabook.trading.prices import Bar, PriceFeed, Quote

__all__ = ["PaperBroker", "working_accounts"]

OPEN = (OrderStatus.NEW.value, OrderStatus.PARTIALLY_FILLED.value)
_QUANTITY_STEP = Decimal("1e-8")  # what a volume cap rounds a partial fill down to
_MAX_DIGITS = 20  # digits before the point: NUMERIC(38, 18) keeps 20


class _Unaffordable(Exception):
    """A fill the account cannot pay for (InsufficientFunds at placement, a cancel at match time)."""


def working_accounts(database: Database) -> list[int]:
    """Accounts with working paper orders, for the job that calls :meth:`PaperBroker.match` on each."""
    with database.session() as session:
        rows = session.scalars(select(PaperOrder.account_id).where(PaperOrder.status.in_(OPEN)).distinct())
        return sorted(rows)


def base_asset(symbol: str) -> str:
    """What a symbol's holdings are counted in: the base of a pair (``BTC`` of ``BTC/USDT``), else the ticker."""
    return symbol.split("/", 1)[0]


class PaperBroker(Broker):
    """The simulated venue for the trading account ``account_id`` (see the module docstring).

    The account's cash is its ``starting_cash`` on first use, in the account's currency; every market settles in
    that currency (a pair's quote currency is taken to be it, so ``BTC/USDT`` trades against USD cash one to
    one). ``allow_short`` permits sells beyond holdings; ``max_volume_share`` caps what one bar may fill of a
    resting order (0.1: a tenth of the bar's volume), which makes large orders fill over several bars.
    """

    name: ClassVar[str] = "paper"

    def __init__(self, database: Database, account_id: int, feed: PriceFeed, costs: Costs | None = None, *,
                 allow_short: bool = False, max_volume_share: Decimal | None = None) -> None:
        if max_volume_share is not None and not (isinstance(max_volume_share, Decimal)
                                                 and Decimal(0) < max_volume_share <= 1):
            raise InvalidInput(f"max_volume_share must be a Decimal in (0, 1], not {max_volume_share!r}")
        self.database = database
        self.account_id = account_id
        self.feed = feed
        self.costs = costs or Costs()
        self.allow_short = allow_short
        self.max_volume_share = max_volume_share
        self.capabilities = BrokerCapabilities(
            live=False, order_types=frozenset(OrderType), time_in_force=frozenset(TimeInForce), fractional=True,
            short_selling=allow_short, native_replace=True, one_at_a_time=True,
            notes=("alphabook's simulation: no real money moves",
                   "market orders fill at the price feed's quote; resting orders on its completed bars"))

    def __repr__(self) -> str:
        return f"PaperBroker(account_id={self.account_id}, feed={self.feed!r})"

    # ------------------------------------------------------------------------------------------ the contract

    def place(self, order: OrderRequest) -> BrokerOrder:
        [answer] = self.place_many([order])
        if isinstance(answer, AlphabookError):
            raise answer
        return answer

    def place_many(self, orders: Sequence[OrderRequest]) -> list[BrokerOrder | AlphabookError]:
        """One transaction for all of them, under the account's lock, in their sequence (each sees the cash the
        ones before it left); a client id the venue has (from before, or earlier in the batch) is answered with that
        order, looked up under the lock (a repeat costs a quote). Each new order is decided (filled at the quote,
        resting, or refused) before it is inserted, and the accepted ones are written together, with their fills, in
        one flush: a burst of alerts costs a few statements, not a few per order."""
        answers: list[BrokerOrder | AlphabookError | PaperOrder | None] = [None] * len(orders)
        quotes: dict[str, Quote] = {}
        for index, order in enumerate(orders):
            try:
                _check_digits(order)
                quotes[order.symbol] = quotes.get(order.symbol) or self._quote(order.symbol)
            except AlphabookError as error:
                answers[index] = error
        todo = [index for index, answer in enumerate(answers) if answer is None]
        if not todo:
            return [answer for answer in answers if isinstance(answer, AlphabookError)]
        try:
            with self.database.session() as session:
                book = self._load(session)
                placed = {paper.client_order_id: paper for paper in session.scalars(select(PaperOrder).where(
                    PaperOrder.account_id == self.account_id,
                    PaperOrder.client_order_id.in_([orders[index].client_order_id for index in todo])))}
                now = utcnow()
                for index in todo:
                    order = orders[index]
                    paper = placed.get(order.client_order_id)
                    if paper is None:
                        paper = self._new_paper(order, quotes[order.symbol], now)
                        try:
                            self._open(session, book, paper, order, quotes[order.symbol])
                        except InsufficientFunds as refusal:  # the venue keeps no trace of an order it refused
                            answers[index] = refusal
                            continue
                        session.add(paper)
                        placed[order.client_order_id] = paper
                    answers[index] = paper
                session.flush()
                for index in todo:
                    answer = answers[index]
                    answers[index] = self._view(answer) if isinstance(answer, PaperOrder) else answer
        except IntegrityError:  # the unique client id, should the lock ever be bypassed: the first order stands
            for index in todo:
                if len(todo) > 1:  # nothing of the batch was kept: each on its own
                    answers[index] = self.place_many([orders[index]])[0]
                    continue
                found = self.find_order(orders[index].client_order_id, orders[index].symbol)
                if found is None:
                    raise
                answers[index] = found
        return [answer for answer in answers if isinstance(answer, BrokerOrder | AlphabookError)]

    def cancel(self, broker_order_id: str, symbol: str) -> BrokerOrder:
        with self.database.session() as session:
            book = self._lock(session)
            paper = self._get(session, broker_order_id, symbol)
            if paper.status in OPEN:
                self._finish(paper, OrderStatus.CANCELED, "canceled on request")
                book.updated_at = utcnow()
            return self._view(paper)

    def replace(self, broker_order_id: str, symbol: str, replacement: OrderRequest) -> BrokerOrder:
        """Natively, in one transaction: the old order is cancelled and the new one placed under the account's
        lock, so nothing can fill in between, and if the new one is refused (InsufficientFunds) the old one is
        still working. The replacement carries its full quantity (what the old one filled stays filled)."""
        _check_digits(replacement)
        first = self.find_order(replacement.client_order_id, replacement.symbol)
        if first is not None:  # a retried replace: it already happened
            return first
        if replacement.symbol != symbol:
            raise RejectedError(f"A replacement must trade {symbol}, not {replacement.symbol}.")
        quote = self._quote(symbol)
        with self.database.session() as session:
            book = self._load(session)
            old = self._get(session, broker_order_id, symbol)
            if old.status == OrderStatus.FILLED.value:
                raise RejectedError(f"Order {broker_order_id} filled before it could be replaced.")
            if old.status not in OPEN:
                raise RejectedError(f"Order {broker_order_id} is {old.status}: there is nothing to replace.")
            self._finish(old, OrderStatus.CANCELED, f"replaced by {replacement.client_order_id}")
            new = self._new_paper(replacement, quote, utcnow())
            new.replaces_id = old.id
            self._open(session, book, new, replacement, quote)
            session.add(new)
            session.flush()
            return self._view(new)

    def fetch_order(self, broker_order_id: str, symbol: str) -> BrokerOrder:
        with self.database.session() as session:
            return self._view(self._get(session, broker_order_id, symbol))

    def find_order(self, client_order_id: str, symbol: str) -> BrokerOrder | None:
        with self.database.session() as session:
            paper = self._by_client_id(session, client_order_id)
            return self._view(paper) if paper is not None and paper.symbol == symbol else None

    def positions(self) -> list[Position]:
        with self.database.session() as session:
            rows = session.scalars(select(PaperPosition).where(PaperPosition.account_id == self.account_id)
                                   .order_by(PaperPosition.symbol))
            return [Position(row.symbol, row.quantity, row.average_price) for row in rows if row.quantity != 0]

    def balances(self) -> list[Balance]:
        """Cash (available: not held back by working orders or locked by shorts) and each asset held, by currency."""
        with self.database.session() as session:
            book = session.get(PaperAccount, self.account_id)
            if book is None:
                account = self._account(session)
                cash = plain(account.starting_cash.to_decimal())
                return [Balance(account.currency, cash, cash)]
            open_orders = self._open_orders(session)
            positions = self._positions(session)
            held: dict[str, Decimal] = defaultdict(Decimal)
            reserved: dict[str, Decimal] = defaultdict(Decimal)
            for position in positions.values():
                held[base_asset(position.symbol)] += position.quantity
            for paper in open_orders:
                reserved[base_asset(paper.symbol)] += paper.reserved_quantity
            assets = [Balance(asset, held[asset], max(held[asset], Decimal(0)) - reserved[asset])
                      for asset in sorted(held) if held[asset] != 0]
            available = self._available_cash(book, open_orders, positions)
            return sorted([Balance(book.currency, book.cash, available), *assets], key=lambda row: row.currency)

    # ---------------------------------------------------------------------------------------------- matching

    def refresh(self, working: Sequence[tuple[str, str]]) -> list[BrokerOrder]:
        """Advance the matching (see :meth:`match`): every working order of the account is evaluated, not only
        ``working``, since a simulated venue's bars move them all."""
        return self.match()

    def match(self) -> list[BrokerOrder]:
        """Walk this account's working orders through the bars completed since each was last evaluated, and
        expire ``DAY`` orders whose UTC day has ended; return every order that changed, oldest first.

        Bars are processed in time order across symbols and, within a bar, orders by age (time priority). A
        symbol whose bars the feed cannot give now (TemporaryError, RejectedError) is left for the next call.
        """
        with self.database.session() as session:
            pending = self._open_orders(session)
        if not pending:
            return []
        since: dict[str, datetime] = {}
        for paper in pending:
            since[paper.symbol] = min(since.get(paper.symbol, paper.evaluated_from), paper.evaluated_from)
        bars: list[Bar] = []
        for symbol, moment in since.items():
            try:
                bars.extend(self.feed.bars_since(symbol, moment))
            except (TemporaryError, RejectedError):
                continue
        bars.sort(key=lambda bar: bar.opened_at)
        now = utcnow()
        changed: dict[int, PaperOrder] = {}
        with self.database.session() as session:
            book = self._load(session)
            orders = list(book.working)
            for bar in bars:
                for paper in orders:
                    if paper.symbol == bar.symbol and paper.status in OPEN and self._on_bar(session, book, paper, bar):
                        changed[paper.id] = paper
            for paper in orders:
                if paper.status in OPEN and paper.expires_at is not None and paper.expires_at <= now:
                    self._finish(paper, OrderStatus.EXPIRED, "DAY order: its UTC day ended")
                    changed[paper.id] = paper
            book.account.updated_at = now
            session.flush()
            return [self._view(paper) for _, paper in sorted(changed.items())]

    def _on_bar(self, session: Session, book: _Book, paper: PaperOrder, bar: Bar) -> bool:
        """Match one order against one bar; whether the order changed."""
        if bar.opened_at < paper.evaluated_from:
            return False
        if paper.expires_at is not None and bar.opened_at >= paper.expires_at:
            self._finish(paper, OrderStatus.EXPIRED, "DAY order: its UTC day ended")
            return True
        paper.evaluated_from = bar.closes_at
        outcome = on_bar(_working(paper), bar)
        changed = False
        if outcome.triggered and paper.triggered_at is None:
            paper.triggered_at, changed = bar.opened_at, True
        if outcome.price is None:
            return changed
        quantity = paper.quantity - paper.filled_quantity
        if self.max_volume_share is not None:
            quantity = min(quantity, (bar.volume * self.max_volume_share).quantize(_QUANTITY_STEP, ROUND_DOWN))
            if quantity <= 0:
                return changed
        price = outcome.price
        if outcome.taker:
            price = _capped(paper, self.costs.taker_price(price, Side(paper.side), quantity, bar.volume))
        try:
            self._fill(session, book, paper, quantity, price, maker=not outcome.taker, at=bar.closes_at)
        except _Unaffordable as error:
            self._finish(paper, OrderStatus.CANCELED, f"insufficient funds when it filled: {error}")
        return True

    # ----------------------------------------------------------------------------------------------- the book

    def _new_paper(self, order: OrderRequest, quote: Quote, now: datetime) -> PaperOrder:
        zero = Decimal(0)
        return PaperOrder(
            account_id=self.account_id, client_order_id=order.client_order_id, symbol=order.symbol,
            side=order.side.value, type=order.type.value, time_in_force=order.time_in_force.value,
            quantity=order.quantity, limit_price=order.limit_price, stop_price=order.stop_price,
            status=OrderStatus.NEW.value, filled_quantity=zero, average_price=None, fees=zero, reserved_cash=zero,
            reserved_quantity=zero, triggered_at=None, evaluated_from=quote.at,
            expires_at=_next_midnight(now) if order.time_in_force is TimeInForce.DAY else None,
            replaces_id=None, reason=None, created_at=now, updated_at=now, fills=[])  # new: nothing to load

    def _open(self, session: Session, book: _Book, paper: PaperOrder, order: OrderRequest, quote: Quote) -> None:
        """Decide ``paper`` before it is inserted: fill it at the quote if it is marketable, else make it rest,
        holding back funds. InsufficientFunds when the account cannot pay; the book has not changed then."""
        now = paper.created_at
        outcome = at_quote(_working(paper), quote)
        if outcome.triggered and order.type in (OrderType.STOP, OrderType.STOP_LIMIT):
            paper.triggered_at = now
        if outcome.price is not None:
            price = _capped(paper, self.costs.taker_price(outcome.price, order.side, order.quantity, quote.volume))
            try:
                self._fill(session, book, paper, order.quantity, price, maker=False, at=now)
            except _Unaffordable as error:
                raise InsufficientFunds(str(error)) from error
        elif order.time_in_force is TimeInForce.IOC:
            self._finish(paper, OrderStatus.CANCELED, "IOC: nothing could fill at once")
        else:
            self._hold_back(book, paper, check=True)
            book.working.append(paper)
        book.account.updated_at = now

    def _fill(self, session: Session, book: _Book, paper: PaperOrder, quantity: Decimal, price: Decimal, *,
              maker: bool, at: datetime) -> None:
        """Execute ``quantity`` of ``paper`` at ``price``, moving cash and holdings; _Unaffordable if it cannot."""
        side = Side(paper.side)
        fee = self.costs.fee(quantity, price, maker=maker, first_fill=paper.filled_quantity == 0)
        notional = exact(quantity * price)
        position = book.positions.get(paper.symbol) or PaperPosition(
            account_id=self.account_id, symbol=paper.symbol, quantity=Decimal(0), average_price=Decimal(0))
        others = book.others(paper)
        available = self._available_cash(book.account, others, book.positions)
        if side is Side.BUY:
            covered = min(quantity, max(-position.quantity, Decimal(0)))
            available += 2 * covered * position.average_price  # covering a short frees what it locked
            if notional + fee > available:
                raise _Unaffordable(f"buying {quantity} {paper.symbol} at {price} costs {notional + fee} "
                                    f"{book.account.currency} with fees; {exact(available)} is available")
        else:
            holdings = max(position.quantity, Decimal(0)) - sum(
                (other.reserved_quantity for other in others if other.symbol == paper.symbol), Decimal(0))
            short = quantity - min(quantity, max(holdings, Decimal(0)))
            if short > 0 and not self.allow_short:
                raise _Unaffordable(f"selling {quantity} {paper.symbol} needs that many held; "
                                    f"{max(holdings, Decimal(0))} are (short selling is off)")
            if short > 0 and exact(short * price) + fee > available:
                raise _Unaffordable(f"shorting {short} {paper.symbol} at {price} needs {exact(short * price) + fee} "
                                    f"{book.account.currency} of collateral; {exact(available)} is available")
        _move_position(position, side, quantity, price)
        position.updated_at = at
        if paper.symbol not in book.positions:
            session.add(position)
            book.positions[paper.symbol] = position
        cash = book.account.cash
        book.account.cash = cash - notional - fee if side is Side.BUY else cash + notional - fee
        filled = paper.filled_quantity + quantity
        paper.average_price = exact(((paper.average_price or Decimal(0)) * paper.filled_quantity
                                     + quantity * price) / filled)
        paper.filled_quantity = filled
        paper.fees += fee
        paper.fills.append(PaperFill(fill_id=f"{paper.client_order_id}-{len(paper.fills) + 1}", quantity=quantity,
                                     price=price, fee=fee, fee_currency=book.account.currency,
                                     liquidity="maker" if maker else "taker", at=at))
        if filled >= paper.quantity:
            self._finish(paper, OrderStatus.FILLED, None)
        else:
            paper.status = OrderStatus.PARTIALLY_FILLED.value
            paper.updated_at = utcnow()
            self._hold_back(book, paper, check=False)

    def _hold_back(self, book: _Book, paper: PaperOrder, *, check: bool) -> None:
        """Set what a resting order holds back for its unfilled part; with ``check``, InsufficientFunds when the
        account does not have it (a new order), else hold what there is (a partly filled one shrinking)."""
        remaining = paper.quantity - paper.filled_quantity
        reference = paper.limit_price or paper.stop_price or paper.average_price
        assert reference is not None  # a resting order has a limit or a stop; a partly filled one, a price
        cost = exact(remaining * reference) + self.costs.worst_fee(remaining, reference)
        positions = book.positions
        others = book.others(paper)
        if paper.side == Side.BUY.value:
            paper.reserved_cash, paper.reserved_quantity = cost, Decimal(0)
        else:
            position = positions.get(paper.symbol)
            holdings = (max(position.quantity, Decimal(0)) if position else Decimal(0)) - sum(
                (other.reserved_quantity for other in others if other.symbol == paper.symbol), Decimal(0))
            paper.reserved_quantity = min(remaining, max(holdings, Decimal(0)))
            short = remaining - paper.reserved_quantity
            if short > 0 and not self.allow_short and check:
                raise InsufficientFunds(f"Selling {remaining} {paper.symbol} needs that many held; "
                                        f"{paper.reserved_quantity} are free (short selling is off).")
            paper.reserved_cash = (exact(short * reference) + self.costs.worst_fee(short, reference)
                                   if short > 0 else Decimal(0))
        available = self._available_cash(book.account, others, positions)
        if check and paper.reserved_cash > available:
            raise InsufficientFunds(f"This order holds back {paper.reserved_cash} {book.account.currency} until it "
                                    f"fills; {exact(available)} is available.")

    def _finish(self, paper: PaperOrder, status: OrderStatus, reason: str | None) -> None:
        paper.status = status.value
        paper.reason = reason
        paper.reserved_cash = paper.reserved_quantity = Decimal(0)
        paper.updated_at = utcnow()

    def _available_cash(self, book: PaperAccount, open_orders: list[PaperOrder],
                        positions: dict[str, PaperPosition]) -> Decimal:
        held_back = sum((paper.reserved_cash for paper in open_orders), Decimal(0))
        locked = sum((2 * -position.quantity * position.average_price
                      for position in positions.values() if position.quantity < 0), Decimal(0))
        return book.cash - held_back - locked

    # ---------------------------------------------------------------------------------------------- lookups

    def _quote(self, symbol: str) -> Quote:
        return self.feed.quote(symbol)

    def _account(self, session: Session) -> TradingAccount:
        account = session.get(TradingAccount, self.account_id)
        if account is None:
            raise RejectedError(f"The paper venue has no trading account {self.account_id}.")
        return account

    def _lock(self, session: Session) -> PaperAccount:
        """The account's book row, locked for this transaction; made from the starting cash on first use."""
        locked = select(PaperAccount).where(PaperAccount.account_id == self.account_id).with_for_update()
        book = session.scalar(locked)
        if book is None:
            account = self._account(session)
            now = utcnow()
            try:
                with session.begin_nested():
                    session.add(PaperAccount(account_id=self.account_id, currency=account.currency,
                                             cash=account.starting_cash.to_decimal(), created_at=now, updated_at=now))
            except IntegrityError:  # another transaction made it first; the select below waits for its lock
                pass
            book = session.scalar(locked.execution_options(populate_existing=True))
            assert book is not None
        return book

    def _load(self, session: Session) -> _Book:
        """The account's book under its lock: cash, positions and working orders, read once per transaction."""
        account = self._lock(session)
        return _Book(account, self._positions(session), self._open_orders(session))

    def _open_orders(self, session: Session) -> list[PaperOrder]:
        return list(session.scalars(select(PaperOrder).where(PaperOrder.account_id == self.account_id,
                                                             PaperOrder.status.in_(OPEN)).order_by(PaperOrder.id)))

    def _positions(self, session: Session) -> dict[str, PaperPosition]:
        rows = session.scalars(select(PaperPosition).where(PaperPosition.account_id == self.account_id))
        return {row.symbol: row for row in rows}

    def _by_client_id(self, session: Session, client_order_id: str) -> PaperOrder | None:
        return session.scalar(select(PaperOrder).where(PaperOrder.account_id == self.account_id,
                                                       PaperOrder.client_order_id == client_order_id))

    def _get(self, session: Session, broker_order_id: str, symbol: str) -> PaperOrder:
        paper = session.get(PaperOrder, int(broker_order_id)) if broker_order_id.isdigit() else None
        if paper is None or paper.account_id != self.account_id or paper.symbol != symbol:
            raise RejectedError(f"The paper venue has no order {broker_order_id!r} for {symbol} in this account.")
        return paper

    def _view(self, paper: PaperOrder) -> BrokerOrder:
        fills = tuple(Fill(fill.fill_id, plain(fill.quantity), plain(fill.price), plain(fill.fee), fill.fee_currency,
                           fill.at) for fill in paper.fills)
        average = None if paper.average_price is None else plain(paper.average_price)
        return BrokerOrder(str(paper.id), paper.client_order_id, paper.symbol, OrderStatus(paper.status),
                           plain(paper.filled_quantity), average, fills, paper.reason)


@dataclass(slots=True)
class _Book:
    """An account's side of the venue, read once under its lock and kept current in memory for the rest of the
    transaction (its cash row, positions by symbol, working orders including those placed since), so that placing
    or matching many orders costs no query per order."""

    account: PaperAccount
    positions: dict[str, PaperPosition]
    working: list[PaperOrder]

    def others(self, paper: PaperOrder) -> list[PaperOrder]:
        """The working orders besides ``paper``: what holds back cash and holdings from it."""
        return [other for other in self.working if other is not paper and other.status in OPEN]


def _working(paper: PaperOrder) -> Working:
    return Working(Side(paper.side), OrderType(paper.type), paper.limit_price, paper.stop_price,
                   triggered=paper.triggered_at is not None)


def _capped(paper: PaperOrder, price: Decimal) -> Decimal:
    """A taker price never worse than the order's limit."""
    if paper.limit_price is None:
        return price
    return min(price, paper.limit_price) if paper.side == Side.BUY.value else max(price, paper.limit_price)


def _move_position(position: PaperPosition, side: Side, quantity: Decimal, price: Decimal) -> None:
    """Average cost: adding to a position averages its price in; reducing keeps it; flipping starts afresh."""
    held = position.quantity
    signed = quantity if side is Side.BUY else -quantity
    after = held + signed
    if held == 0 or (held > 0) == (signed > 0):
        position.average_price = exact((abs(held) * position.average_price + quantity * price) / abs(after))
    elif abs(signed) > abs(held):
        position.average_price = price
    position.quantity = after
    if after == 0:
        position.average_price = Decimal(0)


def _next_midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(UTC).date() + timedelta(days=1), time(0), tzinfo=UTC)


def _check_digits(order: OrderRequest) -> None:
    """The venue keeps quantities and prices to 1e-10 and below 1e20, as its NUMERIC(38, 18) columns can."""
    for name in ("quantity", "limit_price", "stop_price"):
        value: Decimal | None = getattr(order, name)
        if value is not None and (value != exact(value) or value.adjusted() >= _MAX_DIGITS):
            raise RejectedError(f"{name} {value} is beyond the paper venue's precision (1e-10 steps, below 1e20).")

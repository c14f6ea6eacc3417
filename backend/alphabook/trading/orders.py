"""The order service: the only code that writes orders, their fills and their outbox messages.

An order is decided in the caller's transaction: :func:`submit` runs the risk checks, writes the ``Order``
(state ``pending``) and its ``OutboxMessage("place")``, audits it and announces it (copy trading follows), and
nothing is sent yet; :func:`submit_many` does the same for a batch of alerts' orders with one insert per table.
The dispatcher (:mod:`alphabook.trading.outbox`) sends them after commit and hands each answer of the broker to
:func:`record`, which is idempotent: the state only moves forward, the broker's ids are kept
once, and each fill is inserted once thanks to the ``(order_id, fill_id)`` unique constraint, then announced.
:func:`cancel` and :func:`replace` go through the outbox too, so they survive crashes the same way.

Client order ids are ours: ``ab-`` and 32 random hex digits (35 characters, within what Alpaca and Binance
accept), unique per account by a constraint; a caller may bring its own (an alert's ``client_id``).
"""

from __future__ import annotations

import importlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached

from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from alphabook.trading import events, locking, risk
from alphabook.trading.accounts import effective_status
from alphabook.trading.brokers.base import BrokerOrder, Fill, OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from alphabook.trading.brokers.registry import is_live
from alphabook.trading.models import (
    AccountStatus,
    Hook,
    Order,
    OrderFill,
    OrderSource,
    OrderState,
    OutboxMessage,
    OutboxStatus,
    TradingAccount,
)

# Copy trading follows every order and fill written here (its listeners close followers' copies when a
# provider goes flat), so any process that writes orders must have loaded it, the dispatcher's too.
importlib.import_module("alphabook.trading.copy")

__all__ = ["ENQUEUED", "FINAL_STATES", "REFUSALS", "OrderIntent", "Refusal", "Wanted", "cancel", "new_client_order_id",
           "open_order", "open_orders", "record", "replace", "request_of", "submit", "submit_many"]

FINAL_STATES = frozenset({OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED, OrderState.EXPIRED,
                          OrderState.FAILED})
_RANK = {OrderState.PENDING: 0, OrderState.NEW: 1, OrderState.PARTIALLY_FILLED: 2}
ENQUEUED = "alphabook.outbox_written"  # a ``Session.info`` key: this transaction wrote outbox messages
#: What :func:`submit` may refuse an order with (RiskRefused and KillSwitchOn are Forbidden).
REFUSALS = (InvalidInput, Conflict, Forbidden)
Refusal = InvalidInput | Conflict | Forbidden
_ORDERS = cast(Table, Order.__table__)
_ORDER_COLUMNS = tuple(column.key for column in _ORDERS.columns if column.key != "id")
#: Orders are inserted with Core, several in one statement; a client order id already taken inserts nothing.
_INSERT_ORDERS = {
    name: insert(_ORDERS).on_conflict_do_nothing(index_elements=["account_id", "client_order_id"])
    .returning(_ORDERS.c.id, _ORDERS.c.account_id, _ORDERS.c.client_order_id)
    for name, insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))}
_INSERT_MESSAGES = cast(Table, OutboxMessage.__table__).insert()

@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order someone wants: an ``OrderRequest`` without its client id yet, plus the price the sender saw."""

    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    client_order_id: str | None = None  # the sender's own, if it has one; else we make one
    reference_price: Decimal | None = None  # e.g. an alert's {{close}}: prices market orders for the risk checks

    def request(self, client_order_id: str) -> OrderRequest:
        """The broker's request (checks itself: InvalidInput names what is wrong)."""
        return OrderRequest(client_order_id=client_order_id, symbol=self.symbol, side=Side(self.side),
                            type=OrderType(self.type), quantity=self.quantity, limit_price=self.limit_price,
                            stop_price=self.stop_price, time_in_force=TimeInForce(self.time_in_force))


@dataclass(frozen=True, slots=True)
class Wanted:
    """An order to decide for ``account``, and the hook it came through (its limits and kill switch apply too)."""

    account: TradingAccount
    intent: OrderIntent
    hook: Hook | None = None


def new_client_order_id() -> str:
    return f"ab-{secrets.token_hex(16)}"


def _intent_of(order: OrderIntent | OrderRequest) -> OrderIntent:
    if isinstance(order, OrderIntent):
        return order
    return OrderIntent(symbol=order.symbol, side=order.side, type=order.type, quantity=order.quantity,
                       limit_price=order.limit_price, stop_price=order.stop_price, time_in_force=order.time_in_force,
                       client_order_id=order.client_order_id)


def submit(session: Session, account: TradingAccount, intent: OrderIntent | OrderRequest, *, source: OrderSource | str,
           hook_id: str | None = None, copied_from_id: int | None = None, actor: str | None = None,
           place: bool = True) -> Order:
    """Decide an order in the caller's transaction: risk checks, then the ``Order`` (pending) and its outbox row.

    Raises RiskRefused / KillSwitchOn (a limit or kill switch said no: a kill switch tripped by the check is
    written in the session, so commit it), InvalidInput (the order itself is malformed), Conflict (the account
    does not trade, or the client order id is taken). ``place=False`` writes no "place" message (a replacement
    travels inside the replaced order's message)."""
    hook = session.get(Hook, hook_id) if hook_id is not None else None
    decided = _decide(session, Wanted(account, _intent_of(intent), hook), OrderSource(source),
                      copied_from_id=copied_from_id, actor=actor, place=place)
    written = _write(session, [decided])[0]
    if isinstance(written, Conflict):
        raise written
    return written


def submit_many(session: Session, wanted: Sequence[Wanted], *, source: OrderSource | str) -> list[Order | Refusal]:
    """:func:`submit` for several orders in one transaction (a batch of alerts): each is an order or the refusal
    :func:`submit` would have raised. Orders whose limits count other orders are checked and written one after
    the other, under their account's lock; the rest, which depend on no other order, are written together: one
    insert each of the orders, their outbox rows and their audit entries."""
    results: list[Order | Refusal | None] = [None] * len(wanted)
    together: list[tuple[int, _Decided]] = []
    for index, item in enumerate(wanted):
        try:
            decided = _decide(session, item, OrderSource(source))
        except REFUSALS as refusal:
            results[index] = refusal
            continue
        if decided.counted:
            results[index] = _write(session, [decided])[0]
        else:
            together.append((index, decided))
    for (index, _), written in zip(together, _write(session, [decided for _, decided in together]), strict=True):
        results[index] = written
    return cast(list[Order | Refusal], results)


@dataclass(slots=True)
class _Decided:
    """An order that passed its checks and is not written yet."""

    order: Order
    place: bool
    actor: str
    counted: bool  # checked against other orders under its account's lock: written before the next is checked


def _decide(session: Session, wanted: Wanted, source: OrderSource, *, copied_from_id: int | None = None,
            actor: str | None = None, place: bool = True) -> _Decided:
    account, hook, intent = wanted.account, wanted.hook, wanted.intent
    counted = risk.counts_orders(account, hook)
    if counted:  # limits that count orders or positions: check them one at a time
        account = locking.lock_account(session, account.id)
        hook = locking.lock_hook(session, hook.id) if hook is not None else None
    status = effective_status(account, utcnow())
    if status != AccountStatus.ACTIVE:
        raise Conflict(f"Account {account.id} is {status.replace('_', '-')}: it trades nothing.")
    client_order_id = intent.client_order_id or new_client_order_id()
    request = intent.request(client_order_id)
    price = request.limit_price or request.stop_price or intent.reference_price
    risk.check(session, account, risk.Proposed(request.symbol, request.side, request.quantity, price), hook=hook,
               broker_is_live=is_live(session, account))
    now = utcnow()
    hook_id = hook.id if hook is not None else None
    order = Order(account_id=account.id, client_order_id=client_order_id, source=source.value, hook_id=hook_id,
                  copied_from_id=copied_from_id, symbol=request.symbol, side=request.side.value,
                  type=request.type.value, time_in_force=request.time_in_force.value, quantity=request.quantity,
                  limit_price=request.limit_price, stop_price=request.stop_price, state=OrderState.PENDING.value,
                  broker_order_id=None, filled_quantity=Decimal(0), average_price=None, reason=None, created_at=now,
                  updated_at=now)
    who = actor or (f"hook:{hook_id}" if hook_id else f"copy:{copied_from_id}" if copied_from_id else "system")
    return _Decided(order, place, who, counted)


def _write(session: Session, decided: Sequence[_Decided]) -> list[Order | Conflict]:
    """Insert the orders in one statement; an order whose client id its account already uses is not written and
    becomes a Conflict (on PostgreSQL after waiting for a simultaneous writer of the same id to commit or not).
    Each written order is then enqueued, audited and announced (copy trading follows it)."""
    if not decided:
        return []
    session.flush()  # what the session holds first (e.g. the account these orders belong to)
    connection = session.connection()
    statement = _INSERT_ORDERS[connection.dialect.name]
    rows = [{column: getattr(item.order, column) for column in _ORDER_COLUMNS} for item in decided]
    ids = {(account_id, client_order_id): order_id
           for order_id, account_id, client_order_id in connection.execute(statement, rows)}
    written: list[Order | Conflict] = []
    for item in decided:
        order = item.order
        order_id = ids.pop((order.account_id, order.client_order_id), None)
        if order_id is None:
            written.append(Conflict(f"Client order id {order.client_order_id!r} is already used by another order of "
                                    f"account {order.account_id}; send a new one."))
            continue
        order.id = order_id
        make_transient_to_detached(order)  # inserted above: the session holds it as if it had loaded it
        session.add(order)
        written.append(order)
    placed = [(item, order) for item, order in zip(decided, written, strict=True) if isinstance(order, Order)]
    _enqueue(session, [(order, "place", {}) for item, order in placed if item.place], decided[0].order.created_at)
    audit.record_many(session, [audit.Entry(
        item.actor, "order.submitted", f"order:{order.id}",
        {"account_id": order.account_id, "client_order_id": order.client_order_id, "source": order.source,
         "hook_id": order.hook_id, "copied_from_id": order.copied_from_id, "symbol": order.symbol, "side": order.side,
         "type": order.type, "quantity": f"{order.quantity:f}", "limit_price": _text(order.limit_price),
         "stop_price": _text(order.stop_price), "time_in_force": order.time_in_force}) for item, order in placed])
    for _, order in placed:
        events.announce_order(session, order)
    return written


def _enqueue(session: Session, messages: Sequence[tuple[Order, str, dict[str, Any]]], now: datetime) -> None:
    """Write outbox messages (order, action, payload) now, in one statement."""
    if not messages:
        return
    session.connection().execute(_INSERT_MESSAGES, [
        {"order_id": order.id, "action": action, "payload": payload, "status": OutboxStatus.PENDING.value,
         "attempts": 0, "next_attempt_at": now, "claimed_until": None, "last_error": None, "created_at": now,
         "updated_at": now} for order, action, payload in messages])
    session.info[ENQUEUED] = True  # read after the commit: this process's dispatchers are woken (outbox.py)


def request_of(order: Order) -> OrderRequest:
    """The broker request an order row stands for."""
    return OrderRequest(client_order_id=order.client_order_id, symbol=order.symbol, side=Side(order.side),
                        type=OrderType(order.type), quantity=order.quantity, limit_price=order.limit_price,
                        stop_price=order.stop_price, time_in_force=TimeInForce(order.time_in_force))


def record(session: Session, order: Order, view: BrokerOrder, *, actor: str = "dispatcher",
           locked: bool = False) -> list[OrderFill]:
    """Apply the broker's view of ``order``; returns the fills seen for the first time (already announced).

    Safe to call any number of times with any mix of old and new views: a final state is never left, the filled
    quantity never shrinks, and a fill already recorded is not inserted again (the unique constraint decides).
    The order's row is locked first, unless the caller says it holds the lock (``locked``, as the dispatcher)."""
    if not locked:
        order = locking.lock_order(session, order.id)
    if view.client_order_id != order.client_order_id:
        raise InvalidInput(f"The broker's answer is for {view.client_order_id!r}, not order {order.id} "
                           f"({order.client_order_id!r}).")
    now, before, first = utcnow(), order.state, order.broker_order_id is None
    if first:
        order.broker_order_id = view.broker_order_id
    new_fills = _record_fills(session, order, view, first=first)
    if view.filled_quantity > order.filled_quantity:
        order.filled_quantity, order.average_price = view.filled_quantity, view.average_price
    state = OrderState(view.status.value)
    current = OrderState(order.state)
    if current not in FINAL_STATES and (state in FINAL_STATES or _RANK[state] > _RANK[current]):
        order.state = state.value
        if view.reason and view.status in (OrderStatus.REJECTED, OrderStatus.CANCELED, OrderStatus.EXPIRED):
            order.reason = view.reason
    if order.state != before or new_fills:
        order.updated_at = now
        audit.record(session, actor=actor, action="order.updated", subject=f"order:{order.id}",
                     account_id=order.account_id, state=order.state, previous=before,
                     broker_order_id=order.broker_order_id, filled_quantity=f"{order.filled_quantity:f}",
                     new_fills=[fill.fill_id for fill in new_fills], reason=order.reason)
    for fill in new_fills:
        events.announce_fill(session, order, fill)
    return new_fills


def _record_fills(session: Session, order: Order, view: BrokerOrder, *, first: bool) -> list[OrderFill]:
    fills = list(view.fills)
    if not fills and view.filled_quantity > order.filled_quantity and view.average_price is not None:
        fills = [_implied_fill(order, view)]
    if not fills:
        return []
    if first:
        # The broker's first answer (fills are recorded only here, after the broker's id), under the order's
        # lock: none of its fills can be known yet, so they are inserted with the rest of the transaction (a
        # dispatcher's round writes them all in one statement).
        rows = [_fill_row(order, fill) for fill in fills]
        session.add_all(rows)
        return rows
    known = set(session.scalars(select(OrderFill.fill_id).where(OrderFill.order_id == order.id)))
    added = []
    for fill in fills:
        if fill.fill_id in known:
            continue
        row = _fill_row(order, fill)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            continue  # recorded meanwhile by another dispatcher: already done
        added.append(row)
    return added


def _fill_row(order: Order, fill: Fill) -> OrderFill:
    return OrderFill(order_id=order.id, fill_id=fill.fill_id, quantity=fill.quantity, price=fill.price, fee=fill.fee,
                     fee_currency=fill.fee_currency, at=fill.at)


def _implied_fill(order: Order, view: BrokerOrder) -> Fill:
    """A venue that reports cumulative figures only: the difference since our last view, named by the cumulative
    quantity it reaches, so seeing the same view twice implies the same fill id."""
    assert view.average_price is not None
    quantity = view.filled_quantity - order.filled_quantity
    spent = view.filled_quantity * view.average_price - order.filled_quantity * (order.average_price or Decimal(0))
    return Fill(fill_id=f"cum-{view.filled_quantity:f}"[:64], quantity=quantity, price=spent / quantity,
                fee=Decimal(0), fee_currency="", at=utcnow())


def cancel(session: Session, order: Order, *, actor: str, reason: str | None = None) -> Order:
    """Cancel ``order``: at once if it was never sent, else through the outbox (the broker's answer is recorded).

    Raises Conflict when the order is already final. Asking twice enqueues one cancel."""
    locking.lock_account(session, order.account_id)
    order = locking.lock_order(session, order.id)
    if OrderState(order.state) in FINAL_STATES:
        raise Conflict(f"Order {order.id} is already {order.state}; there is nothing to cancel.")
    messages = list(session.scalars(select(OutboxMessage).where(
        OutboxMessage.order_id == order.id, OutboxMessage.status == OutboxStatus.PENDING.value)
        .order_by(OutboxMessage.id).with_for_update(key_share=True).execution_options(populate_existing=True)))
    now = utcnow()
    place = next((m for m in messages if m.action == "place"), None)
    if (order.state == OrderState.PENDING and place is not None and place.attempts == 0
            and (place.claimed_until is None or place.claimed_until <= now)):
        # Never handed to a broker: nothing can exist at the venue, so it is cancelled here and now.
        place.status, place.last_error, place.updated_at = OutboxStatus.DONE.value, "cancelled before sending", now
        order.state, order.reason, order.updated_at = OrderState.CANCELED.value, reason or "cancelled", now
        audit.record(session, actor=actor, action="order.cancelled", subject=f"order:{order.id}",
                     account_id=order.account_id, before_sending=True, reason=reason)
        return order
    if not any(m.action == "cancel" for m in messages):
        _enqueue(session, [(order, "cancel", {"reason": reason} if reason else {})], now)
        audit.record(session, actor=actor, action="order.cancel_requested", subject=f"order:{order.id}",
                     account_id=order.account_id, reason=reason)
    return order


def replace(session: Session, order: Order, *, actor: str, quantity: Decimal | None = None,
            limit_price: Decimal | None = None, stop_price: Decimal | None = None) -> Order:
    """Replace a working order with a new one (new client id, same side and symbol); returns the new order.

    The replacement goes through the risk checks like any order, and through the outbox as a ``replace`` of the
    old one: the broker cancels the old order and places the new one (or amends in place where it can)."""
    locking.lock_account(session, order.account_id)
    old = locking.lock_order(session, order.id)
    if OrderState(old.state) in FINAL_STATES:
        raise Conflict(f"Order {old.id} is already {old.state}; place a new order instead.")
    intent = OrderIntent(symbol=old.symbol, side=Side(old.side), type=OrderType(old.type),
                         quantity=quantity if quantity is not None else old.quantity,
                         limit_price=limit_price if limit_price is not None else old.limit_price,
                         stop_price=stop_price if stop_price is not None else old.stop_price,
                         time_in_force=TimeInForce(old.time_in_force))
    account = session.get(TradingAccount, old.account_id)
    assert account is not None
    new = submit(session, account, intent, source=old.source, hook_id=old.hook_id, copied_from_id=old.copied_from_id,
                 actor=actor, place=False)
    _enqueue(session, [(old, "replace", {"replacement_order_id": new.id})], utcnow())
    audit.record(session, actor=actor, action="order.replace_requested", subject=f"order:{old.id}",
                 account_id=old.account_id, replacement_order_id=new.id)
    return new


def open_orders(session: Session, account: TradingAccount) -> list[Order]:
    """``account``'s orders that may still fill (pending, working, partly filled), oldest first: what a trader
    can cancel."""
    return list(session.scalars(select(Order).where(Order.account_id == account.id,
                                                    Order.state.not_in([state.value for state in FINAL_STATES]))
                                .order_by(Order.id)))


def open_order(session: Session, account: TradingAccount, order_id: int) -> Order:
    """One of ``account``'s orders that may still fill; NotFound for another account's (ids cannot be probed),
    Conflict for one that is already final."""
    order = session.get(Order, order_id)
    if order is None or order.account_id != account.id:
        raise NotFound(f"Account {account.id} has no order {order_id}.")
    if OrderState(order.state) in FINAL_STATES:
        raise Conflict(f"Order {order.id} is already {order.state}; there is nothing to cancel.")
    return order


def _text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"

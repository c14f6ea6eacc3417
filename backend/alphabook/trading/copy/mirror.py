"""Mirroring: a provider's orders copied into followers' accounts, and copies closed so none is left behind.

**Copying.** :func:`mirror_order` listens to every order written (:func:`alphabook.trading.events.on_order`).
For an order on a provider's account that is not itself a copy, it writes one order per active subscription into
the follower's account through the order service (``source="copy"``, ``copied_from_id`` the provider's order),
inside the transaction that wrote the provider's order: both commit, or neither does. The part of the provider's
order that *reduces* their position is copied as the same fraction of the follower's copied position (the
provider sells half, the follower sells half of what copying gave them), so scaling and caps never turn a close
into a new position. The part that *opens* is scaled: ``fixed`` multiplies the quantity by the multiplier,
``proportional`` also by follower equity / provider equity (:func:`.positions.equity`). The follower's limit for
the symbol caps the copied position (the order shrinks to fit); quantities are rounded toward zero to
:data:`QUANTUM`. A subscription that is paused, an account that does not trade, a risk limit or kill switch of
the follower's, or a quantity that rounds to nothing skips the copy, and the journal (:class:`CopyTrade`) says
why. A suspended provider's orders are copied only where they reduce. A replacement (the order service writes it
without a "place" message of its own, and does not say yet which order it replaces) is not copied: the copy of the
replaced order is cancelled by the sweep once the provider's original is, so a follower may miss a replaced order
but never holds it twice.

**Orphans are impossible.** :func:`follow_fill` listens to every fill. When a fill leaves a provider flat in a
symbol, every follower whose copy still holds some of it (beyond what orders already on their way will close)
is closed with a market order, paused or not. When a copy's own order fills after its subscription ended, or
while its provider is flat with nothing working, it is closed too. Cancellations and rejections bring no event,
so :func:`close_orphans` sweeps: it cancels working copies whose provider order ended unfilled, then applies the
closing rule to every copy (a copy whose closing order was rejected). Issue #9 schedules it with
:func:`check_stop_losses`, which closes copies that lost more than the follower's copy stop-loss.

**Ending a subscription** (:func:`flatten`): its working orders that would add to a copied position are
cancelled, and every copied position is closed at market. The follower asked to stop copying; keeping positions
whose exits would never be copied is exactly the orphan this module exists to prevent.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session, SessionTransaction, aliased

from alphabook.core.clock import utcnow
from alphabook.core.errors import AlphabookError
from alphabook.trading import events, locking
from alphabook.trading.brokers.base import OrderType, Side, TimeInForce
from alphabook.trading.copy.models import (
    CopyTrade,
    CopyTradeAction,
    ProviderStatus,
    Scaling,
    SignalProvider,
    Subscription,
    SubscriptionStatus,
)
from alphabook.trading.copy.positions import (
    FINAL_STATES,
    account_holding,
    copied_executions,
    copied_holding,
    copied_symbols,
    equity,
    latest_prices,
    signed,
)
from alphabook.trading.models import Order, OrderFill, OrderSource, OrderState, OutboxMessage, TradingAccount
from alphabook.trading.portfolio import Ledger

__all__ = ["QUANTUM", "check_stop_losses", "close_orphans", "flatten", "follow_fill", "mirror_order",
           "position_limit"]

# _import_note: the order service is imported inside the functions that call it. It imports the whole schema
# (alphabook.models, through trading.accounts), which imports this package to register the listeners below, so
# a module-level import here would be circular; registering here is what guarantees that every process writing
# orders has the listeners.
QUANTUM = Decimal("1e-8")  # the finest quantity copied (a satoshi); what scaling leaves below it is dropped
ZERO = Decimal(0)
log = logging.getLogger(__name__)


def position_limit(subscription: Subscription, symbol: str) -> Decimal | None:
    """The follower's largest copied position in ``symbol`` (their limit for it, else for ``*``), or None."""
    value = subscription.position_limits.get(symbol, subscription.position_limits.get("*"))
    return Decimal(value) if value is not None else None


def _journal(session: Session, subscription: Subscription, symbol: str, action: CopyTradeAction, *,
             order: Order | None = None, provider_order_id: int | None = None, quantity: Decimal | None = None,
             reason: str | None = None) -> CopyTrade:
    entry = CopyTrade(subscription_id=subscription.id, provider_order_id=provider_order_id,
                      order_id=order.id if order else None, symbol=symbol, action=action, quantity=quantity,
                      reason=reason, at=utcnow())
    session.add(entry)
    session.flush()
    return entry


def _submit(session: Session, subscription: Subscription, account: TradingAccount, symbol: str, quantity: Decimal,
            action: CopyTradeAction, *, template: Order | None = None, provider_order_id: int | None = None,
            reason: str | None = None) -> Order | None:
    """Write one order into the follower's account and journal it; a refusal is journalled as a skip."""
    from alphabook.trading import orders  # (see _import_note)
    side = Side.BUY if quantity > 0 else Side.SELL
    if template is not None:  # a mirror: the provider's order type, prices and time in force
        intent = orders.OrderIntent(
            symbol=symbol, side=side, type=OrderType(template.type), quantity=abs(quantity),
            limit_price=template.limit_price, stop_price=template.stop_price,
            time_in_force=TimeInForce(template.time_in_force), client_order_id=f"cp-{template.id}-{subscription.id}",
            reference_price=latest_prices(session, [symbol]).get(symbol))
    else:  # a close: at market
        intent = orders.OrderIntent(symbol=symbol, side=side, type=OrderType.MARKET, quantity=abs(quantity),
                                    client_order_id=f"cc-{secrets.token_hex(16)}",
                                    reference_price=latest_prices(session, [symbol]).get(symbol))
    try:
        order = orders.submit(session, account, intent, source=OrderSource.COPY, copied_from_id=provider_order_id,
                              actor=f"copy:subscription:{subscription.id}")
    except AlphabookError as refused:
        why = f"{reason}; " if reason else ""
        _journal(session, subscription, symbol, action, provider_order_id=provider_order_id,
                 reason=f"{why}not placed: {refused.detail}")
        return None
    _journal(session, subscription, symbol, action, order=order, provider_order_id=provider_order_id,
             quantity=quantity, reason=reason)
    return order


# --- copying ----------------------------------------------------------------------------------------------


_PROVIDERS = "alphabook.copy.providers"  # a ``Session.info`` key: account id -> its provider (or None)
_PROVIDER_ID = select(SignalProvider.id).where(SignalProvider.account_id == bindparam("account_id"))


def _provider_of(session: Session, account_id: int) -> SignalProvider | None:
    """Asked for every order and fill, so remembered for the session's transaction and forgotten when a provider is
    added or deleted in it: a dispatcher's round of fills then costs one query per account, not one per fill. The
    query reads the provider's id without flushing the session (a flush per round of fills cost more than the
    query), unless the session holds a provider not written yet."""
    known: dict[int, SignalProvider | None] = session.info.setdefault(_PROVIDERS, {})
    if account_id not in known:
        if any(isinstance(instance, SignalProvider) for instance in (*session.new, *session.deleted)):
            session.flush()
        provider_id = session.connection().execute(_PROVIDER_ID, {"account_id": account_id}).scalar()
        known[account_id] = None if provider_id is None else session.get(SignalProvider, provider_id)
    return known[account_id]


@event.listens_for(Session, "transient_to_pending")
@event.listens_for(Session, "persistent_to_deleted")
def _forget_providers_written(session: Session, instance: object) -> None:
    if isinstance(instance, SignalProvider):
        session.info.pop(_PROVIDERS, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_providers(session: Session, transaction: SessionTransaction) -> None:
    """At the end of the transaction, or of a savepoint (its rollback may take a provider back); not at the end of
    the subtransaction every flush runs in, which would forget them at each autoflush."""
    if transaction.parent is None or transaction.nested:
        session.info.pop(_PROVIDERS, None)


def _active(session: Session, provider: SignalProvider) -> list[Subscription]:
    return list(session.scalars(select(Subscription).where(Subscription.provider_id == provider.id,
                                                           Subscription.status == SubscriptionStatus.ACTIVE)
                                .order_by(Subscription.id)))


@events.on_order
def mirror_order(session: Session, order: Order) -> None:
    """Copy a provider's new order to each of their active followers (see the module's docstring)."""
    if order.source == OrderSource.COPY:
        return  # copies are never copied again: no chains, no loops
    provider = _provider_of(session, order.account_id)
    if provider is None or provider.status not in (ProviderStatus.APPROVED, ProviderStatus.SUSPENDED):
        return
    subscriptions = _active(session, provider)
    if not subscriptions:
        return
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.order_id == order.id,
                                                     OutboxMessage.action == "place")) is None:
        for subscription in subscriptions:  # a replacement travels in the replaced order's message
            _journal(session, subscription, order.symbol, CopyTradeAction.MIRROR, provider_order_id=order.id,
                     reason="not copied: the provider replaced a working order, and replacements are not copied; "
                     "the copy of the replaced order is cancelled once it is")
        return
    accounts = {account.id: account for account in
                locking.lock_accounts(session, [each.account_id for each in subscriptions])}
    before = account_holding(session, provider.account_id, order.symbol, leave_out=order.id).exposure
    change = signed(order.side, order.quantity)
    reducing = min(abs(change), abs(before)) if before != 0 and (change > 0) != (before > 0) else ZERO
    opening = abs(change) - reducing
    provider_equity: Decimal | None = None
    for subscription in subscriptions:
        account = accounts[subscription.account_id]
        if subscription.paused:
            _journal(session, subscription, order.symbol, CopyTradeAction.MIRROR, provider_order_id=order.id,
                     reason="paused by the follower")
            continue
        held = copied_holding(session, subscription.id, order.symbol).exposure
        notes: list[str] = []
        closing = ZERO
        if reducing and held != 0 and (held > 0) == (before > 0):
            closing = -held * reducing / abs(before)
        scale = subscription.multiplier
        opened = opening
        if opened and provider.status != ProviderStatus.APPROVED:
            opened, notes = ZERO, [*notes, f"provider {provider.status}: only reductions are copied"]
        if opened and subscription.scaling == Scaling.PROPORTIONAL:
            provider_account = session.get(TradingAccount, provider.account_id)
            assert provider_account is not None
            provider_equity = provider_equity if provider_equity is not None else equity(session, provider_account)
            follower_equity = equity(session, account)
            if provider_equity <= 0 or follower_equity <= 0:
                opened, notes = ZERO, [*notes, "equity is not positive, so nothing is opened in proportion to it"]
            else:
                scale = scale * follower_equity / provider_equity
        base = held + closing
        target = base + (opened * scale if change > 0 else -opened * scale)
        limit = position_limit(subscription, order.symbol)
        if limit is not None and abs(target) > limit and abs(target) > abs(base):
            bound = max(limit, abs(base)) if (target > 0) == (base > 0) and base != 0 else limit
            target = bound if target > 0 else -bound
            notes.append(f"capped by the follower's limit of {limit:f} {order.symbol}")
        quantity = (target - held).quantize(QUANTUM, rounding=ROUND_DOWN)
        if quantity == 0 or (quantity > 0) != (change > 0):
            _journal(session, subscription, order.symbol, CopyTradeAction.MIRROR, provider_order_id=order.id,
                     reason="; ".join(notes or ["nothing to copy: the scaled quantity rounds to zero"]))
            continue
        _submit(session, subscription, account, order.symbol, quantity, CopyTradeAction.MIRROR, template=order,
                provider_order_id=order.id, reason="; ".join(notes) or None)


# --- closing ----------------------------------------------------------------------------------------------


def _provider_flat(session: Session, provider: SignalProvider, symbol: str) -> bool:
    """Flat in ``symbol`` with nothing working that could change it."""
    holding = account_holding(session, provider.account_id, symbol)
    return holding.filled == 0 and holding.working_buys == 0 and holding.working_sells == 0


def _close_rest(session: Session, subscription: Subscription, symbol: str, reason: str, *,
                provider_order_id: int | None = None) -> Order | None:
    """Close what the subscription's copy still holds in ``symbol`` beyond what is already being closed."""
    quantity = copied_holding(session, subscription.id, symbol).to_close
    if quantity == 0:
        return None
    account = session.get(TradingAccount, subscription.account_id)
    assert account is not None
    return _submit(session, subscription, account, symbol, quantity, CopyTradeAction.CLOSE,
                   provider_order_id=provider_order_id, reason=reason)


def _reconcile(session: Session, subscription: Subscription, symbol: str) -> Order | None:
    """Close a copy in ``symbol`` whose subscription ended, or whose provider is flat with nothing working."""
    if subscription.status == SubscriptionStatus.ENDED:
        return _close_rest(session, subscription, symbol, "the subscription has ended")
    provider = session.get(SignalProvider, subscription.provider_id)
    assert provider is not None
    if _provider_flat(session, provider, symbol):
        return _close_rest(session, subscription, symbol, f"the provider is flat in {symbol}")
    return None


@events.on_fill
def follow_fill(session: Session, order: Order, fill: OrderFill) -> None:
    """Close copies the fill leaves orphaned (see the module's docstring)."""
    if order.source == OrderSource.COPY:
        trade = session.scalar(select(CopyTrade).where(CopyTrade.order_id == order.id))
        subscription = session.get(Subscription, trade.subscription_id) if trade is not None else None
        if subscription is not None:
            _reconcile(session, subscription, order.symbol)
    provider = _provider_of(session, order.account_id)
    if provider is None or account_holding(session, provider.account_id, order.symbol).filled != 0:
        return
    for subscription in _active(session, provider):
        _close_rest(session, subscription, order.symbol, f"the provider closed {order.symbol}",
                    provider_order_id=order.id)


def _cancel(session: Session, subscription: Subscription, order: Order, reason: str, *, actor: str) -> None:
    from alphabook.trading import orders  # (see _import_note)

    try:
        orders.cancel(session, order, actor=actor, reason=reason)
    except AlphabookError as exc:  # finished meanwhile: its fill is reconciled like any other
        log.info("copy order %d not cancelled: %s", order.id, exc.detail)
        return
    _journal(session, subscription, order.symbol, CopyTradeAction.CANCEL, provider_order_id=order.copied_from_id,
             reason=f"copy order {order.id} cancelled: {reason}")


def flatten(session: Session, subscription: Subscription, reason: str, symbols: list[str] | None = None,
            *, actor: str) -> list[Order]:
    """Close the subscription's copied positions (in ``symbols``, else all) at market, after cancelling its
    working orders that would add to them; returns the closing orders written."""
    closes = []
    for symbol in symbols if symbols is not None else copied_symbols(session, subscription.id):
        holding = copied_holding(session, subscription.id, symbol)
        adding = Side.SELL if holding.filled < 0 else Side.BUY
        working = session.scalars(select(Order).join(CopyTrade, CopyTrade.order_id == Order.id).where(
            CopyTrade.subscription_id == subscription.id, Order.symbol == symbol,
            Order.state.not_in([state.value for state in FINAL_STATES])).order_by(Order.id))
        for each in list(working):
            if holding.filled == 0 or each.side == adding:
                _cancel(session, subscription, each, reason, actor=actor)
        closed = _close_rest(session, subscription, symbol, reason)
        if closed is not None:
            closes.append(closed)
    return closes


def check_stop_losses(session: Session, marks: Mapping[str, Decimal] | None = None) -> list[Order]:
    """Close every copied position that has lost more than its subscription's copy stop-loss.

    The loss is against the copy's average entry price, at ``marks`` (a price tick's prices) or else the last
    price traded on the platform. Called by a job or on each price tick; returns the closing orders written."""
    closes = []
    subscriptions = session.scalars(select(Subscription).where(Subscription.status == SubscriptionStatus.ACTIVE,
                                                               Subscription.stop_loss_pct.is_not(None))
                                    .order_by(Subscription.id))
    for subscription in list(subscriptions):
        assert subscription.stop_loss_pct is not None
        copies = Ledger(currency="", starting_cash=Fraction(0))
        for fill in copied_executions(session, subscription.id):
            copies.apply(fill)
        held = {symbol: holding for symbol, holding in copies.holdings.items() if holding.quantity}
        prices = {**latest_prices(session, held), **(marks or {})}
        for symbol, holding in sorted(held.items()):
            entry, mark = holding.average_price, prices.get(symbol)
            if mark is None or entry <= 0:
                continue
            moved = (Fraction(mark) - entry) / entry * 100
            loss_pct = Decimal(-moved.numerator if holding.quantity > 0 else moved.numerator) / moved.denominator
            entry_price = Decimal(entry.numerator) / entry.denominator
            if loss_pct > subscription.stop_loss_pct:
                reason = (f"copy stop-loss: {symbol} is down {loss_pct.quantize(Decimal('0.01'))} % from its "
                          f"entry at {entry_price:f}, beyond {subscription.stop_loss_pct:f} %")
                closes.extend(flatten(session, subscription, reason, [symbol],
                                      actor=f"copy:subscription:{subscription.id}"))
    return closes


def close_orphans(session: Session) -> list[Order]:
    """The sweep issue #9 schedules: cancel working copies whose provider order ended unfilled (cancelled,
    replaced, rejected, expired: those bring no fill, so nothing reacted to them), then close every copied
    position that should be flat and is not. Returns the closing orders written."""
    provider_order = aliased(Order)
    ended = [OrderState.CANCELED.value, OrderState.REJECTED.value, OrderState.EXPIRED.value, OrderState.FAILED.value]
    stale = session.execute(
        select(Order, CopyTrade.subscription_id).join(CopyTrade, CopyTrade.order_id == Order.id)
        .join(provider_order, provider_order.id == CopyTrade.provider_order_id)
        .where(Order.state.not_in([state.value for state in FINAL_STATES]), provider_order.state.in_(ended))
        .order_by(Order.id)).all()
    for order, subscription_id in stale:
        subscription = session.get(Subscription, subscription_id)
        assert subscription is not None
        _cancel(session, subscription, order, f"provider order {order.copied_from_id} ended unfilled",
                actor="copy-sweep")
    closes = []
    ids = session.scalars(select(CopyTrade.subscription_id).where(CopyTrade.order_id.is_not(None)).distinct())
    for subscription_id in sorted(ids):
        subscription = session.get(Subscription, subscription_id)
        assert subscription is not None
        for symbol in copied_symbols(session, subscription.id):
            closed = _reconcile(session, subscription, symbol)
            if closed is not None:
                closes.append(closed)
    return closes

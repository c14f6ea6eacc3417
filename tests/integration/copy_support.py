"""Helpers for the copy-trading tests: people, paper accounts, providers and followers made through the real
services, orders placed through the real order service, and brokers' answers recorded through its ``record``
(what the dispatcher does with a broker's reply), so fills, mirroring and closing run exactly as in production.

Provides :func:`person`, :func:`paper_account`, :func:`approved_provider`, :func:`follow`, :func:`place`,
:func:`fill`, :func:`reject`, :func:`copies_of`, :func:`journal_of`, :data:`LOCAL` (the Local payment provider)
and :func:`settings` (Settings with a home folder and optional overrides).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alphabook.accounts import service
from alphabook.accounts.models import User
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.money import Money
from alphabook.payments.providers.local import LocalProvider
from alphabook.trading import accounts, orders
from alphabook.trading.brokers.base import BrokerOrder, Fill, OrderStatus, OrderType, Side
from alphabook.trading.copy import providers, subscriptions
from alphabook.trading.copy.models import CopyTrade, SignalProvider, Subscription
from alphabook.trading.copy.providers import Claims
from alphabook.trading.copy.subscriptions import CopyRules
from alphabook.trading.models import Order, OrderFill, OrderSource, TradingAccount

SYMBOL = "BTC/USDT"
LOCAL = LocalProvider("whsec_copy_tests", "http://127.0.0.1/checkout")


def settings(home: Path, **overrides: Any) -> Settings:
    return Settings(home=home, **overrides)


def person(session: Session, prefix: str, *, admin: bool = False) -> User:
    roles = ["user", "admin"] if admin else ["user"]
    return service.ensure_user(session, f"{prefix}-{secrets.token_hex(3)}", roles=roles)


def paper_account(session: Session, owner: User, cash: str = "100000") -> TradingAccount:
    return accounts.open_paper_account(session, owner, name="copy", starting_cash=Money.of(cash, "USD"))


def approved_provider(session: Session, settings: Settings, *, cash: str = "100000", price_minor: int = 0,
                      claims: Claims | None = None, name: str = "Steady trend") -> tuple[SignalProvider,
                                                                                        TradingAccount]:
    trader = person(session, "provider")
    account = paper_account(session, trader, cash)
    provider = providers.apply(session, settings, trader, account.id, name=name, description="",
                               price=Money(price_minor, "USD"), claims=claims or Claims())
    providers.approve(session, person(session, "admin", admin=True), provider)
    return provider, account


def follow(session: Session, settings: Settings, provider: SignalProvider, *, cash: str = "100000",
           rules: CopyRules | None = None) -> tuple[Subscription, TradingAccount, User]:
    follower = person(session, "follower")
    account = paper_account(session, follower, cash)
    subscription = subscriptions.subscribe(session, settings, LOCAL, follower, provider, account.id,
                                           rules or CopyRules())
    return subscription, account, follower


def place(session: Session, account: TradingAccount, side: str, quantity: str, *, symbol: str = SYMBOL,
          limit: str | None = None, source: OrderSource = OrderSource.MANUAL) -> Order:
    intent = orders.OrderIntent(symbol=symbol, side=Side(side), type=OrderType.LIMIT if limit else OrderType.MARKET,
                                quantity=Decimal(quantity), limit_price=Decimal(limit) if limit else None)
    return orders.submit(session, account, intent, source=source, actor="test")


def fill(session: Session, order: Order, price: str, *, quantity: str | None = None, fee: str = "0",
         at: datetime | None = None) -> list[OrderFill]:
    """The broker reports ``order`` filled (in full, or ``quantity`` of it so far) at ``price``."""
    done = Decimal(quantity) if quantity is not None else order.quantity
    status = OrderStatus.FILLED if done == order.quantity else OrderStatus.PARTIALLY_FILLED
    previous = sum((each.quantity for each in session.scalars(select(OrderFill).where(
        OrderFill.order_id == order.id))), Decimal(0))
    view = BrokerOrder(broker_order_id=f"b-{order.id}", client_order_id=order.client_order_id, symbol=order.symbol,
                       status=status, filled_quantity=done, average_price=Decimal(price),
                       fills=(Fill(fill_id=f"f-{order.id}-{done:f}", quantity=done - previous, price=Decimal(price),
                                   fee=Decimal(fee), fee_currency="USD", at=at or utcnow()),))
    return orders.record(session, order, view)


def reject(session: Session, order: Order, reason: str = "venue said no") -> None:
    orders.record(session, order, BrokerOrder(broker_order_id=f"b-{order.id}", client_order_id=order.client_order_id,
                                              symbol=order.symbol, status=OrderStatus.REJECTED,
                                              filled_quantity=Decimal(0), average_price=None, reason=reason))


def copies_of(session: Session, order: Order) -> list[Order]:
    """The orders written into followers' accounts for ``order``, by account id."""
    return list(session.scalars(select(Order).where(Order.copied_from_id == order.id).order_by(Order.account_id,
                                                                                               Order.id)))


def orders_in(session: Session, account: TradingAccount) -> list[Order]:
    return list(session.scalars(select(Order).where(Order.account_id == account.id).order_by(Order.id)))


def journal_of(session: Session, subscription: Subscription) -> list[CopyTrade]:
    """The subscription's copy journal, oldest first."""
    return list(session.scalars(select(CopyTrade).where(CopyTrade.subscription_id == subscription.id)
                                .order_by(CopyTrade.id)))

"""Following a provider: subscribe, change the copy rules, pause, resume, unsubscribe.

A follower copies into one of their own active accounts, never the provider's, with their own rules
(:class:`CopyRules`): scaling (``fixed``: the provider's quantity times the multiplier; ``proportional``: also
times follower equity over provider equity, which needs both accounts in one currency), the largest copied
position per symbol (``"*"`` for any other), and a copy stop-loss in percent. One live subscription per
follower and provider (``active_key`` is unique while active), so a double click subscribes once and charges
once. Subscribing charges the first month (:mod:`.billing`); pausing skips new copies, but copies still close
when the provider closes; unsubscribing closes what was copied (:func:`.mirror.flatten`). Each step is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alphabook.accounts.models import Role, User
from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from alphabook.payments.providers import PaymentProvider
from alphabook.trading.copy import billing, mirror
from alphabook.trading.copy.models import (
    CopyTrade,
    ProviderStatus,
    Scaling,
    SignalProvider,
    Subscription,
    SubscriptionStatus,
)
from alphabook.trading.models import AccountStatus, Order, TradingAccount

__all__ = ["MAX_MULTIPLIER", "CopyRules", "change", "find", "journal", "mine", "pause", "resume", "subscribe",
           "unsubscribe"]

MAX_MULTIPLIER = Decimal(1000)


@dataclass(frozen=True, slots=True)
class CopyRules:
    scaling: Scaling = Scaling.FIXED
    multiplier: Decimal = Decimal(1)
    position_limits: Mapping[str, Decimal] = field(default_factory=dict)
    stop_loss_pct: Decimal | None = None


def _stored_limits(rules: CopyRules) -> dict[str, str]:
    """The rules checked, and the limits as the decimal text they are stored as."""
    if rules.scaling not in tuple(Scaling):
        raise InvalidInput(f"Scaling is one of {', '.join(Scaling)}.")
    if not rules.multiplier.is_finite() or not 0 < rules.multiplier <= MAX_MULTIPLIER:
        raise InvalidInput(f"The multiplier must be above 0 and at most {MAX_MULTIPLIER}.")
    stop = rules.stop_loss_pct
    if stop is not None and (not stop.is_finite() or not 0 < stop < 100):
        raise InvalidInput("A copy stop-loss is a percentage above 0 and below 100.")
    limits = {}
    for symbol, limit in rules.position_limits.items():
        if not 1 <= len(symbol) <= 40 or symbol != symbol.strip():
            raise InvalidInput(f"{symbol!r} is not a symbol (or '*' for any symbol).")
        if not limit.is_finite() or limit <= 0:
            raise InvalidInput(f"The position limit for {symbol} must be above 0.")
        limits[symbol] = f"{limit:f}"
    return limits


def _snapshot(subscription: Subscription) -> dict[str, Any]:
    return {"status": subscription.status, "paused": subscription.paused, "scaling": subscription.scaling,
            "multiplier": f"{subscription.multiplier:f}", "position_limits": dict(subscription.position_limits),
            "stop_loss_pct": f"{subscription.stop_loss_pct:f}" if subscription.stop_loss_pct is not None else None}


def _audit(session: Session, actor: User, action: str, subscription: Subscription,
           before: dict[str, Any] | None, **data: Any) -> None:
    audit.record(session, actor=actor.name, action=action, subject=f"copy_subscription:{subscription.id}",
                 provider_id=subscription.provider_id, account_id=subscription.account_id, before=before,
                 after=_snapshot(subscription), **data)


def subscribe(session: Session, settings: Settings, payments: PaymentProvider, follower: User,
              provider: SignalProvider, account_id: int, rules: CopyRules) -> Subscription:
    """Start copying ``provider`` into the follower's account ``account_id``; the first month is charged now."""
    if provider.status != ProviderStatus.APPROVED:
        raise NotFound(f"There is no signal provider {provider.id} taking followers.")
    if provider.user_id == follower.id:
        raise Conflict("You cannot follow yourself.")
    account = session.get(TradingAccount, account_id)
    if account is None or account.owner_id != follower.id:
        raise NotFound(f"No trading account {account_id} of yours.")
    if account.id == provider.account_id:
        raise Conflict("Copy into an account of your own, not the provider's.")
    if account.status != AccountStatus.ACTIVE:
        raise Conflict(f"Account {account.id} is {account.status}; copy into an active account.")
    limits = _stored_limits(rules)
    if rules.scaling == Scaling.PROPORTIONAL:
        source = session.get(TradingAccount, provider.account_id)
        assert source is not None
        if source.currency != account.currency:
            raise InvalidInput(f"Proportional scaling compares equities, and yours is in {account.currency} while "
                               f"the provider's is in {source.currency}; use fixed scaling.")
    now = utcnow()
    subscription = Subscription(
        follower_id=follower.id, provider_id=provider.id, account_id=account.id, scaling=rules.scaling,
        multiplier=rules.multiplier, position_limits=limits, stop_loss_pct=rules.stop_loss_pct, paused=False,
        status=SubscriptionStatus.ACTIVE, active_key=f"{follower.id}:{provider.id}", paid_until=None,
        created_at=now, updated_at=now, ended_at=None)
    try:
        with session.begin_nested():
            session.add(subscription)
            session.flush()
    except IntegrityError:
        raise Conflict(f"You already follow {provider.name}; change that subscription instead.") from None
    _audit(session, follower, "copy.subscription.started", subscription, None,
           price_minor=provider.price_minor, currency=provider.currency)
    billing.charge(session, settings, payments, subscription, provider, period_start=now, actor=follower.name)
    session.flush()
    return subscription


def find(session: Session, user: User, subscription_id: int) -> Subscription:
    """The follower's own subscription (any, for an administrator)."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None or (subscription.follower_id != user.id and not user.has_role(Role.ADMIN.value)):
        raise NotFound(f"There is no subscription {subscription_id} of yours.")
    return subscription


def mine(session: Session, follower: User) -> list[Subscription]:
    return list(session.scalars(select(Subscription).where(Subscription.follower_id == follower.id)
                                .order_by(Subscription.id.desc())))


def _active(subscription: Subscription) -> None:
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise Conflict(f"Subscription {subscription.id} has ended; subscribe again to copy.")


def change(session: Session, user: User, subscription: Subscription, rules: CopyRules) -> Subscription:
    """Replace the copy rules; they apply to the provider's next order."""
    _active(subscription)
    if subscription.follower_id != user.id:
        raise Forbidden("Only the follower changes how they copy.")
    limits = _stored_limits(rules)
    if rules.scaling == Scaling.PROPORTIONAL and subscription.scaling != Scaling.PROPORTIONAL:
        provider = session.get(SignalProvider, subscription.provider_id)
        source = session.get(TradingAccount, provider.account_id) if provider else None
        own = session.get(TradingAccount, subscription.account_id)
        if source is None or own is None or source.currency != own.currency:
            raise InvalidInput("Proportional scaling needs your account and the provider's in one currency.")
    before = _snapshot(subscription)
    subscription.scaling, subscription.multiplier = rules.scaling, rules.multiplier
    subscription.position_limits, subscription.stop_loss_pct = limits, rules.stop_loss_pct
    subscription.updated_at = utcnow()
    _audit(session, user, "copy.subscription.changed", subscription, before)
    session.flush()
    return subscription


def pause(session: Session, user: User, subscription: Subscription) -> Subscription:
    """Stop copying new orders; copies still close when the provider closes."""
    return _set_paused(session, user, subscription, True)


def resume(session: Session, user: User, subscription: Subscription) -> Subscription:
    return _set_paused(session, user, subscription, False)


def _set_paused(session: Session, user: User, subscription: Subscription, paused: bool) -> Subscription:
    _active(subscription)
    if subscription.paused == paused:
        return subscription
    before = _snapshot(subscription)
    subscription.paused, subscription.updated_at = paused, utcnow()
    _audit(session, user, "copy.subscription.paused" if paused else "copy.subscription.resumed", subscription,
           before)
    session.flush()
    return subscription


def unsubscribe(session: Session, user: User, subscription: Subscription) -> list[Order]:
    """End the subscription and close what it copied, at market; returns the closing orders."""
    _active(subscription)
    before = _snapshot(subscription)
    now = utcnow()
    subscription.status, subscription.active_key = SubscriptionStatus.ENDED, None
    subscription.ended_at = subscription.updated_at = now
    session.flush()
    closes = mirror.flatten(session, subscription, "the subscription has ended", actor=user.name)
    _audit(session, user, "copy.subscription.ended", subscription, before,
           closing_orders=[order.id for order in closes])
    return closes


def journal(session: Session, subscription: Subscription, limit: int = 100) -> list[CopyTrade]:
    """What copying did for this subscription, newest first: orders written, copies skipped and why."""
    return list(session.scalars(select(CopyTrade).where(CopyTrade.subscription_id == subscription.id)
                                .order_by(CopyTrade.id.desc()).limit(limit)))

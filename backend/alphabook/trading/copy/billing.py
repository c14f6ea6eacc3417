"""Paying for copy trading: monthly charges booked in the #5 ledger, split 80/20, and providers' payouts.

A paid subscription is charged one month at a time: at subscribe, then by :func:`renew_due` (the job issue #9
schedules) once the paid month is over, starting from the moment it renews (a late job, or a suspension that
stopped renewals, never bills time in arrears). Each charge is one :class:`CopyCharge` row, unique per
subscription and period start, and one balanced ledger transaction (kind ``copy.subscription``): the follower's
payment out of ``buyer-payments``, the provider's share into ``creator:<user id>`` and the platform's into
``platform``, split exactly by :func:`alphabook.core.money.split` with the ``copy-trading`` revenue split (80 %
by default), so the shares always add up to the price to the minor unit.

Money is taken through the installation's :class:`~alphabook.payments.providers.PaymentProvider`. With the
Local provider (the embedded default and demos: test mode, nothing moves) a charge succeeds at once. Stripe
needs a checkout whose completion the payments webhook routes back to the subscription; #5's webhook only knows
purchases of listings, so a paid subscription is refused with a configuration error there until it does.

A provider's earnings sit in the same ``creator:<id>`` account as their marketplace sales, so they are paid by
the #5 payout machinery (:mod:`alphabook.payments.payouts`) like any creator: :func:`earnings` reports what
copy trading brought in over a period and what is payable now, :func:`create_payout` queues (and sends) it.
Unsubscribing refunds nothing: the month paid for simply is not renewed.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alphabook.accounts.models import Role, User
from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import lock_row
from alphabook.core.errors import ConfigurationError, Forbidden, InvalidInput
from alphabook.core.money import Money
from alphabook.payments import ledger, payouts
from alphabook.payments.models import LedgerEntry, Payout
from alphabook.payments.providers import PaymentProvider
from alphabook.payments.purchases import revenue_split
from alphabook.trading.copy.models import CopyCharge, ProviderStatus, SignalProvider, Subscription, SubscriptionStatus

__all__ = ["LEDGER_KIND", "PRODUCT", "Earnings", "add_month", "charge", "create_payout", "earnings", "renew_due"]

PRODUCT = "copy-trading"  # the revenue split's key in Settings.revenue_split
LEDGER_KIND = "copy.subscription"


def add_month(moment: datetime) -> datetime:
    """The same day and time a month later, or the month's last day (31 January -> 28 or 29 February)."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def charge(session: Session, settings: Settings, payments: PaymentProvider, subscription: Subscription,
           provider: SignalProvider, *, period_start: datetime, actor: str) -> CopyCharge | None:
    """Charge one month of ``subscription`` from ``period_start`` at the provider's price and book the split.

    None for a free provider; the earlier charge if this period was charged already. Raises ConfigurationError
    when the payment provider cannot take subscription payments (see the module's docstring)."""
    if provider.price_minor == 0:
        return None
    if payments.name != "local":
        raise ConfigurationError(f"Paid copy-trading subscriptions are not wired to the {payments.name!r} payment "
                                 "provider yet (its webhook knows listing purchases only); use the Local provider "
                                 "or make the provider free.")
    earlier = _charged(session, subscription, period_start)
    if earlier is not None:
        return earlier
    amount = provider.price
    provider_share, platform_share = revenue_split(settings, PRODUCT, amount)
    period_end = add_month(period_start)
    try:
        with session.begin_nested():
            txn = ledger.post(session, LEDGER_KIND, [
                ledger.Leg(ledger.BUYER_PAYMENTS, -amount),
                ledger.Leg(ledger.creator_account(provider.user_id), provider_share),
                ledger.Leg(ledger.PLATFORM, platform_share)])
            row = CopyCharge(subscription_id=subscription.id, provider_id=provider.id, period_start=period_start,
                             period_end=period_end, amount_minor=amount.amount_minor, currency=amount.currency,
                             provider_share_minor=provider_share.amount_minor,
                             platform_share_minor=platform_share.amount_minor, payment_provider=payments.name,
                             ledger_txn=txn, created_at=utcnow())
            session.add(row)
            session.flush()
    except IntegrityError:  # charged at the same moment by another run: that charge (and its ledger rows) stand
        winner = _charged(session, subscription, period_start)
        assert winner is not None
        return winner
    if subscription.paid_until is None or period_end > subscription.paid_until:
        subscription.paid_until = period_end
    audit.record(session, actor=actor, action="copy.subscription.charged",
                 subject=f"copy_subscription:{subscription.id}", charge_id=row.id, provider_id=provider.id,
                 amount_minor=amount.amount_minor, currency=amount.currency,
                 provider_share_minor=provider_share.amount_minor, platform_share_minor=platform_share.amount_minor,
                 period_start=period_start.isoformat(), period_end=period_end.isoformat(), ledger_txn=txn,
                 payment_provider=payments.name)
    return row


def _charged(session: Session, subscription: Subscription, period_start: datetime) -> CopyCharge | None:
    return session.scalar(select(CopyCharge).where(CopyCharge.subscription_id == subscription.id,
                                                   CopyCharge.period_start == period_start))


def renew_due(session: Session, settings: Settings, payments: PaymentProvider, *, now: datetime | None = None,
              actor: str = "copy-billing") -> list[CopyCharge]:
    """Charge the next month of every active subscription whose paid month is over (approved, paid providers)."""
    now = now or utcnow()
    due = session.scalars(select(Subscription.id).join(SignalProvider, SignalProvider.id == Subscription.provider_id)
                          .where(Subscription.status == SubscriptionStatus.ACTIVE, Subscription.paid_until <= now,
                                 SignalProvider.status == ProviderStatus.APPROVED, SignalProvider.price_minor > 0)
                          .order_by(Subscription.id))
    charged = []
    for subscription_id in list(due):
        subscription = lock_row(session, Subscription, subscription_id)
        if subscription is None or subscription.paid_until is None or subscription.paid_until > now:
            continue  # renewed meanwhile by another run
        provider = session.get(SignalProvider, subscription.provider_id)
        assert provider is not None
        row = charge(session, settings, payments, subscription, provider, period_start=now, actor=actor)
        if row is not None:
            charged.append(row)
    return charged


@dataclass(frozen=True, slots=True)
class Earnings:
    """What copy trading brought a provider over a period, from the ledger, and what they can be paid now."""

    provider: SignalProvider
    charges: int
    gross: Money  # what followers paid
    provider_share: Money
    platform_share: Money
    available: Money  # the provider's whole payable balance now (marketplace sales included: one balance each)


def earnings(session: Session, settings: Settings, start: datetime, end: datetime, *,
             provider: SignalProvider | None = None) -> list[Earnings]:
    """Per provider (or for one), the subscription charges booked in ``[start, end)``, by provider id."""
    if end <= start:
        raise InvalidInput("The period must end after it starts.")
    currency = settings.marketplace_currency
    query = (select(CopyCharge.provider_id, CopyCharge.ledger_txn)
             .where(CopyCharge.created_at >= start, CopyCharge.created_at < end))
    if provider is not None:
        query = query.where(CopyCharge.provider_id == provider.id)
    txns: dict[int, list[str]] = {provider.id: []} if provider is not None else {}
    for provider_id, txn in session.execute(query):
        txns.setdefault(provider_id, []).append(txn)
    result = []
    for provider_id in sorted(txns):
        row = provider if provider is not None else session.get(SignalProvider, provider_id)
        assert row is not None
        totals = {account: int(total) for account, total in session.execute(
            select(LedgerEntry.account, func.sum(LedgerEntry.amount_minor))
            .where(LedgerEntry.txn.in_(txns[provider_id]), LedgerEntry.currency == currency)
            .group_by(LedgerEntry.account))} if txns[provider_id] else {}
        result.append(Earnings(
            provider=row, charges=len(txns[provider_id]),
            gross=Money(-totals.get(ledger.BUYER_PAYMENTS, 0), currency),
            provider_share=Money(totals.get(ledger.creator_account(row.user_id), 0), currency),
            platform_share=Money(totals.get(ledger.PLATFORM, 0), currency),
            available=payouts.available(session, row.user_id, currency)))
    return result


def create_payout(session: Session, settings: Settings, payments: PaymentProvider, admin: User,
                  provider: SignalProvider, *, send: bool = True) -> Payout:
    """Queue a payout of the provider's available balance (and send it at once unless ``send`` is False)."""
    if not admin.has_role(Role.ADMIN.value):
        raise Forbidden("Creating payouts is for administrators.")
    user = session.get(User, provider.user_id)
    assert user is not None
    payout = payouts.queue_payout(session, settings, user, actor=admin.name)
    if send:
        payouts.pay(session, payments, payout, actor=admin.name)
    audit.record(session, actor=admin.name, action="copy.payout.created", subject=f"copy_provider:{provider.id}",
                 payout_id=payout.id, amount_minor=payout.amount_minor, currency=payout.currency, status=payout.status)
    return payout

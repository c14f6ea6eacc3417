"""Paying creators: payout accounts, payout requests and the payout worker.

Queuing a payout moves the creator's available balance to the ``payouts`` account at once (so the same
money can never be queued twice); paying it sends the transfer through the provider with the payout's own
idempotency key (a crash between the transfer and our commit is retried without paying twice); a refused
transfer is reversed back onto the creator's balance. A balance below zero (a refund after a payout) is
paid back by later earnings before anything is paid out again. The scheduled run is
:func:`run_payouts` (``alphabook payouts run``; the scheduler of #9 calls it).
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Database, end_transaction, lock_row
from alphabook.core.errors import Conflict, InvalidInput, RejectedError, TemporaryError
from alphabook.core.money import Money
from alphabook.notifications import announce
from alphabook.payments import ledger
from alphabook.payments.models import Payout, PayoutAccount, PayoutStatus
from alphabook.payments.providers import PaymentProvider

__all__ = ["available", "connect_account", "history", "pay", "payout_account", "queue_payout", "run_payouts"]

log = logging.getLogger(__name__)


def connect_account(session: Session, provider: PaymentProvider, user: User) -> tuple[PayoutAccount, str | None]:
    """The creator's payout account (created with the provider on first use) and its onboarding link."""
    account = session.get(PayoutAccount, user.id)
    if account is not None and account.provider == provider.name:
        return account, None
    end_transaction(session)  # no transaction is held across the provider's round trip
    ref, onboarding = provider.create_payout_account(user.id, user.email)  # idempotent per user at the provider
    account = lock_row(session, PayoutAccount, user.id)
    if account is None:
        try:
            with session.begin_nested():
                account = PayoutAccount(user_id=user.id, provider=provider.name, account_ref=ref,
                                        created_at=utcnow())
                session.add(account)
        except IntegrityError:  # a simultaneous request (a double click) stored it first: the same provider account
            account = lock_row(session, PayoutAccount, user.id)
            assert account is not None
            return account, onboarding
    else:
        account.provider, account.account_ref = provider.name, ref
    audit.record(session, actor=user.name, action="payout.account_connected", subject=f"user:{user.id}",
                 provider=provider.name, account_ref=ref)
    session.flush()
    return account, onboarding


def payout_account(session: Session, creator_id: int) -> PayoutAccount | None:
    """Where the creator's payouts go, or None until they connect an account (payouts need one)."""
    return session.get(PayoutAccount, creator_id)


def history(session: Session, creator_id: int) -> list[Payout]:
    """The creator's payouts, newest first: queued, paid, and failed with the provider's reason."""
    return list(session.scalars(select(Payout).where(Payout.creator_id == creator_id).order_by(Payout.id.desc())))


def available(session: Session, creator_id: int, currency: str) -> Money:
    return ledger.balance(session, ledger.creator_account(creator_id), currency)


def queue_payout(session: Session, settings: Settings, creator: User, *, actor: str) -> Payout:
    """Queue a payout of the creator's whole available balance, if it reaches the minimum.

    The payout account's row is locked first: two requests at once queue one payout, the other finds it queued."""
    account = lock_row(session, PayoutAccount, creator.id)
    if account is None:
        raise Conflict("Connect a payout account first (POST /api/payouts/account).")
    if session.scalar(select(Payout.id).where(Payout.creator_id == creator.id,
                                              Payout.status == PayoutStatus.QUEUED)) is not None:
        raise Conflict("A payout is already on its way; wait for it to be paid.")
    currency = settings.marketplace_currency
    amount = available(session, creator.id, currency)
    minimum = Money(settings.payout_minimum_minor, currency)
    if amount < minimum:
        raise InvalidInput(f"Your available balance is {amount}; payouts start at {minimum}.")
    payout = Payout(creator_id=creator.id, amount_minor=amount.amount_minor, currency=currency,
                    provider=account.provider, account_ref=account.account_ref,
                    idempotency_key=f"payout-{uuid.uuid4().hex}", status=PayoutStatus.QUEUED, requested_at=utcnow())
    session.add(payout)
    session.flush()
    ledger.post(session, "payout", [ledger.Leg(ledger.creator_account(creator.id), -amount),
                                     ledger.Leg(ledger.PAYOUTS, amount)], payout_id=payout.id)
    audit.record(session, actor=actor, action="payout.queued", subject=f"payout:{payout.id}",
                 creator=creator.name, amount_minor=amount.amount_minor, currency=currency,
                 after={"status": payout.status})
    return payout


def pay(session: Session, provider: PaymentProvider, payout: Payout, *, actor: str) -> Payout:
    """Send a queued payout; it ends ``paid`` or ``failed`` (and reversed), or stays queued if the provider is down.

    What the caller wrote (the payout's queuing) is committed first, so a crash after the transfer leaves a queued
    payout that the next run sends again under the same idempotency key (the provider pays once); and no
    transaction is held across the provider's round trip. Two runs sending it at once record it once."""
    if payout.status != PayoutStatus.QUEUED:
        return payout
    end_transaction(session)
    try:
        reference = provider.payout(payout.account_ref, payout.amount, payout.idempotency_key, payout.id)
    except TemporaryError as exc:
        log.warning("payout %d stays queued: %s", payout.id, exc.detail)
        return payout
    except RejectedError as exc:
        payout = _still_queued(session, payout)
        if payout.status != PayoutStatus.QUEUED:
            return payout
        payout.status, payout.failure, payout.settled_at = PayoutStatus.FAILED, exc.detail, utcnow()
        ledger.post(session, "payout.reversed", [ledger.Leg(ledger.PAYOUTS, -payout.amount),
                                                 ledger.Leg(ledger.creator_account(payout.creator_id), payout.amount)],
                    payout_id=payout.id)
        audit.record(session, actor=actor, action="payout.failed", subject=f"payout:{payout.id}",
                     reason=exc.detail, before={"status": PayoutStatus.QUEUED}, after={"status": payout.status})
        announce.payout_settled(session, payout)
        return payout
    payout = _still_queued(session, payout)
    if payout.status != PayoutStatus.QUEUED:
        return payout
    payout.status, payout.provider_ref, payout.settled_at = PayoutStatus.PAID, reference, utcnow()
    audit.record(session, actor=actor, action="payout.paid", subject=f"payout:{payout.id}", provider_ref=reference,
                 amount_minor=payout.amount_minor, currency=payout.currency,
                 before={"status": PayoutStatus.QUEUED}, after={"status": payout.status})
    announce.payout_settled(session, payout)
    return payout


def _still_queued(session: Session, payout: Payout) -> Payout:
    """The payout re-read under its row lock after the provider answered (another run may have recorded it)."""
    locked = lock_row(session, Payout, payout.id)
    assert locked is not None  # payouts are never deleted
    return locked


def run_payouts(database: Database, settings: Settings, provider: PaymentProvider) -> list[Payout]:
    """The payout worker: queue every eligible creator's balance, then send every queued payout.

    Each creator and each payout gets its own transaction, so one failure does not hold up the rest.
    """
    currency, minimum = settings.marketplace_currency, settings.payout_minimum_minor
    with database.session() as session:
        accounts = [account.user_id for account in session.scalars(select(PayoutAccount))]
        prefix = [ledger.creator_account(user_id) for user_id in accounts]
        owed = {account: total.amount_minor for (account, code), total in ledger.balances(session, "creator:").items()
                if code == currency and account in prefix}
    for user_id in accounts:
        if owed.get(ledger.creator_account(user_id), 0) < minimum:
            continue
        with database.session() as session:
            creator = session.get(User, user_id)
            assert creator is not None
            try:
                queue_payout(session, settings, creator, actor="payout-worker")
            except (Conflict, InvalidInput) as exc:
                log.info("no payout for %s: %s", creator.name, exc.detail)
    settled = []
    with database.session() as session:
        queued = list(session.scalars(select(Payout.id).where(Payout.status == PayoutStatus.QUEUED)
                                      .order_by(Payout.id)))
    for payout_id in queued:
        with database.session() as session:
            payout = session.get(Payout, payout_id)
            assert payout is not None
            settled.append(pay(session, provider, payout, actor="payout-worker"))
    return settled

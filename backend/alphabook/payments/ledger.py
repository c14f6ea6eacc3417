"""The double-entry ledger: every money movement is a transaction of entries that sum to zero.

Accounts are names: ``buyer-payments`` (money received from buyers, so it runs negative), ``refunds``
(money given back), ``platform`` (the platform's share), ``creator:<id>`` (what the platform owes a
creator), ``held:creator:<id>`` (a creator's share frozen by a dispute) and ``payouts`` (money paid out to
creators). A balance is always the sum of an account's entries; nothing stores a running total that could
drift. A refund after a payout simply takes the creator's account below zero, and later earnings pay it
back before anything is paid out again.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alphabook.core.clock import utcnow
from alphabook.core.money import Money
from alphabook.payments.models import LedgerEntry

__all__ = ["BUYER_PAYMENTS", "PAYOUTS", "PLATFORM", "REFUNDS", "Leg", "balance", "balances", "creator_account",
           "held_account", "post"]

BUYER_PAYMENTS = "buyer-payments"
REFUNDS = "refunds"
PLATFORM = "platform"
PAYOUTS = "payouts"


def creator_account(creator_id: int) -> str:
    return f"creator:{creator_id}"


def held_account(creator_id: int) -> str:
    return f"held:creator:{creator_id}"


@dataclass(frozen=True, slots=True)
class Leg:
    account: str
    amount: Money


class UnbalancedTransaction(ValueError):
    """A programming error: the legs of a transaction must sum to zero in every currency."""


def post(session: Session, kind: str, legs: Iterable[Leg], *, purchase_id: int | None = None,
         payout_id: int | None = None) -> str:
    """Add one balanced transaction to ``session``'s unit of work and return its id."""
    legs = [leg for leg in legs if leg.amount]
    totals: dict[str, int] = {}
    for leg in legs:
        totals[leg.amount.currency] = totals.get(leg.amount.currency, 0) + leg.amount.amount_minor
    if any(totals.values()):
        raise UnbalancedTransaction(f"{kind}: legs sum to {totals}, not zero")
    txn, now = uuid.uuid4().hex, utcnow()
    session.add_all(LedgerEntry(txn=txn, account=leg.account, amount_minor=leg.amount.amount_minor,
                                currency=leg.amount.currency, kind=kind, purchase_id=purchase_id,
                                payout_id=payout_id, at=now) for leg in legs)
    session.flush()
    return txn


def balance(session: Session, account: str, currency: str) -> Money:
    total = session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount_minor), 0))
                           .where(LedgerEntry.account == account, LedgerEntry.currency == currency))
    return Money(int(total or 0), currency)


def balances(session: Session, account_prefix: str | None = None) -> dict[tuple[str, str], Money]:
    """Every (account, currency) balance, optionally of accounts starting with ``account_prefix``."""
    query = select(LedgerEntry.account, LedgerEntry.currency, func.sum(LedgerEntry.amount_minor)).group_by(
        LedgerEntry.account, LedgerEntry.currency)
    if account_prefix is not None:
        query = query.where(LedgerEntry.account.startswith(account_prefix))
    return {(account, currency): Money(int(total), currency) for account, currency, total in session.execute(query)}

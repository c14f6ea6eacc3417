"""A creator's figures: per listing, installs, sales, rating and net revenue, read from the ledger.

Revenue is never a stored counter: it is the sum of the creator's ledger legs booked against each
listing's purchases (sales minus refunds and lost disputes), so it always agrees with the payouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.marketplace.models import Listing
from alphabook.payments import ledger
from alphabook.payments.models import LedgerEntry, Payout, PayoutStatus, Purchase

__all__ = ["DailyEarnings", "creator_stats", "earnings_by_day"]


@dataclass(frozen=True, slots=True)
class DailyEarnings:
    """One UTC day of a creator's sales: purchases completed that day and the net share they earned (sales minus
    refunds and lost disputes booked that day), in minor units of one currency."""

    day: date
    sales: int
    net_minor: int


def earnings_by_day(session: Session, creator: User, currency: str) -> list[DailyEarnings]:
    """The creator's sales and net earnings per UTC day, oldest first, from the same ledger legs as
    :func:`creator_stats` (so the days add up to its ``revenue_minor``); days without a movement are left out."""
    accounts = (ledger.creator_account(creator.id), ledger.held_account(creator.id))
    rows = session.execute(
        select(LedgerEntry.at, LedgerEntry.kind, LedgerEntry.amount_minor)
        .where(LedgerEntry.account.in_(accounts), LedgerEntry.currency == currency,
               LedgerEntry.purchase_id.is_not(None)).order_by(LedgerEntry.at, LedgerEntry.id))
    days: dict[date, tuple[int, int]] = {}
    for at, kind, amount in rows:
        sales, net = days.get(at.date(), (0, 0))
        days[at.date()] = (sales + (kind == "purchase"), net + int(amount))
    return [DailyEarnings(day, sales, net) for day, (sales, net) in days.items()]


def creator_stats(session: Session, creator: User, currency: str) -> dict[str, Any]:
    accounts = (ledger.creator_account(creator.id), ledger.held_account(creator.id))
    earned = dict(session.execute(
        select(Purchase.listing_id, func.sum(LedgerEntry.amount_minor))
        .join(Purchase, Purchase.id == LedgerEntry.purchase_id)
        .where(LedgerEntry.account.in_(accounts), LedgerEntry.currency == currency)
        .group_by(Purchase.listing_id)).all())
    rows = session.scalars(select(Listing).where(Listing.creator_id == creator.id).order_by(Listing.id))
    listings = [{"slug": listing.slug, "status": listing.status, "installs": listing.installs,
                 "purchases": listing.purchases, "rating_avg": listing.rating_avg,
                 "rating_count": listing.rating_count, "flags_open": listing.flags_open,
                 "revenue_minor": int(earned.get(listing.id) or 0)} for listing in rows]
    return {
        "currency": currency,
        "listings": listings,
        "revenue_minor": sum(item["revenue_minor"] for item in listings),
        "available_minor": ledger.balance(session, accounts[0], currency).amount_minor,
        "held_minor": ledger.balance(session, accounts[1], currency).amount_minor,
        "paid_out_minor": int(session.scalar(select(func.coalesce(func.sum(Payout.amount_minor), 0)).where(
            Payout.creator_id == creator.id, Payout.status == PayoutStatus.PAID, Payout.currency == currency)) or 0),
    }

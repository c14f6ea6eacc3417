"""Tables of the money domain: purchases, provider events, the double-entry ledger and payouts.

Amounts are integer minor units beside an ISO currency. Nothing here holds a balance: a balance is the
sum of ledger entries (:mod:`alphabook.payments.ledger`), so it cannot drift from the entries that
explain it. Provider events are stored by their id in the same transaction as their effects, which is
what makes processing exactly-once (:mod:`alphabook.payments.webhooks`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alphabook.core.db import Base
from alphabook.core.money import Money

__all__ = ["LedgerEntry", "PaymentEvent", "Payout", "PayoutAccount", "PayoutStatus", "Purchase", "PurchaseStatus"]

BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class PurchaseStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    REFUNDED = "refunded"
    DISPUTED = "disputed"


class PayoutStatus(StrEnum):
    QUEUED = "queued"
    PAID = "paid"
    FAILED = "failed"


class Purchase(Base):
    """One attempt to buy one listing. ``open_key`` is set while the purchase is pending or completed, and
    unique, so a buyer can never hold two live purchases of a listing (a double click is one charge)."""

    __tablename__ = "purchases"

    id: Mapped[int] = mapped_column(primary_key=True)
    buyer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("listing_versions.id"))
    creator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    product: Mapped[str] = mapped_column(String(32))  # what the revenue split is looked up by
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    creator_share_minor: Mapped[int] = mapped_column(BigInteger)
    platform_share_minor: Mapped[int] = mapped_column(BigInteger)
    provider: Mapped[str] = mapped_column(String(16))
    livemode: Mapped[bool] = mapped_column(default=False)
    checkout_ref: Mapped[str | None] = mapped_column(String(255), unique=True)  # Stripe's cs_…, Local's lc_…
    payment_ref: Mapped[str | None] = mapped_column(String(255), index=True)  # Stripe's pi_…
    checkout_url: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    open_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    failure: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    refunded_at: Mapped[datetime | None]

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


class PaymentEvent(Base):
    """A provider's webhook event, kept by id: its row and its effects commit together, or neither does.

    ``state`` is ``processed``, ``deferred`` (it arrived before what it depends on, e.g. a refund before the
    payment's completion, and is replayed once that lands) or ``ignored`` (a type we do not act on).
    """

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(80))
    livemode: Mapped[bool]
    purchase_id: Mapped[int | None] = mapped_column(ForeignKey("purchases.id"), index=True)
    state: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_payment_events_provider_event_id"),)


class LedgerEntry(Base):
    """One leg of a balanced transaction: every ``txn`` sums to zero per currency. Append-only (triggers)."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    txn: Mapped[str] = mapped_column(String(64), index=True)
    account: Mapped[str] = mapped_column(String(64), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(32))
    purchase_id: Mapped[int | None] = mapped_column(ForeignKey("purchases.id"), index=True)
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"), index=True)
    at: Mapped[datetime]


class PayoutAccount(Base):
    """Where a creator's money goes: a Stripe Connect account in production, a Local one in development."""

    __tablename__ = "payout_accounts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    account_ref: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class Payout(Base):
    __tablename__ = "payouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(16))
    account_ref: Mapped[str] = mapped_column(String(255))
    provider_ref: Mapped[str | None] = mapped_column(String(255))
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    failure: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

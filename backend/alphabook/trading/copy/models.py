"""Tables of copy trading: signal providers, followers' subscriptions, what was copied, metrics, ratings, flags.

A provider is a person *and* the trading account alphabook executes their trades on, so every figure shown
about them is computed from that account's recorded fills, never from what they say. Performance figures are
integers with their unit in the name (``return_bp``: basis points, 1234 is 12.34 %; ``sharpe_milli``: 1/1000),
because SQLite stores exact decimals as text and these columns are filtered and sorted in SQL. Quantities and
prices stay exact decimals; money is integer minor units with a currency.

Idempotency lives in unique constraints: one live subscription per follower and provider (``active_key``, set
while active), one charge per subscription and period, one rating per follower, one open flag of each kind,
one metrics row per provider and day, and one mirrored order per provider order and subscription (the order's
own ``client_order_id``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alphabook.core.db import Base
from alphabook.core.money import Money

__all__ = ["CopyCharge", "CopyTrade", "CopyTradeAction", "FlagKind", "ProviderFlag", "ProviderMetric",
           "ProviderRating", "ProviderStatus", "ProviderVerification", "Scaling", "SignalProvider", "Subscription",
           "SubscriptionStatus", "Verification"]

BIG_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite's rowid alias must be INTEGER


class ProviderStatus(StrEnum):
    APPLIED = "applied"  # waiting for an administrator
    APPROVED = "approved"  # listed; followers may subscribe; orders are mirrored
    REJECTED = "rejected"  # may apply again
    SUSPENDED = "suspended"  # unlisted; followers' copies only ever shrink (see alphabook.trading.copy.mirror)


class Verification(StrEnum):
    UNVERIFIED = "unverified"
    PASSED = "passed"
    FAILED = "failed"


class Scaling(StrEnum):
    FIXED = "fixed"  # the provider's quantity times the multiplier
    PROPORTIONAL = "proportional"  # ... times follower equity / provider equity, times the multiplier


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class CopyTradeAction(StrEnum):
    MIRROR = "mirror"  # a provider's order, copied (or not: ``order_id`` is None and ``reason`` says why)
    CLOSE = "close"  # a copied position closed by alphabook: provider flat, copy stop-loss, or unsubscribe
    CANCEL = "cancel"  # a working copy cancelled (``reason`` names it): its provider order ended, or copying did


class FlagKind(StrEnum):
    SUSPICIOUS = "suspicious"  # claimed performance failed verification against recorded trades
    UNDERPERFORMING = "underperforming"  # drawdown or return beyond the configured thresholds


class SignalProvider(Base):
    """A trader whose orders followers copy, with the account their track record comes from."""

    __tablename__ = "copy_providers"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("trading_accounts.id"), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    price_minor: Mapped[int] = mapped_column(BigInteger)  # per month; 0 is free
    currency: Mapped[str] = mapped_column(String(3))
    # What the provider says about themselves, checked by verification against recorded trades.
    claimed_return_bp: Mapped[int | None] = mapped_column(BigInteger)
    claimed_drawdown_bp: Mapped[int | None] = mapped_column(BigInteger)
    claimed_win_rate_bp: Mapped[int | None] = mapped_column(BigInteger)
    # The latest computed figures (alphabook.trading.copy.metrics), kept here for browsing; None until computed.
    return_bp: Mapped[int | None] = mapped_column(BigInteger)
    max_drawdown_bp: Mapped[int | None] = mapped_column(BigInteger)
    sharpe_milli: Mapped[int | None] = mapped_column(BigInteger)
    win_rate_bp: Mapped[int | None] = mapped_column(BigInteger)
    trades: Mapped[int] = mapped_column(Integer, default=0)
    metrics_at: Mapped[datetime | None]
    verification: Mapped[str] = mapped_column(String(12))
    verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    @property
    def price(self) -> Money:
        return Money(self.price_minor, self.currency)


class Subscription(Base):
    """A follower copying a provider into one of their own accounts, with their own scaling and risk rules."""

    __tablename__ = "copy_subscriptions"
    __table_args__ = (Index("ix_copy_subscriptions_provider_id_status", "provider_id", "status"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    follower_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("copy_providers.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("trading_accounts.id"), index=True)
    scaling: Mapped[str] = mapped_column(String(12))
    multiplier: Mapped[Decimal]
    position_limits: Mapped[dict[str, Any]]  # symbol -> largest copied position (decimal text); "*": any symbol
    stop_loss_pct: Mapped[Decimal | None]  # close a copied position once it has lost this many percent
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(8))
    active_key: Mapped[str | None] = mapped_column(String(48), unique=True)  # "<follower>:<provider>" while active
    paid_until: Mapped[datetime | None]  # end of the last period charged; None for a free provider
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class CopyTrade(Base):
    """The copy journal: each order alphabook wrote into a follower's account, and each copy it did not make."""

    __tablename__ = "copy_trades"
    __table_args__ = (Index("ix_copy_trades_subscription_id_symbol", "subscription_id", "symbol"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("copy_subscriptions.id", ondelete="CASCADE"))
    provider_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), unique=True)
    symbol: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(8))
    quantity: Mapped[Decimal | None]  # signed: what was ordered (None when skipped)
    reason: Mapped[str | None] = mapped_column(Text)  # why it was skipped, capped or closed
    at: Mapped[datetime]


class CopyCharge(Base):
    """One month of one subscription, paid: the ledger transaction that booked it, and its 80/20 split."""

    __tablename__ = "copy_charges"
    __table_args__ = (UniqueConstraint("subscription_id", "period_start",
                                       name="uq_copy_charges_subscription_id_period_start"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("copy_subscriptions.id"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("copy_providers.id"), index=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    provider_share_minor: Mapped[int] = mapped_column(BigInteger)
    platform_share_minor: Mapped[int] = mapped_column(BigInteger)
    payment_provider: Mapped[str] = mapped_column(String(16))
    ledger_txn: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)


class ProviderMetric(Base):
    """A provider's figures at the end of one UTC day, from the fills recorded up to then."""

    __tablename__ = "copy_provider_metrics"
    __table_args__ = (UniqueConstraint("provider_id", "day", name="uq_copy_provider_metrics_provider_id_day"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("copy_providers.id", ondelete="CASCADE"))
    day: Mapped[date]
    equity_minor: Mapped[int] = mapped_column(BigInteger)  # marked to the last traded prices, in the account's currency
    return_bp: Mapped[int] = mapped_column(BigInteger)  # that day's return
    total_return_bp: Mapped[int] = mapped_column(BigInteger)  # since the account started
    drawdown_bp: Mapped[int] = mapped_column(BigInteger)  # the largest fall from a peak so far
    sharpe_milli: Mapped[int | None] = mapped_column(BigInteger)  # annualised, from daily returns so far
    win_rate_bp: Mapped[int | None] = mapped_column(BigInteger)  # closing trades that made money, so far
    trades: Mapped[int] = mapped_column(Integer)  # closing trades so far
    followers: Mapped[int] = mapped_column(Integer)  # active subscriptions at the end of the day
    computed_at: Mapped[datetime]


class ProviderRating(Base):
    """A follower's 1 to 5 stars and comment; one each, editable."""

    __tablename__ = "copy_ratings"
    __table_args__ = (UniqueConstraint("provider_id", "user_id", name="uq_copy_ratings_provider_id_user_id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("copy_providers.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    stars: Mapped[int] = mapped_column(SmallInteger)
    comment: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ProviderVerification(Base):
    """One comparison of a provider's claims with their recorded trades, and its verdict."""

    __tablename__ = "copy_verifications"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("copy_providers.id", ondelete="CASCADE"), index=True)
    passed: Mapped[bool] = mapped_column(Boolean)
    threshold_bp: Mapped[int] = mapped_column(BigInteger)
    discrepancy_bp: Mapped[int | None] = mapped_column(BigInteger)  # the largest |claimed - recorded|
    claimed: Mapped[dict[str, Any]]
    recorded: Mapped[dict[str, Any]]
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]


class ProviderFlag(Base):
    """A provider an administrator should look at; ``open_key`` keeps one open flag of each kind."""

    __tablename__ = "copy_flags"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("copy_providers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    open_key: Mapped[str | None] = mapped_column(String(40), unique=True)  # "<provider>:<kind>" while open
    raised_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]

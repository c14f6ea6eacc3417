"""API shapes of copy trading (pydantic at the edge; ORM rows never leave the services).

Performance figures travel as decimal percentages (``"12.34"`` is 12.34 %) and Sharpe as a decimal ratio, all
as JSON strings, never floats; prices as ``{"amount_minor", "currency", "display"}``. Quantities, multipliers and
limits are decimals too, accepted as strings or numbers.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from alphabook.marketplace.schemas import MoneyIn, MoneyOut
from alphabook.trading.copy.billing import Earnings
from alphabook.trading.copy.models import (
    CopyTrade,
    ProviderFlag,
    ProviderMetric,
    ProviderRating,
    ProviderVerification,
    Scaling,
    SignalProvider,
    Subscription,
)
from alphabook.trading.copy.providers import Claims, TraderRow
from alphabook.trading.copy.subscriptions import CopyRules

__all__ = ["ApplyIn", "DayOut", "EarningsOut", "FiguresOut", "FlagOut", "PayoutIn", "RatingOut", "RulesPatch",
           "SubscribeIn", "SubscriptionOut", "TradeOut", "TraderDetail", "TraderOut", "VerificationOut", "percent",
           "ratio", "to_bp"]


def percent(basis_points: int | None) -> Decimal | None:
    """Basis points as a percentage: 1234 -> Decimal("12.34")."""
    return None if basis_points is None else Decimal(basis_points).scaleb(-2)


def ratio(milli: int | None) -> Decimal | None:
    return None if milli is None else Decimal(milli).scaleb(-3)


def to_bp(pct: Decimal | None) -> int | None:
    """A percentage in basis points, to the nearest (half to even): claims finer than 0.01 % mean nothing."""
    return None if pct is None else int((pct * 100).to_integral_value(ROUND_HALF_EVEN))


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: int = Field(description="Your paper or live account whose trades make your track record.")
    name: str = Field(min_length=3, max_length=80)
    description: str = Field(default="", max_length=20_000)
    price: MoneyIn = Field(default=MoneyIn(amount_minor=0), description="Per month; 0 makes following free.")
    claimed_return_pct: Decimal | None = Field(default=None, ge=-100, le=1_000_000, allow_inf_nan=False)
    claimed_drawdown_pct: Decimal | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)
    claimed_win_rate_pct: Decimal | None = Field(default=None, ge=0, le=100, allow_inf_nan=False)

    def claims(self) -> Claims:
        return Claims(return_bp=to_bp(self.claimed_return_pct), drawdown_bp=to_bp(self.claimed_drawdown_pct),
                      win_rate_bp=to_bp(self.claimed_win_rate_pct))


class FiguresOut(BaseModel):
    return_pct: Decimal | None
    max_drawdown_pct: Decimal | None
    sharpe: Decimal | None
    win_rate_pct: Decimal | None
    trades: int
    computed_at: datetime | None

    @classmethod
    def of(cls, provider: SignalProvider) -> FiguresOut:
        return cls(return_pct=percent(provider.return_bp), max_drawdown_pct=percent(provider.max_drawdown_bp),
                   sharpe=ratio(provider.sharpe_milli), win_rate_pct=percent(provider.win_rate_bp),
                   trades=provider.trades, computed_at=provider.metrics_at)


class TraderOut(BaseModel):
    id: int
    name: str
    trader: str  # the provider's user name
    status: str
    price: MoneyOut
    figures: FiguresOut
    followers: int
    rating: Decimal | None
    rating_count: int
    verification: str
    verified_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: TraderRow, trader: str) -> TraderOut:
        provider = row.provider
        return cls(id=provider.id, name=provider.name, trader=trader, status=provider.status,
                   price=MoneyOut.of(provider.price), figures=FiguresOut.of(provider), followers=row.followers,
                   rating=row.rating, rating_count=row.rating_count, verification=provider.verification,
                   verified_at=provider.verified_at, created_at=provider.created_at)


class DayOut(BaseModel):
    day: date
    equity_minor: int
    return_pct: Decimal
    total_return_pct: Decimal
    drawdown_pct: Decimal
    sharpe: Decimal | None
    win_rate_pct: Decimal | None
    trades: int
    followers: int

    @classmethod
    def of(cls, row: ProviderMetric) -> DayOut:
        return cls(day=row.day, equity_minor=row.equity_minor, return_pct=Decimal(row.return_bp).scaleb(-2),
                   total_return_pct=Decimal(row.total_return_bp).scaleb(-2),
                   drawdown_pct=Decimal(row.drawdown_bp).scaleb(-2), sharpe=ratio(row.sharpe_milli),
                   win_rate_pct=percent(row.win_rate_bp), trades=row.trades, followers=row.followers)


class RatingOut(BaseModel):
    stars: int
    comment: str
    updated_at: datetime

    @classmethod
    def of(cls, rating: ProviderRating) -> RatingOut:
        return cls(stars=rating.stars, comment=rating.comment, updated_at=rating.updated_at)


class TraderDetail(TraderOut):
    description: str
    status_reason: str | None
    claimed_return_pct: Decimal | None
    claimed_drawdown_pct: Decimal | None
    claimed_win_rate_pct: Decimal | None
    account_id: int | None  # only for the provider and administrators
    daily: list[DayOut]
    ratings: list[RatingOut]

    @classmethod
    def detail(cls, row: TraderRow, trader: str, *, staff: bool, daily: list[ProviderMetric],
               ratings: list[ProviderRating]) -> TraderDetail:
        provider = row.provider
        return cls(**TraderOut.of(row, trader).model_dump(), description=provider.description,
                   status_reason=provider.status_reason, claimed_return_pct=percent(provider.claimed_return_bp),
                   claimed_drawdown_pct=percent(provider.claimed_drawdown_bp),
                   claimed_win_rate_pct=percent(provider.claimed_win_rate_bp),
                   account_id=provider.account_id if staff else None, daily=[DayOut.of(each) for each in daily],
                   ratings=[RatingOut.of(each) for each in ratings])


class SubscribeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider_id: int
    account_id: int = Field(description="Your own account the provider's orders are copied into.")
    scaling: Scaling = Scaling.FIXED
    multiplier: Decimal = Field(default=Decimal(1), gt=0, le=1000, allow_inf_nan=False)
    position_limits: dict[str, Decimal] = Field(
        default={}, description='Largest copied position per symbol, e.g. {"BTC/USDT": "0.5", "*": "10"}.')
    stop_loss_pct: Decimal | None = Field(default=None, gt=0, lt=100, allow_inf_nan=False)

    def rules(self) -> CopyRules:
        return CopyRules(scaling=self.scaling, multiplier=self.multiplier, position_limits=self.position_limits,
                         stop_loss_pct=self.stop_loss_pct)


class RulesPatch(BaseModel):
    """The copy rules to change; fields left out stay as they are (send ``"stop_loss_pct": null`` to remove it)."""

    model_config = ConfigDict(extra="forbid")

    scaling: Scaling | None = None
    multiplier: Decimal | None = Field(default=None, gt=0, le=1000, allow_inf_nan=False)
    position_limits: dict[str, Decimal] | None = None
    stop_loss_pct: Decimal | None = Field(default=None, gt=0, lt=100, allow_inf_nan=False)

    def applied_to(self, subscription: Subscription) -> CopyRules:
        sent = self.model_fields_set
        return CopyRules(
            scaling=self.scaling or Scaling(subscription.scaling),
            multiplier=self.multiplier if self.multiplier is not None else subscription.multiplier,
            position_limits=(self.position_limits if self.position_limits is not None
                             else {symbol: Decimal(limit) for symbol, limit in subscription.position_limits.items()}),
            stop_loss_pct=self.stop_loss_pct if "stop_loss_pct" in sent else subscription.stop_loss_pct)


class SubscriptionOut(BaseModel):
    id: int
    provider_id: int
    account_id: int
    scaling: str
    multiplier: Decimal
    position_limits: dict[str, Decimal]
    stop_loss_pct: Decimal | None
    paused: bool
    status: str
    paid_until: datetime | None
    created_at: datetime
    ended_at: datetime | None
    closing_order_ids: list[int] = []

    @classmethod
    def of(cls, subscription: Subscription, closing_order_ids: list[int] | None = None) -> SubscriptionOut:
        return cls(id=subscription.id, provider_id=subscription.provider_id, account_id=subscription.account_id,
                   scaling=subscription.scaling, multiplier=subscription.multiplier,
                   position_limits={symbol: Decimal(limit) for symbol, limit in subscription.position_limits.items()},
                   stop_loss_pct=subscription.stop_loss_pct, paused=subscription.paused, status=subscription.status,
                   paid_until=subscription.paid_until, created_at=subscription.created_at,
                   ended_at=subscription.ended_at, closing_order_ids=closing_order_ids or [])


class TradeOut(BaseModel):
    """One line of the copy journal: an order written (``order_id``) or a copy skipped (``reason`` says why)."""

    id: int
    action: str
    symbol: str
    order_id: int | None
    provider_order_id: int | None
    quantity: Decimal | None
    reason: str | None
    at: datetime

    @classmethod
    def of(cls, trade: CopyTrade) -> TradeOut:
        return cls(id=trade.id, action=trade.action, symbol=trade.symbol, order_id=trade.order_id,
                   provider_order_id=trade.provider_order_id, quantity=trade.quantity, reason=trade.reason,
                   at=trade.at)


class VerificationOut(BaseModel):
    provider_id: int
    passed: bool
    tolerance_pct: Decimal
    discrepancy_pct: Decimal | None
    claimed: dict[str, Any]
    recorded: dict[str, Any]
    reason: str
    at: datetime

    @classmethod
    def of(cls, result: ProviderVerification) -> VerificationOut:
        return cls(provider_id=result.provider_id, passed=result.passed,
                   tolerance_pct=Decimal(result.threshold_bp).scaleb(-2),
                   discrepancy_pct=percent(result.discrepancy_bp), claimed=result.claimed, recorded=result.recorded,
                   reason=result.reason, at=result.at)


class FlagOut(BaseModel):
    id: int
    provider_id: int
    provider_name: str
    kind: str
    reason: str
    raised_at: datetime

    @classmethod
    def of(cls, flag: ProviderFlag, provider: SignalProvider) -> FlagOut:
        return cls(id=flag.id, provider_id=provider.id, provider_name=provider.name, kind=flag.kind,
                   reason=flag.reason, raised_at=flag.raised_at)


class EarningsOut(BaseModel):
    provider_id: int
    name: str
    charges: int
    gross: MoneyOut
    provider_share: MoneyOut
    platform_share: MoneyOut
    available: MoneyOut

    @classmethod
    def of(cls, earned: Earnings) -> EarningsOut:
        return cls(provider_id=earned.provider.id, name=earned.provider.name, charges=earned.charges,
                   gross=MoneyOut.of(earned.gross), provider_share=MoneyOut.of(earned.provider_share),
                   platform_share=MoneyOut.of(earned.platform_share), available=MoneyOut.of(earned.available))


class PayoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider_id: int
    send: bool = Field(default=True, description="Send it now instead of with the next payout run.")

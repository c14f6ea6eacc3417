"""Copy trading: signal providers, followers' subscriptions, metrics, verification, ratings and payouts.

Browsing approved providers is public; applying, following and rating need a signed-in user; decisions,
metrics, verification, the flagged list and payouts are for administrators (a provider may see their own
earnings). Routes only parse, call one service and shape the answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from alphabook.accounts.models import Role, User
from alphabook.api.deps import CurrentUser, OptionalUser, SessionDep, SettingsDep, require_role
from alphabook.api.marketplace_deps import ProviderDep as PaymentsDep
from alphabook.core.clock import utcnow
from alphabook.core.errors import NotFound
from alphabook.marketplace.schemas import PayoutOut, RateIn, ReasonIn
from alphabook.trading.copy import billing, flags, metrics, providers, ratings, subscriptions, verification
from alphabook.trading.copy.models import SignalProvider
from alphabook.trading.copy.providers import Sort, TraderQuery, TraderRow
from alphabook.trading.copy.schemas import (
    ApplyIn,
    EarningsOut,
    FlagOut,
    PayoutIn,
    RatingOut,
    RulesPatch,
    SubscribeIn,
    SubscriptionOut,
    TradeOut,
    TraderDetail,
    TraderOut,
    VerificationOut,
)

router = APIRouter(prefix="/copy", tags=["copy"])
AdminUser = Annotated[User, Depends(require_role(Role.ADMIN))]
TRADER = "/traders/{provider_id}"


def _name(session: SessionDep, user_id: int) -> str:
    user = session.get(User, user_id)
    return user.name if user is not None else ""


def _detail(session: SessionDep, provider: SignalProvider, user: User | None) -> TraderDetail:
    staff = user is not None and (user.id == provider.user_id or user.has_role(Role.ADMIN.value))
    return TraderDetail.detail(providers.row(session, provider), _name(session, provider.user_id), staff=staff,
                               daily=metrics.history(session, provider), ratings=ratings.ratings_of(session, provider))


def _any_provider(session: SessionDep, provider_id: int) -> SignalProvider:
    provider = session.get(SignalProvider, provider_id)
    if provider is None:
        raise NotFound(f"There is no signal provider {provider_id}.")
    return provider


# --- providers --------------------------------------------------------------------------------------------


@router.post("/providers", response_model=TraderDetail, status_code=status.HTTP_201_CREATED)
def apply(body: ApplyIn, user: CurrentUser, session: SessionDep, settings: SettingsDep) -> TraderDetail:
    """Apply to be a signal provider with one of your accounts; an administrator decides."""
    provider = providers.apply(session, settings, user, body.account_id, name=body.name, description=body.description,
                               price=body.price.to_money(), claims=body.claims())
    return _detail(session, provider, user)


@router.get("/providers", response_model=list[TraderOut])
def my_providers(user: CurrentUser, session: SessionDep) -> list[TraderOut]:
    """Your own applications and listings, whatever their status."""
    return [TraderOut.of(providers.row(session, each), user.name) for each in providers.of_user(session, user)]


@router.get("/traders", response_model=list[TraderOut])
def browse(
    session: SessionDep,
    min_return: Annotated[Decimal | None, Query(description="Total return, in percent.")] = None,
    max_drawdown: Annotated[Decimal | None, Query(ge=0, description="Largest drawdown, in percent.")] = None,
    min_sharpe: Decimal | None = None,
    min_win_rate: Annotated[Decimal | None, Query(ge=0, le=100)] = None,
    min_rating: Annotated[Decimal | None, Query(ge=0, le=5)] = None,
    min_followers: Annotated[int | None, Query(ge=0)] = None,
    sort: Sort = "return",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[TraderOut]:
    """Approved signal providers, filtered and sorted by their platform-recorded figures."""
    rows = providers.browse(session, TraderQuery(
        min_return=min_return, max_drawdown=max_drawdown, min_sharpe=min_sharpe, min_win_rate=min_win_rate,
        min_rating=min_rating, min_followers=min_followers, sort=sort, limit=limit, offset=offset))
    return [_out(session, row) for row in rows]


def _out(session: SessionDep, row: TraderRow) -> TraderOut:
    return TraderOut.of(row, _name(session, row.provider.user_id))


@router.get("/traders/flagged", response_model=list[FlagOut])
def flagged(admin: AdminUser, session: SessionDep) -> list[FlagOut]:
    """Providers flagged as suspicious (failed verification) or underperforming, oldest flag first."""
    return [FlagOut.of(flag, provider) for flag, provider in flags.flagged(session)]


@router.post("/traders/verify-all", response_model=list[VerificationOut])
def verify_all(admin: AdminUser, session: SessionDep, settings: SettingsDep) -> list[VerificationOut]:
    return [VerificationOut.of(each) for each in verification.verify_all(session, settings, actor=admin.name)]


@router.get(TRADER, response_model=TraderDetail)
def trader(provider_id: int, user: OptionalUser, session: SessionDep) -> TraderDetail:
    return _detail(session, providers.find(session, provider_id, user), user)


@router.post(TRADER + "/rate", response_model=RatingOut)
def rate(provider_id: int, body: RateIn, user: CurrentUser, session: SessionDep) -> RatingOut:
    """Rate a provider you follow: 1 to 5 stars and a comment; rating again replaces yours."""
    provider = providers.find(session, provider_id, user)
    return RatingOut.of(ratings.rate(session, user, provider, body.stars, body.comment))


@router.post(TRADER + "/update-metrics", response_model=TraderDetail)
def update_metrics(provider_id: int, admin: AdminUser, session: SessionDep, settings: SettingsDep) -> TraderDetail:
    """Recompute the provider's daily figures from their recorded fills."""
    provider = _any_provider(session, provider_id)
    metrics.update_metrics(session, settings, provider, actor=admin.name)
    return _detail(session, provider, admin)


@router.post(TRADER + "/verify", response_model=VerificationOut)
def verify(provider_id: int, admin: AdminUser, session: SessionDep, settings: SettingsDep) -> VerificationOut:
    """Compare the provider's claimed performance with their recorded trades."""
    provider = _any_provider(session, provider_id)
    return VerificationOut.of(verification.verify(session, settings, provider, actor=admin.name))


@router.post(TRADER + "/approve", response_model=TraderDetail)
def approve(provider_id: int, body: ReasonIn, admin: AdminUser, session: SessionDep) -> TraderDetail:
    """List an applicant, or reinstate a suspended provider."""
    provider = providers.approve(session, admin, _any_provider(session, provider_id), body.reason or None)
    return _detail(session, provider, admin)


@router.post(TRADER + "/reject", response_model=TraderDetail)
def reject(provider_id: int, body: ReasonIn, admin: AdminUser, session: SessionDep) -> TraderDetail:
    provider = providers.reject(session, admin, _any_provider(session, provider_id), body.reason)
    return _detail(session, provider, admin)


@router.post(TRADER + "/suspend", response_model=TraderDetail)
def suspend(provider_id: int, body: ReasonIn, admin: AdminUser, session: SessionDep) -> TraderDetail:
    """Unlist a provider; followers' copies still shrink and close with the provider's orders."""
    provider = providers.suspend(session, admin, _any_provider(session, provider_id), body.reason)
    return _detail(session, provider, admin)


# --- subscriptions ----------------------------------------------------------------------------------------


@router.post("/subscriptions", response_model=SubscriptionOut, status_code=status.HTTP_201_CREATED)
def subscribe(body: SubscribeIn, user: CurrentUser, session: SessionDep, settings: SettingsDep,
              payments: PaymentsDep) -> SubscriptionOut:
    """Follow a provider into one of your accounts; a paid provider's first month is charged now."""
    provider = providers.find(session, body.provider_id, user)
    return SubscriptionOut.of(subscriptions.subscribe(session, settings, payments, user, provider, body.account_id,
                                                      body.rules()))


@router.get("/subscriptions", response_model=list[SubscriptionOut])
def my_subscriptions(user: CurrentUser, session: SessionDep) -> list[SubscriptionOut]:
    return [SubscriptionOut.of(each) for each in subscriptions.mine(session, user)]


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
def one_subscription(subscription_id: int, user: CurrentUser, session: SessionDep) -> SubscriptionOut:
    return SubscriptionOut.of(subscriptions.find(session, user, subscription_id))


@router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
def change(subscription_id: int, body: RulesPatch, user: CurrentUser, session: SessionDep) -> SubscriptionOut:
    """Change scaling, multiplier, position limits or the copy stop-loss; they apply to the next copy."""
    subscription = subscriptions.find(session, user, subscription_id)
    return SubscriptionOut.of(subscriptions.change(session, user, subscription, body.applied_to(subscription)))


@router.post("/subscriptions/{subscription_id}/pause", response_model=SubscriptionOut)
def pause(subscription_id: int, user: CurrentUser, session: SessionDep) -> SubscriptionOut:
    """Stop copying new orders; copies still close when the provider closes."""
    return SubscriptionOut.of(subscriptions.pause(session, user, subscriptions.find(session, user, subscription_id)))


@router.post("/subscriptions/{subscription_id}/resume", response_model=SubscriptionOut)
def resume(subscription_id: int, user: CurrentUser, session: SessionDep) -> SubscriptionOut:
    return SubscriptionOut.of(subscriptions.resume(session, user, subscriptions.find(session, user, subscription_id)))


@router.delete("/subscriptions/{subscription_id}", response_model=SubscriptionOut)
def unsubscribe(subscription_id: int, user: CurrentUser, session: SessionDep) -> SubscriptionOut:
    """Stop following: what was copied is closed at market (``closing_order_ids``); nothing is refunded."""
    subscription = subscriptions.find(session, user, subscription_id)
    closes = subscriptions.unsubscribe(session, user, subscription)
    return SubscriptionOut.of(subscription, [order.id for order in closes])


@router.get("/subscriptions/{subscription_id}/trades", response_model=list[TradeOut])
def copy_journal(subscription_id: int, user: CurrentUser, session: SessionDep,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[TradeOut]:
    """What copying did: each order written into your account, and each copy skipped with the reason."""
    subscription = subscriptions.find(session, user, subscription_id)
    return [TradeOut.of(each) for each in subscriptions.journal(session, subscription, limit)]


# --- payouts ----------------------------------------------------------------------------------------------


@router.get("/payouts/calculate", response_model=list[EarningsOut])
def calculate_payouts(
    user: CurrentUser, session: SessionDep, settings: SettingsDep,
    start: Annotated[datetime | None, Query(description="Default: the start of this month (UTC).")] = None,
    end: Annotated[datetime | None, Query(description="Default: now.")] = None,
    provider_id: int | None = None,
) -> list[EarningsOut]:
    """What copy trading earned each provider over ``[start, end)``, and what is payable now. Administrators see
    every provider; a provider sees their own."""
    now = utcnow()
    start = _aware(start) if start else now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = _aware(end) if end else now
    provider = _any_provider(session, provider_id) if provider_id is not None else None
    if not user.has_role(Role.ADMIN.value) and provider is not None and provider.user_id != user.id:
        raise NotFound(f"There is no signal provider {provider_id} of yours.")
    rows = billing.earnings(session, settings, start, end, provider=provider)
    if not user.has_role(Role.ADMIN.value):
        rows = [row for row in rows if row.provider.user_id == user.id]
    return [EarningsOut.of(row) for row in rows]


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@router.post("/payouts", response_model=PayoutOut, status_code=status.HTTP_201_CREATED)
def create_payout(body: PayoutIn, admin: AdminUser, session: SessionDep, settings: SettingsDep,
                  payments: PaymentsDep) -> PayoutOut:
    """Pay a provider their available balance through the payout provider (they must have a payout account)."""
    provider = _any_provider(session, body.provider_id)
    return PayoutOut.of(billing.create_payout(session, settings, payments, admin, provider, send=body.send))

"""Signal providers: applying with an account alphabook executes, the administrators' decisions, browsing.

A provider's track record is the account they apply with, so it must be theirs, active, and one whose orders
go through alphabook (a paper account or a live one routed by us; not a demo, which expires). Administrators
approve, reject (with a reason the applicant sees) or suspend; a rejected applicant may apply again. Suspending
unlists the provider and stops new copies, but followers' copies still shrink and close with the provider's
(see :mod:`alphabook.trading.copy.mirror`), so nothing is left behind. Every step is audited with the state
before and after.

Browsing shows approved providers with their latest figures (:mod:`.metrics`), followers and ratings; filters
and sorting run in SQL on the integer figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, Integer, Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alphabook.accounts.models import Role, User
from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from alphabook.core.money import Money
from alphabook.trading.copy.models import (
    ProviderRating,
    ProviderStatus,
    SignalProvider,
    Subscription,
    SubscriptionStatus,
    Verification,
)
from alphabook.trading.models import AccountKind, AccountStatus, TradingAccount

__all__ = ["SORTS", "Claims", "TraderQuery", "TraderRow", "apply", "approve", "browse", "find", "of_user", "reject",
           "row", "suspend", "visible_to"]

Sort = Literal["return", "drawdown", "sharpe", "win_rate", "followers", "rating", "newest"]
SORTS: tuple[Sort, ...] = ("return", "drawdown", "sharpe", "win_rate", "followers", "rating", "newest")


@dataclass(frozen=True, slots=True)
class Claims:
    """What a provider says of their own performance, in basis points; None: not claimed."""

    return_bp: int | None = None
    drawdown_bp: int | None = None
    win_rate_bp: int | None = None


@dataclass(frozen=True, slots=True)
class TraderRow:
    provider: SignalProvider
    followers: int
    rating_count: int
    rating_total: int

    @property
    def rating(self) -> Decimal | None:
        """The average stars, to two decimals; None without ratings."""
        if not self.rating_count:
            return None
        return (Decimal(self.rating_total) / self.rating_count).quantize(Decimal("0.01"))


@dataclass(frozen=True, slots=True)
class TraderQuery:
    """Browse filters, as percentages and ratios (``min_return=10`` is 10 %)."""

    min_return: Decimal | None = None
    max_drawdown: Decimal | None = None
    min_sharpe: Decimal | None = None
    min_win_rate: Decimal | None = None
    min_rating: Decimal | None = None
    min_followers: int | None = None
    sort: Sort = "return"
    limit: int = 50
    offset: int = 0


def _snapshot(provider: SignalProvider) -> dict[str, object]:
    return {"status": provider.status, "price_minor": provider.price_minor, "currency": provider.currency,
            "account_id": provider.account_id}


def _audit(session: Session, actor: str, action: str, provider: SignalProvider, before: dict[str, object] | None,
           reason: str | None = None) -> None:
    audit.record(session, actor=actor, action=action, subject=f"copy_provider:{provider.id}", reason=reason,
                 before=before, after=_snapshot(provider))


def of_user(session: Session, user: User) -> list[SignalProvider]:
    """``user``'s own applications and providers, whatever their status, oldest first."""
    return list(session.scalars(select(SignalProvider).where(SignalProvider.user_id == user.id)
                                .order_by(SignalProvider.id)))


def _check_claims(claims: Claims) -> None:
    for name, value, low, high in (("return", claims.return_bp, -10_000, None), ("drawdown", claims.drawdown_bp, 0,
                                   10_000), ("win rate", claims.win_rate_bp, 0, 10_000)):
        if value is not None and (value < low or (high is not None and value > high)):
            raise InvalidInput(f"A claimed {name} of {value} basis points is not possible.")


def apply(session: Session, settings: Settings, user: User, account_id: int, *, name: str, description: str,
          price: Money, claims: Claims) -> SignalProvider:
    """Apply to be a signal provider with one of ``user``'s accounts; a rejected application may be renewed."""
    account = session.get(TradingAccount, account_id)
    if account is None or account.owner_id != user.id:
        raise NotFound(f"No trading account {account_id} of yours.")
    if account.kind not in (AccountKind.PAPER, AccountKind.LIVE):
        raise InvalidInput("Apply with a paper or live account: a demo account expires, and a track record must "
                           "not.")
    if account.status != AccountStatus.ACTIVE:
        raise Conflict(f"Account {account.id} is {account.status}; apply with an active account.")
    if price.currency != settings.marketplace_currency:
        raise InvalidInput(f"Prices are in {settings.marketplace_currency}, the currency providers are paid in.")
    if price.amount_minor < 0:
        raise InvalidInput("A monthly price cannot be negative; 0 makes following free.")
    name = name.strip()
    if not 3 <= len(name) <= 80:
        raise InvalidInput("A provider's name is 3 to 80 characters.")
    _check_claims(claims)
    now = utcnow()
    provider = session.scalar(select(SignalProvider).where(SignalProvider.account_id == account.id))
    before = _snapshot(provider) if provider is not None else None
    if provider is not None and provider.status != ProviderStatus.REJECTED:
        raise Conflict(f"Account {account.id} is already provider {provider.id}'s ({provider.status}).")
    if provider is None:
        provider = SignalProvider(user_id=user.id, account_id=account.id, verification=Verification.UNVERIFIED,
                                  trades=0, created_at=now)
        try:
            with session.begin_nested():
                _fill(provider, name, description, price, claims)
                session.add(provider)
        except IntegrityError:  # the same application sent twice at once: the other one stands
            raise Conflict(f"Account {account.id} has just applied; see its application.") from None
    else:
        _fill(provider, name, description, price, claims)
    _audit(session, user.name, "copy.provider.applied", provider, before)
    session.flush()
    return provider


def _fill(provider: SignalProvider, name: str, description: str, price: Money, claims: Claims) -> None:
    provider.name, provider.description = name, description
    provider.status, provider.status_reason = ProviderStatus.APPLIED, None
    provider.price_minor, provider.currency = price.amount_minor, price.currency
    provider.claimed_return_bp, provider.claimed_drawdown_bp = claims.return_bp, claims.drawdown_bp
    provider.claimed_win_rate_bp = claims.win_rate_bp
    provider.updated_at = utcnow()


def _decide(session: Session, admin: User, provider: SignalProvider, to: ProviderStatus,
            allowed_from: tuple[ProviderStatus, ...], reason: str | None) -> SignalProvider:
    if not admin.has_role(Role.ADMIN.value):
        raise Forbidden("Deciding on signal providers is for administrators.")
    if provider.status not in allowed_from:
        raise Conflict(f"Provider {provider.id} is {provider.status}; it cannot be {to} from there.")
    if to != ProviderStatus.APPROVED and not (reason or "").strip():
        raise InvalidInput("Say why: the provider sees the reason.")
    before = _snapshot(provider)
    provider.status, provider.status_reason, provider.updated_at = to, (reason or "").strip() or None, utcnow()
    _audit(session, admin.name, f"copy.provider.{to}", provider, before, reason)
    session.flush()
    return provider


def approve(session: Session, admin: User, provider: SignalProvider, reason: str | None = None) -> SignalProvider:
    """List an applicant, or reinstate a suspended provider."""
    return _decide(session, admin, provider, ProviderStatus.APPROVED,
                   (ProviderStatus.APPLIED, ProviderStatus.SUSPENDED), reason)


def reject(session: Session, admin: User, provider: SignalProvider, reason: str) -> SignalProvider:
    return _decide(session, admin, provider, ProviderStatus.REJECTED, (ProviderStatus.APPLIED,), reason)


def suspend(session: Session, admin: User, provider: SignalProvider, reason: str) -> SignalProvider:
    return _decide(session, admin, provider, ProviderStatus.SUSPENDED, (ProviderStatus.APPROVED,), reason)


def visible_to(provider: SignalProvider, user: User | None) -> bool:
    """Approved providers are public; others only to themselves and administrators."""
    return provider.status == ProviderStatus.APPROVED or (
        user is not None and (user.id == provider.user_id or user.has_role(Role.ADMIN.value)))


def find(session: Session, provider_id: int, user: User | None) -> SignalProvider:
    provider = session.get(SignalProvider, provider_id)
    if provider is None or not visible_to(provider, user):
        raise NotFound(f"There is no signal provider {provider_id}.")
    return provider


def _rows() -> tuple[Select[SignalProvider, int, int, int], ColumnElement[int], ColumnElement[int],
                     ColumnElement[int]]:
    """Providers with their active followers, rating count and stars total; and those three expressions."""
    following = (select(Subscription.provider_id, func.count().label("n"))
                 .where(Subscription.status == SubscriptionStatus.ACTIVE)
                 .group_by(Subscription.provider_id).subquery())
    rated = (select(ProviderRating.provider_id, func.count().label("n"),
                    func.sum(ProviderRating.stars).label("total"))
             .group_by(ProviderRating.provider_id).subquery())
    followers = func.coalesce(following.c.n, 0, type_=Integer)
    rating_count = func.coalesce(rated.c.n, 0, type_=Integer)
    rating_total = func.coalesce(rated.c.total, 0, type_=Integer)
    statement = (select(SignalProvider, followers, rating_count, rating_total)
                 .outerjoin(following, following.c.provider_id == SignalProvider.id)
                 .outerjoin(rated, rated.c.provider_id == SignalProvider.id))
    return statement, followers, rating_count, rating_total


def row(session: Session, provider: SignalProvider) -> TraderRow:
    found = session.execute(_rows()[0].where(SignalProvider.id == provider.id)).one()
    return TraderRow(found[0], int(found[1]), int(found[2]), int(found[3]))


def browse(session: Session, query: TraderQuery) -> list[TraderRow]:
    """Approved providers matching ``query``, sorted; ties go to the earlier provider."""
    if query.sort not in SORTS:
        raise InvalidInput(f"Sort by one of {', '.join(SORTS)}.")
    if not 1 <= query.limit <= 200 or query.offset < 0:
        raise InvalidInput("Ask for 1 to 200 providers at a time, from a non-negative offset.")
    statement, followers, rating_count, rating_total = _rows()
    statement = statement.where(SignalProvider.status == ProviderStatus.APPROVED)
    if query.min_return is not None:
        statement = statement.where(SignalProvider.return_bp >= math.ceil(query.min_return * 100))
    if query.max_drawdown is not None:
        statement = statement.where(SignalProvider.max_drawdown_bp <= math.floor(query.max_drawdown * 100))
    if query.min_sharpe is not None:
        statement = statement.where(SignalProvider.sharpe_milli >= math.ceil(query.min_sharpe * 1000))
    if query.min_win_rate is not None:
        statement = statement.where(SignalProvider.win_rate_bp >= math.ceil(query.min_win_rate * 100))
    if query.min_followers is not None:
        statement = statement.where(followers >= query.min_followers)
    if query.min_rating is not None:  # total / count >= r, kept in integers: 100 * total >= ceil(100 r) * count
        statement = statement.where(rating_count > 0,
                                    rating_total * 100 >= math.ceil(query.min_rating * 100) * rating_count)
    order: dict[str, ColumnElement[Any]] = {
        "return": SignalProvider.return_bp.desc().nulls_last(),
        "drawdown": SignalProvider.max_drawdown_bp.asc().nulls_last(),
        "sharpe": SignalProvider.sharpe_milli.desc().nulls_last(),
        "win_rate": SignalProvider.win_rate_bp.desc().nulls_last(),
        "followers": followers.desc(),
        "rating": (rating_total * 1000 / func.nullif(rating_count, 0)).desc().nulls_last(),
        "newest": SignalProvider.created_at.desc(),
    }
    statement = statement.order_by(order[query.sort], SignalProvider.id).limit(query.limit).offset(query.offset)
    return [TraderRow(each[0], int(each[1]), int(each[2]), int(each[3])) for each in session.execute(statement)]

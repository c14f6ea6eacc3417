"""Ratings of providers: 1 to 5 stars and a comment, by people following them now, one each, editable.

Only an active follower may rate (a rating is about the experience of copying, which a passer-by has not had),
and never the provider themselves. The provider row is locked while a rating is written, so two ratings by one
follower at the same moment leave one row; averages are computed when read (:mod:`.providers`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.errors import Forbidden, InvalidInput
from alphabook.trading.copy.models import ProviderRating, SignalProvider, Subscription, SubscriptionStatus

__all__ = ["MAX_COMMENT", "rate", "ratings_of"]

MAX_COMMENT = 4000


def rate(session: Session, user: User, provider: SignalProvider, stars: int, comment: str = "") -> ProviderRating:
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise InvalidInput("A rating is a whole number of stars from 1 to 5.")
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"Keep the comment under {MAX_COMMENT} characters.")
    if provider.user_id == user.id:
        raise Forbidden("Providers cannot rate themselves.")
    following = session.scalar(select(Subscription.id).where(
        Subscription.provider_id == provider.id, Subscription.follower_id == user.id,
        Subscription.status == SubscriptionStatus.ACTIVE))
    if following is None:
        raise Forbidden(f"Only people following {provider.name} can rate them.")
    session.execute(select(SignalProvider.id).where(SignalProvider.id == provider.id).with_for_update())
    now = utcnow()
    rating = _find(session, provider, user)
    if rating is None:
        rating = ProviderRating(provider_id=provider.id, user_id=user.id, stars=stars, comment=comment,
                                created_at=now, updated_at=now)
        try:
            with session.begin_nested():
                session.add(rating)
        except IntegrityError:  # the same follower rating twice at once: keep the later one
            found = _find(session, provider, user)
            assert found is not None
            rating = found
    before = {"stars": rating.stars} if rating.created_at != now else None
    rating.stars, rating.comment, rating.updated_at = stars, comment, now
    audit.record(session, actor=user.name, action="copy.provider.rated", subject=f"copy_provider:{provider.id}",
                 before=before, after={"stars": stars})
    session.flush()
    return rating


def _find(session: Session, provider: SignalProvider, user: User) -> ProviderRating | None:
    return session.scalar(select(ProviderRating).where(ProviderRating.provider_id == provider.id,
                                                       ProviderRating.user_id == user.id))


def ratings_of(session: Session, provider: SignalProvider, limit: int = 50) -> list[ProviderRating]:
    return list(session.scalars(select(ProviderRating).where(ProviderRating.provider_id == provider.id)
                                .order_by(ProviderRating.updated_at.desc(), ProviderRating.id.desc()).limit(limit)))

"""Ratings: 1 to 5 stars and a comment, by people who bought (or installed) a listing, one each, editable.

The listing's count, sum and average are recomputed from the ratings table inside the write, with the
listing row locked (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite serialises writers anyway), so fifty
simultaneous ratings leave exactly the right average.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.core.clock import utcnow
from alphabook.core.errors import Forbidden, InvalidInput
from alphabook.marketplace import entitlements
from alphabook.marketplace.models import Listing, Rating

__all__ = ["rate", "ratings_of", "received", "recompute"]

MAX_COMMENT = 4000


def rate(session: Session, user: User, listing: Listing, stars: int, comment: str = "") -> Rating:
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise InvalidInput("A rating is a whole number of stars from 1 to 5.")
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"Keep the comment under {MAX_COMMENT} characters.")
    if listing.creator_id == user.id:
        raise Forbidden("Creators cannot rate their own listings.")
    if entitlements.active_entitlement(session, user.id, listing.id) is None:
        raise Forbidden(f"Only people who {'installed' if listing.free else 'bought'} {listing.slug} can rate it.")
    session.execute(select(Listing.id).where(Listing.id == listing.id).with_for_update())
    now = utcnow()
    rating = session.scalar(select(Rating).where(Rating.listing_id == listing.id, Rating.user_id == user.id))
    if rating is None:
        rating = Rating(listing_id=listing.id, user_id=user.id, stars=stars, comment=comment, created_at=now,
                        updated_at=now)
        try:
            with session.begin_nested():
                session.add(rating)
        except IntegrityError:  # the same person rating twice at once: keep the later one
            rating = session.scalars(select(Rating).where(Rating.listing_id == listing.id,
                                                          Rating.user_id == user.id)).one()
    rating.stars, rating.comment, rating.updated_at = stars, comment, now
    session.flush()
    recompute(session, listing)
    return rating


def recompute(session: Session, listing: Listing) -> None:
    """The listing's count, sum and average from its ratings (call with the listing row locked)."""
    count, total = session.execute(select(func.count(), func.coalesce(func.sum(Rating.stars), 0))
                                   .where(Rating.listing_id == listing.id)).one()
    listing.rating_count, listing.rating_sum = int(count), int(total)
    listing.rating_avg = round(int(total) / int(count), 4) if count else 0.0
    session.flush()


def ratings_of(session: Session, listing: Listing, limit: int = 50) -> list[Rating]:
    return list(session.scalars(select(Rating).where(Rating.listing_id == listing.id)
                                .order_by(Rating.updated_at.desc(), Rating.id.desc()).limit(limit)))


def received(session: Session, creator: User, limit: int = 50) -> list[tuple[Rating, Listing]]:
    """The latest ratings of all of ``creator``'s listings, each with its listing: what buyers say about them."""
    return [(rating, listing) for rating, listing in session.execute(
        select(Rating, Listing).join(Listing, Listing.id == Rating.listing_id).where(Listing.creator_id == creator.id)
        .order_by(Rating.updated_at.desc(), Rating.id.desc()).limit(limit))]

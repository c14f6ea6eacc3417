"""A person's right to their data: export everything we hold about them, or erase it.

Erasure removes personal data (name, e-mail, password, API keys, rating comments, flag texts) and keeps the
money records, which the law requires, attached to an anonymous ``deleted-<id>`` account: purchases,
payouts and ledger entries stay exact and balanced. The audit log is append-only; it keeps the actor names
it recorded, as the legal record of who did what.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alphabook.accounts.models import ApiKey, Password, User
from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.errors import InvalidInput
from alphabook.marketplace import entitlements
from alphabook.marketplace.models import Entitlement, Flag, Listing, Rating
from alphabook.payments import ledger
from alphabook.payments.models import Payout, Purchase

__all__ = ["erase", "export"]


def _rows(session: Session, model: type[Any], column: Any, user_id: int,
          fields: tuple[str, ...]) -> list[dict[str, Any]]:
    result = []
    for row in session.scalars(select(model).where(column == user_id).order_by(model.id)):
        result.append({field: _plain(getattr(row, field)) for field in fields})
    return result


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def export(session: Session, user: User) -> dict[str, Any]:
    """Everything alphabook holds about ``user``, as JSON-ready data."""
    own = (ledger.creator_account(user.id), ledger.held_account(user.id))
    balances = {f"{account} {currency}": money.amount_minor
                for (account, currency), money in ledger.balances(session).items() if account in own}
    return {
        "exported_at": utcnow().isoformat(),
        "profile": {"name": user.name, "email": user.email, "roles": user.roles,
                    "created_at": _plain(user.created_at), "last_seen_at": _plain(user.last_seen_at)},
        "api_keys": _rows(session, ApiKey, ApiKey.user_id, user.id,
                          ("name", "prefix", "scopes", "created_at", "expires_at", "last_used_at")),
        "listings": _rows(session, Listing, Listing.creator_id, user.id, ("slug", "title", "status", "created_at")),
        "purchases": _rows(session, Purchase, Purchase.buyer_id, user.id,
                           ("id", "listing_id", "amount_minor", "currency", "status", "created_at", "completed_at",
                            "refunded_at")),
        "library": _rows(session, Entitlement, Entitlement.user_id, user.id,
                         ("listing_id", "version_id", "source", "granted_at", "revoked_at")),
        "ratings": _rows(session, Rating, Rating.user_id, user.id, ("listing_id", "stars", "comment", "updated_at")),
        "flags": _rows(session, Flag, Flag.user_id, user.id, ("listing_id", "reason", "created_at")),
        "payouts": _rows(session, Payout, Payout.creator_id, user.id,
                         ("id", "amount_minor", "currency", "status", "requested_at", "settled_at")),
        "balances_minor": balances,
    }


def erase(session: Session, user: User, *, confirm: str) -> User:
    """Erase ``user``'s personal data; ``confirm`` must repeat their name (this cannot be undone)."""
    if confirm != user.name:
        raise InvalidInput(f"To erase your account, confirm with your user name ({user.name!r}).")
    former = user.name
    from alphabook.marketplace import ratings as rating_service

    for entitlement in list(session.scalars(select(Entitlement).where(Entitlement.user_id == user.id,
                                                                      Entitlement.revoked_at.is_(None)))):
        entitlements.revoke(session, user.id, entitlement.listing)
    rated = list(session.scalars(select(Rating).where(Rating.user_id == user.id)))
    for rating in rated:
        listing = session.get(Listing, rating.listing_id)
        session.delete(rating)
        session.flush()
        if listing is not None:
            rating_service.recompute(session, listing)
    for flag in session.scalars(select(Flag).where(Flag.user_id == user.id)):
        flag.reason = "(erased)"
    session.execute(delete(ApiKey).where(ApiKey.user_id == user.id))
    session.execute(delete(Password).where(Password.user_id == user.id))
    user.name, user.email, user.roles = f"deleted-{user.id}", None, []
    session.flush()
    audit.record(session, actor=f"deleted-{user.id}", action="account.erased", subject=f"user:{user.id}",
                 ratings_removed=len(rated), had_name_length=len(former))
    return user

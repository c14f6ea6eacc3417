"""Who may run (and for ``open`` listings read) what: entitlements, and the sales counters they drive.

An entitlement is granted by a verified payment (never by a browser coming back from checkout) or by
installing a free listing, pinned to a version, and revoked by a refund or a lost dispute. The listing's
``purchases``/``installs`` counters are recounted from the entitlements in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alphabook.accounts.models import Role, User
from alphabook.core.clock import utcnow
from alphabook.core.errors import Conflict, Forbidden, NotFound
from alphabook.marketplace.models import Entitlement, Listing, ListingStatus, ListingVersion, VersionStatus

__all__ = ["active_entitlement", "can_read_source", "grant", "install", "recount", "require_access", "revoke"]


def active_entitlement(session: Session, user_id: int, listing_id: int) -> Entitlement | None:
    return session.scalar(select(Entitlement).where(Entitlement.user_id == user_id,
                                                    Entitlement.listing_id == listing_id,
                                                    Entitlement.revoked_at.is_(None)))


def grant(session: Session, user_id: int, listing: Listing, version_id: int, *, source: str,
          purchase_id: int | None = None) -> Entitlement:
    """Grant (or restore) ``user_id``'s access to ``listing`` at ``version_id``."""
    entitlement = session.scalar(select(Entitlement).where(Entitlement.user_id == user_id,
                                                           Entitlement.listing_id == listing.id))
    now = utcnow()
    if entitlement is None:
        entitlement = Entitlement(user_id=user_id, listing_id=listing.id, version_id=version_id, source=source,
                                  purchase_id=purchase_id, granted_at=now)
        session.add(entitlement)
    else:
        entitlement.version_id, entitlement.source, entitlement.purchase_id = version_id, source, purchase_id
        entitlement.granted_at, entitlement.revoked_at = now, None
    session.flush()
    recount(session, listing)
    return entitlement


def revoke(session: Session, user_id: int, listing: Listing) -> None:
    entitlement = active_entitlement(session, user_id, listing.id)
    if entitlement is not None:
        entitlement.revoked_at = utcnow()
        session.flush()
        recount(session, listing)


def recount(session: Session, listing: Listing) -> None:
    """Purchases and installs from the active entitlements (never incremented blindly)."""
    counts = dict(session.execute(select(Entitlement.source, func.count()).where(
        Entitlement.listing_id == listing.id, Entitlement.revoked_at.is_(None)).group_by(Entitlement.source)).all())
    listing.purchases = int(counts.get("purchase", 0))
    listing.installs = int(counts.get("install", 0))


def install(session: Session, user: User, listing: Listing) -> Entitlement:
    """Add a free, approved listing to ``user``'s library (pinned to its active version)."""
    if listing.status != ListingStatus.APPROVED:
        raise NotFound(f"Listing {listing.slug} is not available.")
    if not listing.free:
        raise Conflict(f"{listing.slug} costs {listing.price}; buy it instead of installing it.")
    version = listing.active_version
    if version is None:
        raise Conflict(f"{listing.slug} has no released version yet.")
    existing = active_entitlement(session, user.id, listing.id)
    return existing or grant(session, user.id, listing, version.id, source="install")


def _is_staff(user: User, listing: Listing) -> bool:
    return user.id == listing.creator_id or user.has_role(Role.ADMIN.value)


def require_access(session: Session, user: User, listing: Listing, version: str | None = None) -> ListingVersion:
    """The version ``user`` runs: the creator and admins the active one (or any they name), everyone else their
    pinned one, or a newer approved version of the same major version that they name (what an upgrade allows)."""
    if _is_staff(user, listing):
        chosen = (next((each for each in listing.versions if each.version == version), None) if version else
                  listing.active_version or (listing.versions[-1] if listing.versions else None))
        if chosen is None:
            raise Conflict(f"{listing.slug} has no version {version or ''} to run yet.".replace("  ", " "))
        return chosen
    entitlement = active_entitlement(session, user.id, listing.id)
    if entitlement is None or listing.status in (ListingStatus.SUSPENDED, ListingStatus.REMOVED):
        what = "install it" if listing.free else "buy it"
        raise Forbidden(f"You have no access to {listing.slug}; {what} first.")
    pinned = entitlement.version
    if version is None or version == pinned.version:
        return pinned
    target = next((each for each in listing.versions if each.version == version
                   and each.status == VersionStatus.APPROVED), None)
    if target is None:
        raise Forbidden(f"{listing.slug} has no released version {version}; you own {pinned.version}.")
    if target.major != pinned.major:
        raise Forbidden(f"{listing.slug} {version} is a new major version; you own {pinned.version}, and a new "
                        "major version is a new purchase.")
    return target


def can_read_source(session: Session, user: User, listing: Listing) -> bool:
    """The creator and admins always; buyers only of ``open`` listings. Protected source never leaves."""
    if _is_staff(user, listing):
        return True
    return listing.licence == "open" and active_entitlement(session, user.id, listing.id) is not None

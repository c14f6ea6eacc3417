"""Moderation: the review queue, approve/reject with a reason the creator sees, suspend, reinstate, remove,
and users' flags. Every decision is written to the audit log with the state before and after.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from alphabook.accounts.models import Role, User
from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.errors import Conflict, Forbidden, InvalidInput
from alphabook.marketplace.listings import activate
from alphabook.marketplace.models import Flag, Listing, ListingStatus, ListingVersion, VersionStatus
from alphabook.notifications import announce

__all__ = ["approve", "flag", "open_flags", "pending_version", "queue", "reinstate", "reject", "remove",
           "resolve_flags", "suspend"]


def _require_admin(user: User) -> None:
    if not user.has_role(Role.ADMIN.value):
        raise Forbidden("Moderation is for administrators.")


def pending_version(listing: Listing) -> ListingVersion | None:
    """The version waiting for a decision (approve and reject act on it; the moderator reads its checks)."""
    return next((each for each in reversed(listing.versions) if each.status == VersionStatus.PENDING), None)


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidInput("Say why: the creator sees the reason.")
    return reason


def _record(session: Session, admin: User, action: str, listing: Listing, before: str, reason: str | None,
            version: ListingVersion | None = None) -> None:
    audit.record(session, actor=admin.name, action=action, subject=f"listing:{listing.slug}", reason=reason,
                 version=version.version if version else None, before={"status": before},
                 after={"status": listing.status})


def queue(session: Session) -> list[Listing]:
    """Listings waiting for a decision: pending, with a pending version, or flagged; oldest first."""
    pending_versions = select(ListingVersion.listing_id).where(ListingVersion.status == VersionStatus.PENDING)
    query = select(Listing).where(or_(Listing.status == ListingStatus.PENDING, Listing.flags_open > 0,
                                      Listing.id.in_(pending_versions))).order_by(Listing.updated_at, Listing.id)
    return list(session.scalars(query))


def approve(session: Session, admin: User, listing: Listing, reason: str | None = None) -> ListingVersion:
    _require_admin(admin)
    version = pending_version(listing)
    if version is None:
        raise Conflict(f"{listing.slug} has nothing waiting for review.")
    before = listing.status
    version.status, version.review_reason = VersionStatus.APPROVED, reason
    activate(listing, version)
    if listing.status == ListingStatus.PENDING:
        listing.status, listing.status_reason = ListingStatus.APPROVED, reason
    listing.updated_at = utcnow()
    _record(session, admin, "listing.approved", listing, before, reason, version)
    announce.listing_decided(session, listing, version)
    session.flush()
    return version


def reject(session: Session, admin: User, listing: Listing, reason: str) -> ListingVersion:
    _require_admin(admin)
    reason = _reason(reason)
    version = pending_version(listing)
    if version is None:
        raise Conflict(f"{listing.slug} has nothing waiting for review.")
    before = listing.status
    version.status, version.review_reason = VersionStatus.REJECTED, reason
    if listing.status == ListingStatus.PENDING:
        listing.status, listing.status_reason = ListingStatus.REJECTED, reason
    listing.updated_at = utcnow()
    _record(session, admin, "listing.rejected", listing, before, reason, version)
    announce.listing_decided(session, listing, version)
    session.flush()
    return version


def _move(session: Session, admin: User, listing: Listing, to: ListingStatus, allowed: tuple[str, ...],
          action: str, reason: str | None) -> Listing:
    if listing.status not in allowed:
        raise Conflict(f"{listing.slug} is {listing.status}; it cannot be {action.split('.')[1]}.")
    before = listing.status
    listing.status, listing.status_reason, listing.updated_at = to, reason, utcnow()
    _record(session, admin, action, listing, before, reason)
    session.flush()
    return listing


def suspend(session: Session, admin: User, listing: Listing, reason: str) -> Listing:
    _require_admin(admin)
    return _move(session, admin, listing, ListingStatus.SUSPENDED, (ListingStatus.APPROVED,), "listing.suspended",
                 _reason(reason))


def reinstate(session: Session, admin: User, listing: Listing, reason: str | None = None) -> Listing:
    _require_admin(admin)
    return _move(session, admin, listing, ListingStatus.APPROVED, (ListingStatus.SUSPENDED,), "listing.reinstated",
                 reason)


def remove(session: Session, user: User, listing: Listing, reason: str) -> Listing:
    """Admins remove anything; creators may withdraw their own listing."""
    if listing.creator_id != user.id:
        _require_admin(user)
    allowed = tuple(status for status in ListingStatus if status != ListingStatus.REMOVED)
    return _move(session, user, listing, ListingStatus.REMOVED, allowed, "listing.removed", _reason(reason))


def flag(session: Session, user: User, listing: Listing, reason: str) -> Flag:
    if listing.creator_id == user.id:
        raise InvalidInput("You cannot flag your own listing.")
    entry = Flag(listing_id=listing.id, user_id=user.id, reason=_reason(reason)[:2000], created_at=utcnow())
    session.add(entry)
    session.flush()
    _count_flags(session, listing)
    audit.record(session, actor=user.name, action="listing.flagged", subject=f"listing:{listing.slug}",
                 reason=entry.reason)
    return entry


def open_flags(session: Session, listing: Listing) -> list[Flag]:
    """What users reported about ``listing`` and nobody has resolved yet, oldest first (what a moderator reads
    before resolving them or suspending the listing)."""
    return list(session.scalars(select(Flag).where(Flag.listing_id == listing.id, Flag.resolved_at.is_(None))
                                .order_by(Flag.created_at, Flag.id)))


def resolve_flags(session: Session, admin: User, listing: Listing, resolution: str) -> int:
    """Close every open flag of ``listing`` with a resolution (suspending is a separate decision)."""
    _require_admin(admin)
    now, resolution = utcnow(), _reason(resolution)
    flags = list(session.scalars(select(Flag).where(Flag.listing_id == listing.id, Flag.resolved_at.is_(None))))
    for each in flags:
        each.resolved_at, each.resolution = now, resolution
    session.flush()
    _count_flags(session, listing)
    audit.record(session, actor=admin.name, action="listing.flags_resolved", subject=f"listing:{listing.slug}",
                 resolution=resolution, flags=len(flags))
    return len(flags)


def _count_flags(session: Session, listing: Listing) -> None:
    listing.flags_open = int(session.scalar(select(func.count()).select_from(Flag).where(
        Flag.listing_id == listing.id, Flag.resolved_at.is_(None))) or 0)

"""Listings and their versions: create, edit, add a version (checked at once), submit, roll back.

A listing moves ``draft -> pending -> approved | rejected``, and an admin may later suspend or remove it
(:mod:`alphabook.marketplace.moderation`). A version is checked by :mod:`alphabook.marketplace.checks` as
soon as it is added; only a version whose checks passed can be submitted, and only an approved version
becomes the active one new buyers get. Versions follow semantic versioning: a new one must be greater
than every earlier one, and a breaking change must raise the major number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from alphabook.accounts.models import Role, User
from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.db import end_transaction
from alphabook.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from alphabook.core.money import Money
from alphabook.marketplace import checks, entitlements
from alphabook.marketplace.models import Licence, Listing, ListingKind, ListingStatus, ListingVersion, VersionStatus
from alphabook.marketplace.text import parse_version, slugify
from alphabook.sandbox.base import Executor

__all__ = ["activate", "add_version", "create_listing", "get_listing", "get_listing_by_id", "move_to_version",
           "of_creator", "rollback", "submit", "update_listing", "visible_to"]

PUBLIC = (ListingStatus.APPROVED,)


def _require_creator(user: User) -> None:
    if not (user.has_role(Role.CREATOR.value) or user.has_role(Role.ADMIN.value)):
        raise Forbidden("Publishing needs the creator role; ask an administrator to add you to 'creators'.")


def _require_owner(user: User, listing: Listing) -> None:
    if listing.creator_id != user.id and not user.has_role(Role.ADMIN.value):
        raise Forbidden(f"Only the creator of {listing.slug} can change it.")


def _choice(value: str, allowed: type[ListingKind] | type[Licence], what: str) -> str:
    try:
        return allowed(value).value
    except ValueError:
        raise InvalidInput(f"{what} must be one of {', '.join(item.value for item in allowed)}.") from None


def create_listing(session: Session, creator: User, *, name: str, kind: str, title: str, description: str,
                   category: str, tags: Sequence[str], price: Money, licence: str, official: bool = False) -> Listing:
    _require_creator(creator)
    slug = f"{creator.name}/{slugify(name)}"
    if session.scalar(select(Listing.id).where(Listing.slug == slug)) is not None:
        raise Conflict(f"You already have a listing called {slug}.")
    if price.amount_minor < 0:
        raise InvalidInput("A price cannot be negative.")
    now = utcnow()
    listing = Listing(slug=slug, creator_id=creator.id, kind=_choice(kind, ListingKind, "kind"), title=title,
                      description=description, category=category, tags=sorted({tag.lower() for tag in tags}),
                      price_minor=price.amount_minor, currency=price.currency,
                      licence=_choice(licence, Licence, "licence"), status=ListingStatus.DRAFT, official=official,
                      created_at=now, updated_at=now)
    session.add(listing)
    session.flush()
    audit.record(session, actor=creator.name, action="listing.created", subject=f"listing:{listing.slug}",
                 after={"status": listing.status, "price_minor": listing.price_minor, "currency": listing.currency})
    return listing


def update_listing(session: Session, user: User, listing: Listing, changes: Mapping[str, Any]) -> Listing:
    """Edit title, description, category, tags, price or licence (a price change is audited)."""
    _require_owner(user, listing)
    before = {"price_minor": listing.price_minor, "currency": listing.currency, "licence": listing.licence}
    for field in ("title", "description", "category"):
        if changes.get(field) is not None:
            setattr(listing, field, changes[field])
    if changes.get("tags") is not None:
        listing.tags = sorted({tag.lower() for tag in changes["tags"]})
    if changes.get("licence") is not None:
        listing.licence = _choice(changes["licence"], Licence, "licence")
    if changes.get("price") is not None:
        price: Money = changes["price"]
        if price.amount_minor < 0:
            raise InvalidInput("A price cannot be negative.")
        listing.price_minor, listing.currency = price.amount_minor, price.currency
    listing.updated_at = utcnow()
    after = {"price_minor": listing.price_minor, "currency": listing.currency, "licence": listing.licence}
    if after != before:
        audit.record(session, actor=user.name, action="listing.updated", subject=f"listing:{listing.slug}",
                     before=before, after=after)
    session.flush()
    return listing


def get_listing(session: Session, slug: str) -> Listing:
    listing = session.scalar(select(Listing).where(Listing.slug == slug))
    if listing is None:
        raise NotFound(f"There is no listing {slug}.")
    return listing


def get_listing_by_id(session: Session, listing_id: int) -> Listing:
    listing = session.get(Listing, listing_id)
    if listing is None:
        raise NotFound(f"There is no listing {listing_id}.")
    return listing


def of_creator(session: Session, creator: User) -> list[Listing]:
    """Every listing of ``creator`` whatever its state, newest first, with its versions (and their check reports)
    loaded: the creator's own view, where drafts, rejections and failed checks matter most."""
    query = (select(Listing).where(Listing.creator_id == creator.id).options(selectinload(Listing.versions))
             .order_by(Listing.created_at.desc(), Listing.id.desc()))
    return list(session.scalars(query))


def visible_to(listing: Listing, user: User | None) -> bool:
    """Approved listings are public; the rest only to their creator and admins."""
    if listing.status in PUBLIC:
        return True
    return user is not None and (listing.creator_id == user.id or user.has_role(Role.ADMIN.value))


def add_version(session: Session, user: User, listing: Listing, *, version: str, code: str,
                parameter_schema: Sequence[Mapping[str, Any]], changelog: str = "", breaking: bool = False,
                trials: int = 1, executor: Executor | None = None) -> ListingVersion:
    """Add a version and run its automated checks; the report says what failed and why.

    The checks run in the sandbox outside any transaction (see :func:`end_transaction`), so the version number is
    checked again against the versions stored meanwhile before the new one is written."""
    _require_owner(user, listing)
    _version_after(listing, version, breaking)
    end_transaction(session)
    report, preview = checks.run_checks(listing.kind, code, parameter_schema, executor, trials=trials)
    session.refresh(listing, ["versions"])
    numbers, breaking = _version_after(listing, version, breaking)
    row = ListingVersion(listing_id=listing.id, version=version.strip(), major=numbers[0], minor=numbers[1],
                         patch=numbers[2], code=code, parameter_schema=[dict(item) for item in parameter_schema],
                         changelog=changelog, breaking=breaking,
                         status=VersionStatus.CHECKED if report["ok"] else VersionStatus.FAILED,
                         report=report, preview=preview, created_at=utcnow())
    slug = listing.slug  # read now: a failed flush expires the listing
    listing.versions.append(row)
    listing.updated_at = utcnow()
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"Version {version} of {slug} was added meanwhile; choose a greater one.") from None
    return row


def _version_after(listing: Listing, version: str, breaking: bool) -> tuple[tuple[int, int, int], bool]:
    """``version``'s numbers, and whether it is breaking, if it may follow the listing's newest version."""
    numbers = parse_version(version)
    latest = max((existing.semver for existing in listing.versions), default=None)
    if latest is not None and numbers <= latest:
        raise Conflict(f"Version {version} must be greater than {'.'.join(map(str, latest))}.")
    if latest is not None and breaking and numbers[0] == latest[0]:
        raise InvalidInput(f"A breaking change needs a new major version (after {latest[0]}.x.x, use "
                           f"{latest[0] + 1}.0.0).")
    return numbers, breaking or (latest is not None and numbers[0] > latest[0])


def submit(session: Session, user: User, listing: Listing) -> ListingVersion:
    """Send the newest version to review; refused, with the failed checks, unless they all passed."""
    _require_owner(user, listing)
    if listing.status in (ListingStatus.SUSPENDED, ListingStatus.REMOVED):
        raise Conflict(f"{listing.slug} is {listing.status}; it cannot be submitted.")
    if not listing.versions:
        raise Conflict("Add a version before submitting.")
    version = listing.versions[-1]
    if version.status == VersionStatus.FAILED:
        failed = [f"{step['name']}: {step['detail']}" for step in version.report.get("steps", []) if not step["ok"]]
        raise InvalidInput(f"Version {version.version} failed its checks and cannot be submitted: "
                           + "; ".join(failed))
    if version.status != VersionStatus.CHECKED:
        raise Conflict(f"Version {version.version} is already {version.status}.")
    version.status = VersionStatus.PENDING
    before = listing.status
    if listing.status in (ListingStatus.DRAFT, ListingStatus.REJECTED):
        listing.status, listing.status_reason = ListingStatus.PENDING, None
    audit.record(session, actor=user.name, action="listing.submitted", subject=f"listing:{listing.slug}",
                 version=version.version, before={"status": before}, after={"status": listing.status})
    session.flush()
    return version


def activate(listing: Listing, version: ListingVersion) -> None:
    for each in listing.versions:
        each.active = each.id == version.id


def rollback(session: Session, user: User, listing: Listing, version: str) -> ListingVersion:
    """Make an earlier approved version the one new buyers get again."""
    _require_owner(user, listing)
    target = next((each for each in listing.versions if each.version == version), None)
    if target is None or target.status != VersionStatus.APPROVED:
        raise InvalidInput(f"{listing.slug} has no approved version {version} to roll back to.")
    previous = listing.active_version
    activate(listing, target)
    audit.record(session, actor=user.name, action="listing.rolled_back", subject=f"listing:{listing.slug}",
                 before={"active": previous.version if previous else None}, after={"active": target.version})
    session.flush()
    return target


def move_to_version(session: Session, user: User, listing: Listing, version: str) -> ListingVersion:
    """A buyer moves from their pinned version to a newer compatible one (same major, approved)."""
    entitlement = entitlements.active_entitlement(session, user.id, listing.id)
    if entitlement is None:
        raise Forbidden(f"You do not own {listing.slug}.")
    target = next((each for each in listing.versions if each.version == version), None)
    current = entitlement.version
    if target is None or target.status != VersionStatus.APPROVED:
        raise InvalidInput(f"{listing.slug} has no approved version {version}.")
    if target.major != current.major:
        raise InvalidInput(f"{version} is not compatible with your {current.version} (a new major version); "
                           "a new major version is a new purchase.")
    entitlement.version_id = target.id
    session.flush()
    return target

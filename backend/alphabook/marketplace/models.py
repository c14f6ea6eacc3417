"""Tables of the marketplace: listings, their versions, who may use them, ratings and flags.

A listing's price is an integer of minor units and a currency (see :mod:`alphabook.core.money`); its
rating and sales figures are counters kept in the listing row for browsing, recomputed from their
source rows inside the write that changes them (with the listing row locked), so they cannot drift.
Money itself is never counted here: revenue is the ledger's (:mod:`alphabook.payments.ledger`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from alphabook.accounts.models import User
from alphabook.core.db import Base
from alphabook.core.money import Money

__all__ = ["Entitlement", "Flag", "Licence", "Listing", "ListingKind", "ListingStatus", "ListingVersion", "Rating",
           "VersionStatus"]


class ListingKind(StrEnum):
    INDICATOR = "indicator"
    STRATEGY = "strategy"
    NOTEBOOK = "notebook"


class Licence(StrEnum):
    """``open``: buyers may read the source. ``protected``: it never leaves the server; it runs in the sandbox."""

    OPEN = "open"
    PROTECTED = "protected"


class ListingStatus(StrEnum):
    DRAFT = "draft"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"
    REMOVED = "removed"


class VersionStatus(StrEnum):
    """``failed``: the automated checks refused it; ``checked``: ready to submit; then review decides."""

    FAILED = "failed"
    CHECKED = "checked"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Listing(Base):
    __tablename__ = "listings"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(130), unique=True)
    creator_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(40), index=True)
    tags: Mapped[list[str]]
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    licence: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    official: Mapped[bool] = mapped_column(default=False)
    installs: Mapped[int] = mapped_column(default=0)
    purchases: Mapped[int] = mapped_column(default=0)
    rating_count: Mapped[int] = mapped_column(default=0)
    rating_sum: Mapped[int] = mapped_column(default=0)
    rating_avg: Mapped[float] = mapped_column(Float, default=0.0)  # rating_sum / rating_count, kept for sorting
    flags_open: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]

    creator: Mapped[User] = relationship()
    versions: Mapped[list[ListingVersion]] = relationship(
        back_populates="listing", order_by="ListingVersion.id", cascade="all, delete-orphan")

    __table_args__ = (
        Index("ix_listings_browse_popular", "status", "purchases", "id"),
        Index("ix_listings_browse_rating", "status", "rating_avg", "id"),
        Index("ix_listings_browse_price", "status", "price_minor", "id"),
    )

    @property
    def price(self) -> Money:
        return Money(self.price_minor, self.currency)

    @property
    def free(self) -> bool:
        return self.price_minor == 0

    @property
    def active_version(self) -> ListingVersion | None:
        return next((version for version in self.versions if version.active), None)


class ListingVersion(Base):
    __tablename__ = "listing_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(40))
    major: Mapped[int] = mapped_column(Integer)
    minor: Mapped[int] = mapped_column(Integer)
    patch: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(Text)
    parameter_schema: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    changelog: Mapped[str] = mapped_column(Text, default="")
    breaking: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16))
    report: Mapped[dict[str, Any]]  # the automated checks: validation, test run, backtest
    preview: Mapped[dict[str, Any] | None]  # the output over a sample chart, for the listing page
    active: Mapped[bool] = mapped_column(default=False)
    review_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]

    listing: Mapped[Listing] = relationship(back_populates="versions")

    __table_args__ = (UniqueConstraint("listing_id", "version", name="uq_listing_versions_listing_id_version"),)

    @property
    def semver(self) -> tuple[int, int, int]:
        return self.major, self.minor, self.patch


class Entitlement(Base):
    """The right to run (and, for ``open`` listings, read) a listing, pinned to a version."""

    __tablename__ = "entitlements"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("listing_versions.id"))
    source: Mapped[str] = mapped_column(String(16))  # "purchase" | "install" (free listings)
    purchase_id: Mapped[int | None] = mapped_column(ForeignKey("purchases.id"))
    granted_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    listing: Mapped[Listing] = relationship()
    version: Mapped[ListingVersion] = relationship()

    __table_args__ = (UniqueConstraint("user_id", "listing_id", name="uq_entitlements_user_id_listing_id"),)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class Rating(Base):
    __tablename__ = "ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    stars: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    user: Mapped[User] = relationship()

    __table_args__ = (UniqueConstraint("listing_id", "user_id", name="uq_ratings_listing_id_user_id"),)


class Flag(Base):
    """A user's report that a listing breaks the rules; open flags put the listing in the moderation queue."""

    __tablename__ = "flags"

    id: Mapped[int] = mapped_column(primary_key=True)
    listing_id: Mapped[int] = mapped_column(ForeignKey("listings.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(Text)

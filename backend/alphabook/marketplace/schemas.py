"""API shapes of the marketplace and payments (pydantic at the edge; ORM rows never leave the services).

Prices travel as ``{"amount_minor": 1999, "currency": "USD"}`` (plus a display string), never as floats.
A version's code is never part of these shapes: source is served by its own route, to those allowed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from alphabook.core.money import Money
from alphabook.marketplace.models import Listing, ListingVersion
from alphabook.marketplace.text import render_markdown
from alphabook.marketplace.verified import Recheck, VerifiedBacktest
from alphabook.payments.models import Payout, Purchase

__all__ = [
    "ListingCreate",
    "ListingDetail",
    "ListingPatch",
    "ListingSummary",
    "MoneyIn",
    "MoneyOut",
    "PayoutOut",
    "PurchaseOut",
    "RateIn",
    "ReasonIn",
    "RecheckOut",
    "RunIn",
    "RunOut",
    "ValidateIn",
    "VerifiedOut",
    "VersionCreate",
    "VersionOut",
]


class MoneyIn(BaseModel):
    amount_minor: int = Field(ge=0, description="Integer minor units (cents): 1999 is 19.99 USD.")
    currency: str = Field(default="USD", min_length=3, max_length=3)

    def to_money(self) -> Money:
        return Money(self.amount_minor, self.currency)


class MoneyOut(BaseModel):
    amount_minor: int
    currency: str
    display: str

    @classmethod
    def of(cls, money: Money) -> MoneyOut:
        return cls(amount_minor=money.amount_minor, currency=money.currency, display=str(money))


class ListingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=60, description="Becomes the slug: <you>/<name>.")
    kind: Literal["indicator", "strategy", "notebook"]
    title: str = Field(min_length=3, max_length=120)
    description: str = Field(default="", max_length=20_000, description="Markdown.")
    category: str = Field(min_length=1, max_length=40)
    tags: list[str] = Field(default=[], max_length=12)
    price: MoneyIn = Field(default=MoneyIn(amount_minor=0), description="0 for a free listing.")
    licence: Literal["open", "protected"] = "protected"


class ListingPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=3, max_length=120)
    description: str | None = Field(default=None, max_length=20_000)
    category: str | None = Field(default=None, min_length=1, max_length=40)
    tags: list[str] | None = Field(default=None, max_length=12)
    price: MoneyIn | None = None
    licence: Literal["open", "protected"] | None = None


class VersionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(description="Semantic version MAJOR.MINOR.PATCH, greater than every earlier one.")
    code: str = Field(min_length=1, max_length=200_000, description="The module, or notebook JSON.")
    parameter_schema: list[dict[str, Any]] = Field(default=[], max_length=50)
    changelog: str = Field(default="", max_length=10_000)
    breaking: bool = False
    trials: int = Field(default=1, ge=1, le=1_000_000, description="Configurations tried before this one (for "
                        "the deflated Sharpe ratio).")


class VersionOut(BaseModel):
    version: str
    status: str
    active: bool
    breaking: bool
    changelog: str
    parameter_schema: list[dict[str, Any]]
    report: dict[str, Any]
    review_reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, version: ListingVersion) -> VersionOut:
        return cls(version=version.version, status=version.status, active=version.active, breaking=version.breaking,
                   changelog=version.changelog, parameter_schema=version.parameter_schema, report=version.report,
                   review_reason=version.review_reason, created_at=version.created_at)


class ListingSummary(BaseModel):
    slug: str
    kind: str
    title: str
    creator: str
    category: str
    tags: list[str]
    price: MoneyOut
    free: bool
    licence: str
    status: str
    official: bool
    installs: int
    purchases: int
    rating_avg: float
    rating_count: int
    created_at: datetime

    @classmethod
    def of(cls, listing: Listing) -> ListingSummary:
        return cls(slug=listing.slug, kind=listing.kind, title=listing.title, creator=listing.creator.name,
                   category=listing.category, tags=listing.tags, price=MoneyOut.of(listing.price), free=listing.free,
                   licence=listing.licence, status=listing.status, official=listing.official,
                   installs=listing.installs, purchases=listing.purchases, rating_avg=listing.rating_avg,
                   rating_count=listing.rating_count, created_at=listing.created_at)


class ListingDetail(ListingSummary):
    description: str
    description_html: str
    status_reason: str | None
    active_version: VersionOut | None
    versions: list[VersionOut]
    preview: dict[str, Any] | None
    owned: bool
    your_version: str | None = Field(description="The version you run: the one you own, or for its creator and "
                                     "admins the active one.")

    @classmethod
    def detail(cls, listing: Listing, *, owned: ListingVersion | None, staff: bool) -> ListingDetail:
        active = listing.active_version
        shown = listing.versions if staff else [each for each in listing.versions if each.status == "approved"]
        runs = owned or (active or (listing.versions[-1] if listing.versions else None) if staff else None)
        return cls(**ListingSummary.of(listing).model_dump(), description=listing.description,
                   description_html=render_markdown(listing.description), status_reason=listing.status_reason,
                   active_version=VersionOut.of(active) if active else None,
                   versions=[VersionOut.of(each) for each in shown],
                   preview=(active.preview if active else None) or (shown[-1].preview if shown else None),
                   owned=owned is not None, your_version=runs.version if runs else None)


class SearchOut(BaseModel):
    items: list[ListingSummary]
    next_cursor: str | None


class RateIn(BaseModel):
    stars: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=4000)


class RatingOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    stars: int
    comment: str
    updated_at: datetime


class ReasonIn(BaseModel):
    reason: str = Field(default="", max_length=2000)


class RunIn(BaseModel):
    """Bars as columns: ``time`` (ISO 8601) or ``ts_ms`` (epoch milliseconds), and ``open, high, low, close,
    volume``."""

    bars: dict[str, list[Any]]
    params: dict[str, Any] = {}
    version: str | None = Field(default=None, description="Another version you may run; default: the one you own.")


class ValidateIn(BaseModel):
    """A package to check in the sandbox without saving anything (what publishing will check)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["indicator", "strategy", "notebook"] = "indicator"
    code: str = Field(min_length=1, max_length=200_000)
    parameter_schema: list[dict[str, Any]] = Field(default=[], max_length=50)
    trials: int = Field(default=1, ge=1, le=1_000_000)


class RunOut(BaseModel):
    version: str
    time: list[str]
    outputs: dict[str, list[float | None]]


class PurchaseOut(BaseModel):
    id: int
    listing: str
    status: str
    amount: MoneyOut
    creator_share: MoneyOut
    platform_share: MoneyOut
    provider: str
    checkout_url: str | None
    created_at: datetime
    completed_at: datetime | None
    refunded_at: datetime | None

    @classmethod
    def of(cls, purchase: Purchase, slug: str) -> PurchaseOut:
        return cls(id=purchase.id, listing=slug, status=purchase.status, amount=MoneyOut.of(purchase.amount),
                   creator_share=MoneyOut.of(Money(purchase.creator_share_minor, purchase.currency)),
                   platform_share=MoneyOut.of(Money(purchase.platform_share_minor, purchase.currency)),
                   provider=purchase.provider, checkout_url=purchase.checkout_url if purchase.status == "pending"
                   else None, created_at=purchase.created_at, completed_at=purchase.completed_at,
                   refunded_at=purchase.refunded_at)


class PayoutOut(BaseModel):
    id: int
    amount: MoneyOut
    status: str
    provider_ref: str | None
    failure: str | None
    requested_at: datetime
    settled_at: datetime | None

    @classmethod
    def of(cls, payout: Payout) -> PayoutOut:
        return cls(id=payout.id, amount=MoneyOut.of(payout.amount), status=payout.status,
                   provider_ref=payout.provider_ref, failure=payout.failure, requested_at=payout.requested_at,
                   settled_at=payout.settled_at)


class VerifiedOut(BaseModel):
    """The latest signed record of the platform's re-run of a listing, and whether its signature checks."""

    version: str
    dataset: str
    data_sha256: str
    code_sha256: str
    parameters: dict[str, Any]
    seed: int
    environment: dict[str, Any]
    report: dict[str, Any]
    signature: str
    created_at: datetime
    signature_valid: bool

    @classmethod
    def of(cls, record: VerifiedBacktest, signature_valid: bool) -> VerifiedOut:
        return cls(version=record.version, dataset=record.dataset, data_sha256=record.data_sha256,
                   code_sha256=record.code_sha256, parameters=record.parameters, seed=record.seed,
                   environment=record.environment, report=record.report, signature=record.signature,
                   created_at=record.created_at, signature_valid=signature_valid)


class RecheckOut(BaseModel):
    """A fresh run of a verified record compared with it: every number that differs, as recorded and now."""

    reproduced: bool
    signature_valid: bool
    same_data: bool
    same_code: bool
    differences: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, outcome: Recheck) -> RecheckOut:
        return cls(reproduced=outcome.reproduced, signature_valid=outcome.signature_valid,
                   same_data=outcome.same_data, same_code=outcome.same_code,
                   differences={key: {"recorded": was, "now": now} for key, (was, now) in outcome.differences.items()})

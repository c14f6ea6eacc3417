"""Listings: browse and search, the listing page, publishing versions, install, purchase, rate, flag, run."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, status
from fastapi.responses import PlainTextResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from alphabook.accounts.models import Role, User
from alphabook.api.deps import CurrentUser, OptionalUser, SessionDep, SettingsDep
from alphabook.api.marketplace_deps import ExecutorDep, ProviderDep, find_listing
from alphabook.api.ratelimit import rate_limit
from alphabook.core.errors import Forbidden, NotFound
from alphabook.marketplace import checks, entitlements, listings, moderation, ratings, running, stats
from alphabook.marketplace import verified as verified_backtests
from alphabook.marketplace.schemas import (
    ListingCreate,
    ListingDetail,
    ListingPatch,
    ListingSummary,
    PurchaseOut,
    RateIn,
    RatingOut,
    ReasonIn,
    RecheckOut,
    RunIn,
    RunOut,
    SearchOut,
    ValidateIn,
    VerifiedOut,
    VersionCreate,
    VersionOut,
)
from alphabook.marketplace.search import SearchQuery, search
from alphabook.payments import purchases

router = APIRouter(tags=["marketplace"])
LISTING = "/listings/{creator}/{name}"


@router.get("/listings", response_model=SearchOut)
def browse(
    session: SessionDep,
    q: Annotated[str, Query(max_length=200, description="Words to find in title, description and tags.")] = "",
    kind: str | None = None,
    category: str | None = None,
    free: bool | None = None,
    min_price_minor: Annotated[int | None, Query(ge=0)] = None,
    max_price_minor: Annotated[int | None, Query(ge=0)] = None,
    min_rating: Annotated[float | None, Query(ge=0, le=5)] = None,
    creator: str | None = None,
    tags: Annotated[list[str], Query()] = [],  # noqa: B006 (FastAPI copies query defaults)
    sort: str = "relevance",
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchOut:
    page = search(session, SearchQuery(
        text=q, kind=kind, category=category, free=free, min_price_minor=min_price_minor,
        max_price_minor=max_price_minor, min_rating=min_rating, creator=creator, tags=tuple(tags),
        sort=sort, cursor=cursor, limit=limit))  # type: ignore[arg-type]  # search() validates the sort
    return SearchOut(items=[ListingSummary.of(item) for item in page.items], next_cursor=page.next_cursor)


@router.post("/listings", response_model=ListingDetail, status_code=status.HTTP_201_CREATED)
def create(body: ListingCreate, user: CurrentUser, session: SessionDep) -> ListingDetail:
    listing = listings.create_listing(session, user, name=body.name, kind=body.kind, title=body.title,
                                      description=body.description, category=body.category, tags=body.tags,
                                      price=body.price.to_money(), licence=body.licence)
    return ListingDetail.detail(listing, owned=None, staff=True)


@router.post("/listings/validate")
async def validate(body: ValidateIn, user: CurrentUser, executor: ExecutorDep) -> dict[str, Any]:
    """Run a package's automated checks in the sandbox and save nothing: what publishing it would report."""
    report, _ = await run_in_threadpool(checks.run_checks, body.kind, body.code, body.parameter_schema, executor(),
                                        trials=body.trials)
    return report


@router.get(LISTING, response_model=ListingDetail)
def detail(creator: str, name: str, user: OptionalUser, session: SessionDep) -> ListingDetail:
    listing = find_listing(session, creator, name, user)
    staff = user is not None and (user.id == listing.creator_id or user.has_role(Role.ADMIN.value))
    entitlement = entitlements.active_entitlement(session, user.id, listing.id) if user is not None else None
    return ListingDetail.detail(listing, owned=entitlement.version if entitlement else None, staff=staff)


@router.patch(LISTING, response_model=ListingDetail)
def update(creator: str, name: str, body: ListingPatch, user: CurrentUser, session: SessionDep) -> ListingDetail:
    listing = find_listing(session, creator, name, user)
    changes: dict[str, Any] = body.model_dump(exclude_none=True, exclude={"price"})
    if body.price is not None:
        changes["price"] = body.price.to_money()
    listings.update_listing(session, user, listing, changes)
    return ListingDetail.detail(listing, owned=None, staff=True)


@router.post(LISTING + "/versions", response_model=VersionOut, status_code=status.HTTP_201_CREATED)
async def add_version(creator: str, name: str, body: VersionCreate, user: CurrentUser, session: SessionDep,
                      executor: ExecutorDep) -> VersionOut:
    """Add a version; its automated checks run now (sandbox validation, test run, preview, backtest)."""
    def work() -> VersionOut:
        listing = find_listing(session, creator, name, user)
        return VersionOut.of(listings.add_version(
            session, user, listing, version=body.version, code=body.code, parameter_schema=body.parameter_schema,
            changelog=body.changelog, breaking=body.breaking, trials=body.trials,
            executor=executor()))

    return await run_in_threadpool(work)


@router.post(LISTING + "/submit", response_model=VersionOut)
def submit(creator: str, name: str, user: CurrentUser, session: SessionDep) -> VersionOut:
    return VersionOut.of(listings.submit(session, user, find_listing(session, creator, name, user)))


@router.post(LISTING + "/rollback", response_model=VersionOut)
def rollback(creator: str, name: str, version: Annotated[str, Query()], user: CurrentUser,
             session: SessionDep) -> VersionOut:
    return VersionOut.of(listings.rollback(session, user, find_listing(session, creator, name, user), version))


@router.get(LISTING + "/source", response_class=PlainTextResponse)
def source(creator: str, name: str, user: CurrentUser, session: SessionDep, version: str | None = None) -> str:
    """The code, for the creator, admins and owners of ``open`` listings. Protected code is never served."""
    listing = find_listing(session, creator, name, user)
    if not entitlements.can_read_source(session, user, listing):
        raise Forbidden(f"The source of {listing.slug} is not available to you"
                        + (": it is protected and only runs in the sandbox." if listing.licence == "protected"
                           else "; install or buy it first."))
    return entitlements.require_access(session, user, listing, version).code


@router.post(LISTING + "/install", status_code=status.HTTP_201_CREATED)
def install(creator: str, name: str, user: CurrentUser, session: SessionDep) -> dict[str, str]:
    listing = find_listing(session, creator, name, user)
    entitlement = entitlements.install(session, user, listing)
    return {"listing": listing.slug, "version": entitlement.version.version}


@router.post(LISTING + "/upgrade")
def upgrade(creator: str, name: str, version: Annotated[str, Query()], user: CurrentUser,
            session: SessionDep) -> dict[str, str]:
    """Move your copy to a newer compatible version (same major version)."""
    listing = find_listing(session, creator, name, user)
    return {"listing": listing.slug, "version": listings.move_to_version(session, user, listing, version).version}


@router.post(LISTING + "/purchase", response_model=PurchaseOut, status_code=status.HTTP_201_CREATED,
             dependencies=[Depends(rate_limit("purchase"))])
def purchase(creator: str, name: str, user: CurrentUser, session: SessionDep, settings: SettingsDep,
             provider: ProviderDep,
             idempotency_key: Annotated[str | None, Header(max_length=80)] = None) -> PurchaseOut:
    """Start a purchase and get the checkout URL; access comes when the payment provider confirms."""
    listing = find_listing(session, creator, name, user)
    back = f"{settings.base_url}/services/api/api/purchases"
    started = purchases.start_purchase(session, provider, settings, user, listing, idempotency_key=idempotency_key,
                                       success_url=back + "?checkout={CHECKOUT_SESSION_ID}", cancel_url=back)
    return PurchaseOut.of(started, listing.slug)


@router.post(LISTING + "/rate", response_model=RatingOut, dependencies=[Depends(rate_limit("review"))])
def rate(creator: str, name: str, body: RateIn, user: CurrentUser, session: SessionDep) -> RatingOut:
    listing = find_listing(session, creator, name, user)
    return RatingOut.model_validate(ratings.rate(session, user, listing, body.stars, body.comment))


@router.get(LISTING + "/ratings", response_model=list[RatingOut])
def list_ratings(creator: str, name: str, user: OptionalUser, session: SessionDep) -> list[RatingOut]:
    listing = find_listing(session, creator, name, user)
    return [RatingOut.model_validate(each) for each in ratings.ratings_of(session, listing)]


@router.post(LISTING + "/flag", status_code=status.HTTP_201_CREATED, dependencies=[Depends(rate_limit("flag"))])
def flag(creator: str, name: str, body: ReasonIn, user: CurrentUser, session: SessionDep) -> dict[str, int]:
    listing = find_listing(session, creator, name, user)
    return {"flag": moderation.flag(session, user, listing, body.reason).id}


@router.post(LISTING + "/run", response_model=RunOut)
async def run(creator: str, name: str, body: RunIn, user: CurrentUser, session: SessionDep,
              executor: ExecutorDep) -> RunOut:
    """Run the version you own on your bars, in the sandbox; only the output comes back."""
    def work() -> RunOut:
        listing = find_listing(session, creator, name, user)
        version, output = running.run_listing(session, user, listing, running.bars_from_columns(body.bars),
                                              body.params, executor(), body.version)
        return RunOut(version=version.version, time=[stamp.isoformat() for stamp in output.index],
                      outputs={str(column): [None if value != value else float(value) for value in output[column]]
                               for column in output.columns})

    return await run_in_threadpool(work)


@router.get(LISTING + "/verified", response_model=VerifiedOut)
def verified(creator: str, name: str, user: OptionalUser, session: SessionDep, settings: SettingsDep) -> VerifiedOut:
    """The latest verified backtest of the listing: the signed record, and whether its signature checks."""
    record = _verified_record(session, creator, name, user)
    return VerifiedOut.of(record, verified_backtests.signature_valid(record, settings))


@router.post(LISTING + "/verified/recheck", response_model=RecheckOut)
async def recheck_verified(creator: str, name: str, user: CurrentUser, session: SessionDep, settings: SettingsDep,
                           executor: ExecutorDep) -> RecheckOut:
    """Run the verified record again (same version, data and seed) in the sandbox and compare every number."""
    def work() -> RecheckOut:
        record = _verified_record(session, creator, name, user)
        return RecheckOut.of(verified_backtests.recheck(session, record, settings, executor()))

    return await run_in_threadpool(work)


def _verified_record(session: Session, creator: str, name: str,
                     user: User | None) -> verified_backtests.VerifiedBacktest:
    listing = find_listing(session, creator, name, user)
    record = verified_backtests.latest(session, listing)
    if record is None:
        raise NotFound(f"{listing.slug} has not been verified yet; the platform verifies approved listings nightly.")
    return record


@router.get("/creator/stats")
def creator_stats(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """Your listings' installs, sales, ratings and net revenue (from the ledger), and your balance."""
    return stats.creator_stats(session, user, settings.marketplace_currency)


@router.get("/library", response_model=list[ListingSummary])
def library(user: CurrentUser, session: SessionDep) -> list[ListingSummary]:
    """What you bought or installed."""
    from sqlalchemy import select

    from alphabook.marketplace.models import Entitlement

    owned = session.scalars(select(Entitlement).where(Entitlement.user_id == user.id,
                                                      Entitlement.revoked_at.is_(None)).order_by(Entitlement.id))
    return [ListingSummary.of(each.listing) for each in owned]

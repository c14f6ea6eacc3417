"""Administration: the moderation queue and decisions, and running payouts now.

Administrators refund through ``POST /purchases/{purchase_id}/refund`` (:mod:`alphabook.api.routes.payments`),
the same route buyers use: one route, and the refund rules (who may, until when) stay in
:func:`alphabook.payments.purchases.refund`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from alphabook.accounts.models import Role
from alphabook.api.deps import CurrentUser, SessionDep, SettingsDep, require_role
from alphabook.api.marketplace_deps import ProviderDep
from alphabook.core.errors import NotFound
from alphabook.marketplace import listings, moderation
from alphabook.marketplace.schemas import ListingSummary, PayoutOut, ReasonIn, VersionOut
from alphabook.payments import payouts

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_role(Role.ADMIN))])
LISTING = "/listings/{creator}/{name}"


@router.get("/queue", response_model=list[ListingSummary])
def queue(session: SessionDep) -> list[ListingSummary]:
    """Pending listings, listings with a version to review, and flagged listings; oldest first."""
    return [ListingSummary.of(listing) for listing in moderation.queue(session)]


@router.post(LISTING + "/approve", response_model=VersionOut)
def approve(creator: str, name: str, body: ReasonIn, user: CurrentUser, session: SessionDep) -> VersionOut:
    listing = listings.get_listing(session, f"{creator}/{name}")
    return VersionOut.of(moderation.approve(session, user, listing, body.reason or None))


@router.post(LISTING + "/reject", response_model=VersionOut)
def reject(creator: str, name: str, body: ReasonIn, user: CurrentUser, session: SessionDep) -> VersionOut:
    listing = listings.get_listing(session, f"{creator}/{name}")
    return VersionOut.of(moderation.reject(session, user, listing, body.reason))


@router.post(LISTING + "/{action}", response_model=ListingSummary)
def decide(creator: str, name: str, action: str, body: ReasonIn, user: CurrentUser,
           session: SessionDep) -> ListingSummary:
    """``suspend``, ``reinstate``, ``remove`` or ``resolve-flags``, with a reason."""
    listing = listings.get_listing(session, f"{creator}/{name}")
    if action == "suspend":
        moderation.suspend(session, user, listing, body.reason)
    elif action == "reinstate":
        moderation.reinstate(session, user, listing, body.reason or None)
    elif action == "remove":
        moderation.remove(session, user, listing, body.reason)
    elif action == "resolve-flags":
        moderation.resolve_flags(session, user, listing, body.reason)
    else:
        raise NotFound(f"No moderation action {action!r}; use approve, reject, suspend, reinstate, remove or "
                       "resolve-flags.")
    return ListingSummary.of(listing)


@router.post("/payouts/run", response_model=list[PayoutOut])
def run_payouts(request: Request, settings: SettingsDep, provider: ProviderDep) -> list[PayoutOut]:
    """Run the payout worker now (it also runs on a schedule)."""
    return [PayoutOut.of(payout) for payout in payouts.run_payouts(request.app.state.database, settings, provider)]

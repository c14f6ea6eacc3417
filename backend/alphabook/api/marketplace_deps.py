"""Dependencies shared by the marketplace and payment routes: the payment provider, and listings by slug."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from alphabook.accounts.models import User
from alphabook.core.errors import NotFound
from alphabook.marketplace.listings import get_listing, visible_to
from alphabook.marketplace.models import Listing
from alphabook.payments.provider import PaymentProvider

__all__ = ["ProviderDep", "find_listing"]


def get_provider(request: Request) -> PaymentProvider:
    provider: PaymentProvider = request.app.state.payments
    return provider


ProviderDep = Annotated[PaymentProvider, Depends(get_provider)]


def find_listing(session: Session, creator: str, name: str, user: User | None) -> Listing:
    """The listing ``creator/name`` if ``user`` may see it; a hidden listing is simply not found."""
    listing = get_listing(session, f"{creator}/{name}")
    if not visible_to(listing, user):
        raise NotFound(f"There is no listing {creator}/{name}.")
    return listing

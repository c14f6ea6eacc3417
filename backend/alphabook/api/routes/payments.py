"""Money routes: the payment providers' webhook, Local's checkout page, purchases and refunds, payouts."""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from alphabook.api.deps import CurrentUser, SessionDep, SettingsDep
from alphabook.api.marketplace_deps import ProviderDep
from alphabook.core.errors import Conflict, NotFound
from alphabook.core.money import Money
from alphabook.marketplace.models import Listing
from alphabook.marketplace.schemas import MoneyOut, PayoutOut, PurchaseOut, ReasonIn
from alphabook.payments import ledger, payouts, purchases, webhooks
from alphabook.payments.models import Purchase
from alphabook.payments.providers.local import LocalProvider

router = APIRouter(tags=["payments"])
DASHBOARDS_CHECKOUT = "/services/dashboards/checkout"  # the hub serves the dashboards beside the API


@router.post("/payments/webhook/{provider_name}", include_in_schema=True)
async def webhook(provider_name: str, request: Request, session: SessionDep, provider: ProviderDep) -> dict[str, str]:
    """Where the payment provider sends its events; verified over the raw body, processed exactly once."""
    if provider_name != provider.name:
        raise NotFound(f"This installation takes payments through {provider.name!r}, not {provider_name!r}.")
    raw = await request.body()
    return {"received": webhooks.receive(session, provider, raw, request.headers)}


def _local_purchase(session: SessionDep, provider: ProviderDep, ref: str, user_id: int) -> tuple[LocalProvider,
                                                                                                   Purchase]:
    if not isinstance(provider, LocalProvider):
        raise NotFound("The local checkout is only used when payments go through the Local provider.")
    purchase = session.scalar(select(Purchase).where(Purchase.checkout_ref == ref))
    if purchase is None or purchase.buyer_id != user_id:
        raise NotFound(f"There is no checkout {ref} of yours.")
    return provider, purchase


@router.get("/payments/local/checkout/{ref}", response_class=HTMLResponse, include_in_schema=False)
def local_checkout(ref: str, user: CurrentUser, session: SessionDep, provider: ProviderDep) -> str:
    _, purchase = _local_purchase(session, provider, ref, user.id)
    listing = session.get(Listing, purchase.listing_id)
    title = html.escape(listing.title if listing else "listing")
    return (f"<!doctype html><title>Checkout</title><h1>Pay {html.escape(str(purchase.amount))}</h1>"
            f"<p>for <b>{title}</b> (local test payments: no money moves).</p>"
            f"<form method=post action='{ref}/pay'><button>Pay</button></form>"
            f"<form method=post action='{ref}/cancel'><button>Cancel</button></form>")


@router.post("/payments/local/checkout/{ref}/pay", response_model=None)
def local_pay(ref: str, request: Request, user: CurrentUser, session: SessionDep,
              provider: ProviderDep) -> dict[str, str] | Response:
    """Pay a Local checkout: its signed event goes through the same webhook code as Stripe's."""
    local, purchase = _local_purchase(session, provider, ref, user.id)
    if purchase.status != "pending":
        raise Conflict(f"This checkout is already {purchase.status}.")
    body, headers = local.completed_event(ref, purchase.id, purchase.amount)
    return _answer(request, purchase, webhooks.receive(session, local, body, headers))


@router.post("/payments/local/checkout/{ref}/cancel", response_model=None)
def local_cancel(ref: str, request: Request, user: CurrentUser, session: SessionDep,
                 provider: ProviderDep) -> dict[str, str] | Response:
    local, purchase = _local_purchase(session, provider, ref, user.id)
    body, headers = local.signed_event("checkout.session.expired", {
        "id": ref, "object": "checkout.session", "status": "expired", "payment_status": "unpaid",
        "metadata": {"purchase_id": str(purchase.id)}})
    return _answer(request, purchase, webhooks.receive(session, local, body, headers))


def _answer(request: Request, purchase: Purchase, received: str) -> dict[str, str] | Response:
    """A browser that pressed Pay or Cancel goes back to the dashboards' checkout page, as Stripe sends buyers back
    to the success or cancel URL; a program gets the outcome as JSON."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(f"{DASHBOARDS_CHECKOUT}?purchase={purchase.id}", status_code=303)
    return {"received": received, "status": purchase.status}


def _out(session: SessionDep, purchase: Purchase) -> PurchaseOut:
    listing = session.get(Listing, purchase.listing_id)
    return PurchaseOut.of(purchase, listing.slug if listing else "")


@router.get("/purchases", response_model=list[PurchaseOut])
def my_purchases(user: CurrentUser, session: SessionDep) -> list[PurchaseOut]:
    rows = session.scalars(select(Purchase).where(Purchase.buyer_id == user.id).order_by(Purchase.id.desc()))
    return [_out(session, row) for row in rows]


@router.get("/purchases/{purchase_id}", response_model=PurchaseOut)
def one_purchase(purchase_id: int, user: CurrentUser, session: SessionDep) -> PurchaseOut:
    purchase = session.get(Purchase, purchase_id)
    if purchase is None or (purchase.buyer_id != user.id and not user.has_role("admin")):
        raise NotFound(f"There is no purchase {purchase_id} of yours.")
    return _out(session, purchase)


@router.post("/purchases/{purchase_id}/refund", response_model=PurchaseOut)
def refund(purchase_id: int, body: ReasonIn, user: CurrentUser, session: SessionDep, settings: SettingsDep,
           provider: ProviderDep) -> PurchaseOut:
    """Refund a purchase: its buyer within the refund window, or an administrator at any time."""
    purchase = purchases.get_purchase(session, purchase_id)
    default = "requested by the buyer" if user.id == purchase.buyer_id else "refunded by an administrator"
    purchases.refund(session, provider, settings, purchase, user, body.reason or default)
    return _out(session, purchase)


@router.post("/payouts/account", status_code=status.HTTP_201_CREATED)
def connect_payout_account(user: CurrentUser, session: SessionDep, provider: ProviderDep) -> dict[str, str | None]:
    account, onboarding = payouts.connect_account(session, provider, user)
    return {"provider": account.provider, "account": account.account_ref, "onboarding_url": onboarding}


@router.get("/payouts")
def my_payouts(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> dict[str, object]:
    """Your balance (what is owed to you), what is frozen by disputes, and your payouts."""
    currency = settings.marketplace_currency
    rows = payouts.history(session, user.id)
    held = ledger.balance(session, ledger.held_account(user.id), currency)
    return {"available": MoneyOut.of(payouts.available(session, user.id, currency)), "held": MoneyOut.of(held),
            "minimum": MoneyOut.of(Money(settings.payout_minimum_minor, currency)),
            "payouts": [PayoutOut.of(row) for row in rows]}


@router.post("/payouts", response_model=PayoutOut, status_code=status.HTTP_201_CREATED)
def request_payout(user: CurrentUser, session: SessionDep, settings: SettingsDep, provider: ProviderDep,
                   now: Annotated[bool, Query(description="Send it at once instead of with the next run.")] = True,
                   ) -> PayoutOut:
    payout = payouts.queue_payout(session, settings, user, actor=user.name)
    if now:
        payouts.pay(session, provider, payout, actor=user.name)
    return PayoutOut.of(payout)

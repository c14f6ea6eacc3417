"""What a payment means: starting a purchase, and what completing, failing, refunding or disputing it does.

Every effect is written in the caller's transaction together with its ledger transaction and audit entry,
so either all of it happens or none of it does. Access is granted here and only here, when a verified
provider event says the money arrived (:mod:`alphabook.payments.webhooks`), never when a browser comes back
from checkout. A buyer holds at most one live purchase of a listing (``open_key`` is unique), so a double
click or a retried request finds the purchase already started instead of charging twice.

The provider is never called inside a transaction (a checkout, a refund): what comes before is committed, and its
answer is recorded in a new transaction under the purchase's row lock (:func:`lock_purchase`), which the webhook
takes too. A slow provider then holds up no other writer (on SQLite, every writer of the installation), and a
webhook arriving before the answer it concerns (Stripe's ``charge.refunded`` for our own refund) is recorded once.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alphabook.accounts.models import Role, User
from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import end_transaction, lock_row
from alphabook.core.errors import Conflict, Forbidden, InvalidInput, NotFound, RejectedError
from alphabook.core.money import Money, split
from alphabook.marketplace import entitlements
from alphabook.marketplace.models import Listing, ListingStatus
from alphabook.notifications import announce
from alphabook.payments import ledger
from alphabook.payments.models import Purchase, PurchaseStatus
from alphabook.payments.providers import CheckoutRequest, PaymentProvider

__all__ = ["apply_refund", "close_dispute", "complete", "fail", "get_purchase", "lock_purchase", "open_dispute",
           "refund", "revenue_split", "start_purchase"]


def revenue_split(settings: Settings, product: str, amount: Money) -> tuple[Money, Money]:
    """(creator's share, platform's share) of ``amount``: exact, the parts always sum to the amount."""
    percent = settings.revenue_split.get(product)
    if percent is None or not 0 <= percent <= 100:
        raise InvalidInput(f"No revenue split is configured for {product!r}.")
    creator, platform = split(amount, [percent, 100 - percent])
    return creator, platform


def _snapshot(purchase: Purchase) -> dict[str, object]:
    return {"status": purchase.status, "amount_minor": purchase.amount_minor, "currency": purchase.currency,
            "creator_share_minor": purchase.creator_share_minor,
            "platform_share_minor": purchase.platform_share_minor}


def start_purchase(session: Session, provider: PaymentProvider, settings: Settings, buyer: User, listing: Listing,
                   *, idempotency_key: str | None, success_url: str, cancel_url: str) -> Purchase:
    """A pending purchase with a checkout to pay at; the same one again for a retry or a double click.

    The purchase is committed before the provider is asked for its checkout, and the checkout stored after: no
    transaction is held across the provider's round trip (on SQLite it would stop every other writer). Should the
    provider fail, the purchase stays pending without a checkout, and the buyer's retry, which finds it, asks again
    under the same idempotency key."""
    if idempotency_key is not None:
        earlier = session.scalar(select(Purchase).where(Purchase.idempotency_key == idempotency_key))
        if earlier is not None:
            if earlier.buyer_id != buyer.id:
                raise Conflict("This Idempotency-Key was already used for another request; send a new one.")
            return _with_checkout(session, provider, earlier, buyer, success_url, cancel_url)
    version = _check_buyable(session, buyer, listing)
    open_key = f"{buyer.id}:{listing.id}"
    live = session.scalar(select(Purchase).where(Purchase.open_key == open_key))
    if live is not None:
        return _with_checkout(session, provider, live, buyer, success_url, cancel_url)
    creator_share, platform_share = revenue_split(settings, listing.kind, listing.price)
    purchase = Purchase(
        buyer_id=buyer.id, listing_id=listing.id, version_id=version, creator_id=listing.creator_id,
        product=listing.kind, amount_minor=listing.price_minor, currency=listing.currency,
        creator_share_minor=creator_share.amount_minor, platform_share_minor=platform_share.amount_minor,
        provider=provider.name, livemode=provider.livemode, idempotency_key=idempotency_key or uuid.uuid4().hex,
        open_key=open_key, status=PurchaseStatus.PENDING, created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(purchase)
    except IntegrityError:  # a simultaneous request by the same buyer won: it is the one purchase
        winner = session.scalar(select(Purchase).where(Purchase.open_key == open_key))
        if winner is None:
            raise Conflict("Another purchase of this listing is being started; try again.") from None
        return _with_checkout(session, provider, winner, buyer, success_url, cancel_url)
    audit.record(session, actor=buyer.name, action="purchase.started", subject=f"purchase:{purchase.id}",
                 listing=listing.slug, after=_snapshot(purchase))
    return _with_checkout(session, provider, purchase, buyer, success_url, cancel_url)


def _with_checkout(session: Session, provider: PaymentProvider, purchase: Purchase, buyer: User, success_url: str,
                   cancel_url: str) -> Purchase:
    """``purchase`` with its checkout, asked of the provider outside any transaction if it has none yet."""
    if purchase.checkout_ref is not None or purchase.status != PurchaseStatus.PENDING:
        return purchase
    title = _listing(session, purchase).title
    end_transaction(session)
    try:
        checkout = provider.create_checkout(CheckoutRequest(
            purchase_id=purchase.id, idempotency_key=f"checkout-{purchase.idempotency_key}", amount=purchase.amount,
            title=title, success_url=success_url, cancel_url=cancel_url, buyer_email=buyer.email))
    except RejectedError as refusal:  # the provider's last word: this purchase fails, and a new one may be started
        fail(session, lock_purchase(session, purchase.id), actor=f"provider:{provider.name}", reason=refusal.detail)
        end_transaction(session)
        raise
    stored = lock_purchase(session, purchase.id)
    if stored.checkout_ref is None:  # else a simultaneous retry stored it: the same checkout (same idempotency key)
        stored.checkout_ref, stored.checkout_url = checkout.ref, checkout.url
    return stored


def lock_purchase(session: Session, purchase_id: int) -> Purchase:
    """The purchase, re-read under its row lock: what a request and a webhook decide about it, they decide in
    turn (a refund asked for while the provider's ``charge.refunded`` arrives is reversed once)."""
    purchase = lock_row(session, Purchase, purchase_id)
    if purchase is None:
        raise NotFound(f"There is no purchase {purchase_id}.")
    return purchase


def _check_buyable(session: Session, buyer: User, listing: Listing) -> int:
    if listing.status != ListingStatus.APPROVED or listing.active_version is None:
        raise NotFound(f"Listing {listing.slug} is not for sale.")
    if listing.creator_id == buyer.id:
        raise Forbidden("You cannot buy your own listing.")
    if listing.free:
        raise Conflict(f"{listing.slug} is free; install it instead of buying it.")
    if entitlements.active_entitlement(session, buyer.id, listing.id) is not None:
        raise Conflict(f"You already own {listing.slug}.")
    return listing.active_version.id


def _listing(session: Session, purchase: Purchase) -> Listing:
    listing = session.get(Listing, purchase.listing_id)
    assert listing is not None
    return listing


def complete(session: Session, purchase: Purchase, *, actor: str, payment_ref: str | None,
             paid: Money | None) -> bool:
    """The money arrived: grant access, book the split, audit. ``False`` if it was already done."""
    if purchase.status in (PurchaseStatus.COMPLETED, PurchaseStatus.REFUNDED, PurchaseStatus.DISPUTED):
        return False
    if paid is not None and paid != purchase.amount:
        fail(session, purchase, actor=actor, reason=f"paid {paid}, but the price was {purchase.amount}")
        return True
    before = _snapshot(purchase)
    purchase.status, purchase.completed_at = PurchaseStatus.COMPLETED, utcnow()
    purchase.payment_ref = payment_ref or purchase.payment_ref
    purchase.open_key = f"{purchase.buyer_id}:{purchase.listing_id}"
    assert purchase.buyer_id is not None
    assert purchase.creator_id is not None
    entitlements.grant(session, purchase.buyer_id, _listing(session, purchase), purchase.version_id,
                       source="purchase", purchase_id=purchase.id)
    ledger.post(session, "purchase", [
        ledger.Leg(ledger.BUYER_PAYMENTS, -purchase.amount),
        ledger.Leg(ledger.creator_account(purchase.creator_id), Money(purchase.creator_share_minor, purchase.currency)),
        ledger.Leg(ledger.PLATFORM, Money(purchase.platform_share_minor, purchase.currency)),
    ], purchase_id=purchase.id)
    audit.record(session, actor=actor, action="purchase.completed", subject=f"purchase:{purchase.id}",
                 before=before, after=_snapshot(purchase))
    announce.sale_made(session, purchase)
    return True


def fail(session: Session, purchase: Purchase, *, actor: str, reason: str) -> bool:
    if purchase.status != PurchaseStatus.PENDING:
        return False
    before = _snapshot(purchase)
    purchase.status, purchase.failure, purchase.open_key = PurchaseStatus.FAILED, reason, None
    audit.record(session, actor=actor, action="purchase.failed", subject=f"purchase:{purchase.id}", reason=reason,
                 before=before, after=_snapshot(purchase))
    return True


def get_purchase(session: Session, purchase_id: int) -> Purchase:
    """The purchase numbered ``purchase_id`` whoever bought it (callers decide who may see it), or NotFound."""
    purchase = session.get(Purchase, purchase_id)
    if purchase is None:
        raise NotFound(f"There is no purchase {purchase_id}.")
    return purchase


def refund(session: Session, provider: PaymentProvider, settings: Settings, purchase: Purchase, actor: User,
           reason: str) -> Purchase:
    """Refund a completed purchase: an admin at any time, the buyer within the refund window.

    Two requests at once both ask the provider under the same idempotency key (one refund there), and the one that
    locks the purchase second finds it refunded already."""
    if not actor.has_role(Role.ADMIN.value):
        if actor.id != purchase.buyer_id:
            raise NotFound(f"Purchase {purchase.id} is not yours.")
        window = timedelta(days=settings.refund_window_days)
        if purchase.completed_at is not None and utcnow() - purchase.completed_at > window:
            raise Forbidden(f"Purchases can be refunded by their buyer within {settings.refund_window_days} days; "
                            "ask an administrator.")
    if purchase.status != PurchaseStatus.COMPLETED:
        raise Conflict(f"Purchase {purchase.id} is {purchase.status}; only completed purchases can be refunded.")
    end_transaction(session)  # no transaction is held across the provider's round trip
    refund_ref = provider.refund(purchase.payment_ref or "", purchase.amount, f"refund-{purchase.idempotency_key}")
    purchase = lock_purchase(session, purchase.id)  # the provider's webhook may have recorded it meanwhile
    apply_refund(session, purchase, actor=actor.name, reason=reason, refund_ref=refund_ref)
    return purchase


def apply_refund(session: Session, purchase: Purchase, *, actor: str, reason: str, refund_ref: str | None) -> bool:
    """The money went back to the buyer: revoke access and reverse both shares (the creator's may go negative)."""
    if purchase.status != PurchaseStatus.COMPLETED:
        return False
    _reverse(session, purchase, ledger.creator_account(_creator(purchase)), "refund")
    audit.record(session, actor=actor, action="purchase.refunded", subject=f"purchase:{purchase.id}", reason=reason,
                 refund_ref=refund_ref, before={"status": PurchaseStatus.COMPLETED}, after=_snapshot(purchase))
    return True


def _creator(purchase: Purchase) -> int:
    assert purchase.creator_id is not None
    return purchase.creator_id


def _reverse(session: Session, purchase: Purchase, creator_from: str, kind: str) -> None:
    purchase.status, purchase.refunded_at, purchase.open_key = PurchaseStatus.REFUNDED, utcnow(), None
    assert purchase.buyer_id is not None
    entitlements.revoke(session, purchase.buyer_id, _listing(session, purchase))
    ledger.post(session, kind, [
        ledger.Leg(creator_from, -Money(purchase.creator_share_minor, purchase.currency)),
        ledger.Leg(ledger.PLATFORM, -Money(purchase.platform_share_minor, purchase.currency)),
        ledger.Leg(ledger.REFUNDS, purchase.amount),
    ], purchase_id=purchase.id)


def open_dispute(session: Session, purchase: Purchase, *, actor: str) -> bool:
    """The buyer disputed the charge: freeze the creator's share until it is decided."""
    if purchase.status != PurchaseStatus.COMPLETED:
        return False
    share = Money(purchase.creator_share_minor, purchase.currency)
    purchase.status = PurchaseStatus.DISPUTED
    ledger.post(session, "dispute.hold", [ledger.Leg(ledger.creator_account(_creator(purchase)), -share),
                                          ledger.Leg(ledger.held_account(_creator(purchase)), share)],
                purchase_id=purchase.id)
    audit.record(session, actor=actor, action="purchase.disputed", subject=f"purchase:{purchase.id}",
                 before={"status": PurchaseStatus.COMPLETED}, after=_snapshot(purchase))
    return True


def close_dispute(session: Session, purchase: Purchase, *, actor: str, won: bool) -> bool:
    """Won: the share is released to the creator. Lost: the money went back, as a refund from the held share."""
    if purchase.status != PurchaseStatus.DISPUTED:
        return False
    held = ledger.held_account(_creator(purchase))
    if won:
        share = Money(purchase.creator_share_minor, purchase.currency)
        purchase.status = PurchaseStatus.COMPLETED
        ledger.post(session, "dispute.release", [ledger.Leg(held, -share),
                                                 ledger.Leg(ledger.creator_account(_creator(purchase)), share)],
                    purchase_id=purchase.id)
    else:
        _reverse(session, purchase, held, "dispute.lost")
    audit.record(session, actor=actor, action="purchase.dispute_won" if won else "purchase.dispute_lost",
                 subject=f"purchase:{purchase.id}", before={"status": PurchaseStatus.DISPUTED},
                 after=_snapshot(purchase))
    return True

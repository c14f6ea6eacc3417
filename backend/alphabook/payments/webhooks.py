"""Provider webhooks, processed exactly once whatever their order and however often they arrive.

The event row (unique per provider and event id) is inserted in the same transaction as the event's
effects: a duplicate delivery, even a simultaneous one, fails on that unique key and changes nothing; a
failure anywhere rolls the row back with the effects, so the provider's retry processes it afresh. An
event that depends on something not yet seen (a refund or dispute of a payment whose completion has not
arrived) is stored as ``deferred`` and replayed as soon as that payment completes. Events of the other
mode (test vs live) are refused outright.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alphabook.core.clock import utcnow
from alphabook.core.errors import InvalidInput
from alphabook.core.money import Money, normalize_currency
from alphabook.payments import purchases
from alphabook.payments.models import PaymentEvent, Purchase, PurchaseStatus
from alphabook.payments.providers import PaymentEventData, PaymentProvider

__all__ = ["Outcome", "receive"]

Outcome = Literal["processed", "deferred", "ignored", "duplicate"]
COMPLETED = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
FAILED = ("checkout.session.expired", "checkout.session.async_payment_failed")
NEEDS_PAYMENT = ("charge.refunded", "charge.dispute.created", "charge.dispute.closed")


def receive(session: Session, provider: PaymentProvider, raw: bytes, headers: Mapping[str, str]) -> Outcome:
    """Verify, store and process one webhook delivery in ``session``'s transaction."""
    event = provider.verify_event(raw, headers)
    if event.livemode != provider.livemode:
        mode = "live" if event.livemode else "test"
        raise InvalidInput(f"A {mode}-mode event was sent to a {'live' if provider.livemode else 'test'}-mode "
                           "installation; test and live events never mix.")
    if session.scalar(select(PaymentEvent.id).where(PaymentEvent.provider == provider.name,
                                                    PaymentEvent.event_id == event.id)) is not None:
        return "duplicate"
    row = PaymentEvent(provider=provider.name, event_id=event.id, type=event.type, livemode=event.livemode,
                       state="received", payload=dict(event.payload), received_at=utcnow())
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # the same event, delivered twice at once: the other delivery processes it
        return "duplicate"
    outcome = _apply(session, provider, event, row)
    if outcome == "processed" and row.purchase_id is not None:
        _replay_deferred(session, provider, row.purchase_id)
    return outcome


def _apply(session: Session, provider: PaymentProvider, event: PaymentEventData, row: PaymentEvent) -> Outcome:
    actor = f"provider:{provider.name}"
    found = _find_purchase(session, event)
    # Locked: a request deciding about the same purchase (a refund) decides before or after this event, not during.
    purchase = purchases.lock_purchase(session, found.id) if found is not None else None
    row.purchase_id = purchase.id if purchase is not None else None
    if event.type in COMPLETED or event.type in FAILED:
        if purchase is None:
            return _settle(row, "ignored")
        if event.type in COMPLETED:
            if event.object.get("payment_status") not in ("paid", "no_payment_required"):
                return _settle(row, "ignored")  # an asynchronous payment: its outcome comes as another event
            purchases.complete(session, purchase, actor=actor, payment_ref=event.payment_ref, paid=_paid(event))
        else:
            purchases.fail(session, purchase, actor=actor, reason=f"the provider reported {event.type}")
        return _settle(row, "processed")
    if event.type in NEEDS_PAYMENT:
        if purchase is None or purchase.status in (PurchaseStatus.PENDING, PurchaseStatus.FAILED):
            return _settle(row, "deferred")
        if event.type == "charge.refunded":
            purchases.apply_refund(session, purchase, actor=actor, reason="refunded at the provider",
                                   refund_ref=None)
        elif event.type == "charge.dispute.created":
            purchases.open_dispute(session, purchase, actor=actor)
        elif purchase.status == PurchaseStatus.COMPLETED and not _dispute_seen(session, purchase):
            return _settle(row, "deferred")  # closed before we saw it open: wait for the opening
        else:
            purchases.close_dispute(session, purchase, actor=actor, won=event.object.get("status") == "won")
        return _settle(row, "processed")
    return _settle(row, "ignored")


def _settle(row: PaymentEvent, state: Outcome) -> Outcome:
    row.state = state
    row.processed_at = utcnow() if state != "deferred" else None
    return state


def _paid(event: PaymentEventData) -> Money | None:
    amount, currency = event.object.get("amount_total"), event.object.get("currency")
    if isinstance(amount, int) and isinstance(currency, str):
        return Money(amount, normalize_currency(currency))
    return None


def _dispute_seen(session: Session, purchase: Purchase) -> bool:
    return session.scalar(select(PaymentEvent.id).where(
        PaymentEvent.purchase_id == purchase.id, PaymentEvent.type == "charge.dispute.created",
        PaymentEvent.state == "processed")) is not None


def _find_purchase(session: Session, event: PaymentEventData) -> Purchase | None:
    if event.checkout_ref is not None:
        found = session.scalar(select(Purchase).where(Purchase.checkout_ref == event.checkout_ref))
        if found is not None:
            return found
    if event.payment_ref is not None:
        found = session.scalar(select(Purchase).where(Purchase.payment_ref == event.payment_ref))
        if found is not None:
            return found
    purchase_id = event.purchase_id
    return session.get(Purchase, purchase_id) if purchase_id is not None else None


def _replay_deferred(session: Session, provider: PaymentProvider, purchase_id: int) -> None:
    """Process, in arrival order, the deferred events that now have what they waited for."""
    purchase = session.get(Purchase, purchase_id)
    if purchase is None or purchase.payment_ref is None:
        return
    progress = True
    while progress:
        progress = False
        waiting = session.scalars(select(PaymentEvent).where(
            PaymentEvent.provider == provider.name, PaymentEvent.state == "deferred").order_by(PaymentEvent.id))
        for row in list(waiting):
            event = PaymentEventData(id=row.event_id, type=row.type, livemode=row.livemode,
                                     object=row.payload["data"]["object"], payload=row.payload)
            if row.purchase_id not in (None, purchase_id) or event.payment_ref != purchase.payment_ref:
                continue
            if _apply(session, provider, event, row) == "processed":
                progress = True

"""The Local provider: payments without a network, for the embedded default, demos and development.

Its checkout is a page of our own (``/api/payments/local/checkout/{ref}``); pressing *Pay* there makes
the provider write the event Stripe would send (``checkout.session.completed``), sign it the way Stripe
signs webhooks with a secret kept in the home folder, and hand it to the same webhook code
(:func:`alphabook.payments.webhooks.receive`) that Stripe's events go through. Refunds and payouts
succeed at once with local ids. Nothing is charged to anyone: it is always test mode.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from alphabook.core.money import Money
from alphabook.payments.providers.base import (
    Checkout,
    CheckoutRequest,
    PaymentEventData,
    PaymentProvider,
    read_signed_event,
)

__all__ = ["LocalProvider"]


class LocalProvider(PaymentProvider):
    name: ClassVar[str] = "local"
    livemode = False

    def __init__(self, secret: str, checkout_base_url: str) -> None:
        self._secret = secret
        self._checkout_base_url = checkout_base_url.rstrip("/")

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        ref = "lc_" + hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:24]  # same key, same checkout
        return Checkout(ref=ref, url=f"{self._checkout_base_url}/{ref}")

    def verify_event(self, raw: bytes, headers: Mapping[str, str]) -> PaymentEventData:
        return read_signed_event(raw, headers.get("stripe-signature"), self._secret)

    def signed_event(self, type_: str, obj: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
        """An event as Stripe would send it, and the headers carrying its signature."""
        body = json.dumps({"id": "evt_local_" + secrets.token_hex(12), "object": "event", "type": type_,
                           "livemode": False, "created": int(time.time()), "data": {"object": dict(obj)}}).encode()
        timestamp = int(time.time())
        digest = hmac.new(self._secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        return body, {"stripe-signature": f"t={timestamp},v1={digest}"}

    def completed_event(self, checkout_ref: str, purchase_id: int, amount: Money) -> tuple[bytes, dict[str, str]]:
        """What the checkout page's *Pay* button produces."""
        return self.signed_event("checkout.session.completed", {
            "id": checkout_ref, "object": "checkout.session", "payment_status": "paid", "status": "complete",
            "payment_intent": "lpi_" + checkout_ref.removeprefix("lc_"), "amount_total": amount.amount_minor,
            "currency": amount.currency.lower(), "metadata": {"purchase_id": str(purchase_id)}})

    def refund(self, payment_ref: str, amount: Money, idempotency_key: str) -> str:
        return "lre_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]

    def create_payout_account(self, user_id: int, email: str | None) -> tuple[str, str | None]:
        return f"lacct_{user_id}", None

    def payout(self, account_ref: str, amount: Money, idempotency_key: str, payout_id: int) -> str:
        return "ltr_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]

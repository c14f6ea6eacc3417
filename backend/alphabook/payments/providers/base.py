"""The PaymentProvider interface: what alphabook needs from whoever moves the money.

Two real implementations keep the same contract: :class:`~alphabook.payments.providers.stripe.StripeProvider`
(the official ``stripe`` library) and :class:`~alphabook.payments.providers.local.LocalProvider` (no network,
for the embedded default and demos). A provider only talks to the outside world and reads its webhooks;
what a payment *means* (entitlements, the ledger, the audit log) is decided once, in
:mod:`alphabook.payments.purchases`, whichever provider delivered the event. Webhook events are verified
with Stripe's signature scheme (``t=<time>,v1=<HMAC-SHA256>`` over ``"<time>.<raw body>"``) by both, and read
into the provider-neutral :class:`PaymentEventData`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import stripe

from alphabook.core.errors import InvalidInput
from alphabook.core.money import Money

__all__ = [
    "SIGNATURE_TOLERANCE",
    "Checkout",
    "CheckoutRequest",
    "PaymentEventData",
    "PaymentProvider",
    "read_signed_event",
]

SIGNATURE_TOLERANCE = 300  # seconds, as Stripe recommends: older signatures are replays


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    purchase_id: int
    idempotency_key: str
    amount: Money
    title: str
    success_url: str
    cancel_url: str
    buyer_email: str | None = None


@dataclass(frozen=True, slots=True)
class Checkout:
    ref: str  # the provider's id for the checkout (Stripe: cs_…)
    url: str  # where the buyer pays


@dataclass(frozen=True, slots=True)
class PaymentEventData:
    """A verified webhook event, in the shape alphabook acts on (Stripe's event structure underneath)."""

    id: str
    type: str
    livemode: bool
    object: Mapping[str, Any]
    payload: Mapping[str, Any] = field(repr=False)

    @property
    def checkout_ref(self) -> str | None:
        value = self.object.get("id") if self.object.get("object") == "checkout.session" else None
        return value if isinstance(value, str) else None

    @property
    def payment_ref(self) -> str | None:
        value = self.object.get("payment_intent")
        if isinstance(value, Mapping):
            value = value.get("id")
        return value if isinstance(value, str) else None

    @property
    def purchase_id(self) -> int | None:
        metadata = self.object.get("metadata")
        raw = metadata.get("purchase_id") if isinstance(metadata, Mapping) else None
        try:
            return int(raw) if raw is not None else None
        except (TypeError, ValueError):
            return None


def read_signed_event(raw: bytes, signature: str | None, secret: str) -> PaymentEventData:
    """Verify Stripe's signature over the raw body (300 s tolerance) and read the event; InvalidInput if not."""
    try:
        stripe.WebhookSignature.verify_header(raw.decode("utf-8"), signature or "", secret, SIGNATURE_TOLERANCE)
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The webhook's signature does not verify: {exc}") from None
    try:
        payload = json.loads(raw)
        data = payload["data"]["object"]
        if not isinstance(data, dict):
            raise TypeError("data.object is not an object")
        return PaymentEventData(id=str(payload["id"]), type=str(payload["type"]), livemode=bool(payload["livemode"]),
                                object=data, payload=payload)
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"The webhook's body is not an event: {exc}") from None


class PaymentProvider(ABC):
    """Takes payments, refunds them and pays creators out, always with an idempotency key.

    ``livemode`` says whether this provider moves real money; events of the other mode are refused, so
    test and live never mix.
    """

    name: ClassVar[str]
    livemode: bool = False

    @abstractmethod
    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        """Start a checkout for ``request`` (retrying with the same idempotency key returns the same one)."""

    @abstractmethod
    def verify_event(self, raw: bytes, headers: Mapping[str, str]) -> PaymentEventData:
        """The event in a webhook request, once its signature over ``raw`` has been verified; InvalidInput if not."""

    @abstractmethod
    def refund(self, payment_ref: str, amount: Money, idempotency_key: str) -> str:
        """Give ``amount`` of the payment ``payment_ref`` back; returns the provider's refund id."""

    @abstractmethod
    def create_payout_account(self, user_id: int, email: str | None) -> tuple[str, str | None]:
        """Open an account creators are paid into: (account ref, onboarding URL or None)."""

    @abstractmethod
    def payout(self, account_ref: str, amount: Money, idempotency_key: str, payout_id: int) -> str:
        """Send ``amount`` to ``account_ref``; returns the provider's transfer id. RejectedError if refused."""

"""Stripe, through the official ``stripe`` library (``StripeClient``): Checkout, refunds, Connect transfers.

Every request that creates something carries an idempotency key derived from our own row (purchase,
refund, payout), so a retry after a timeout can never charge, refund or pay twice. Webhooks are verified
over the raw body with the signing secret. The key's mode (``sk_test_``/``sk_live_``) sets ``livemode``;
the webhook route refuses events of the other mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, NoReturn

import stripe

from alphabook.core.errors import ConfigurationError, RejectedError, TemporaryError
from alphabook.core.money import Money
from alphabook.payments.providers.base import (
    Checkout,
    CheckoutRequest,
    PaymentEventData,
    PaymentProvider,
    read_signed_event,
)

__all__ = ["StripeProvider"]


class StripeProvider(PaymentProvider):
    name: ClassVar[str] = "stripe"

    def __init__(self, secret_key: str, webhook_secret: str, api_base: str = "https://api.stripe.com") -> None:
        if not secret_key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
            raise ConfigurationError("ALPHABOOK_STRIPE_SECRET_KEY must be a Stripe secret key (sk_test_… or "
                                     "sk_live_…).")
        if not webhook_secret:
            raise ConfigurationError("ALPHABOOK_STRIPE_WEBHOOK_SECRET is needed to verify Stripe's webhooks.")
        self.livemode = "_live_" in secret_key
        self._webhook_secret = webhook_secret
        self._client = stripe.StripeClient(secret_key, base_addresses={"api": api_base, "connect": api_base},
                                           max_network_retries=2)

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [{"quantity": 1, "price_data": {
                "currency": request.amount.currency.lower(), "unit_amount": request.amount.amount_minor,
                "product_data": {"name": request.title}}}],
            "client_reference_id": str(request.purchase_id),
            "metadata": {"purchase_id": str(request.purchase_id)},
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        if request.buyer_email:
            params["customer_email"] = request.buyer_email
        session = self._call(lambda: self._client.v1.checkout.sessions.create(
            params=params, options={"idempotency_key": request.idempotency_key}))  # type: ignore[arg-type]
        return Checkout(ref=session.id, url=session.url or "")

    def verify_event(self, raw: bytes, headers: Mapping[str, str]) -> PaymentEventData:
        return read_signed_event(raw, headers.get("stripe-signature"), self._webhook_secret)

    def refund(self, payment_ref: str, amount: Money, idempotency_key: str) -> str:
        refund = self._call(lambda: self._client.v1.refunds.create(
            params={"payment_intent": payment_ref, "amount": amount.amount_minor},
            options={"idempotency_key": idempotency_key}))
        return str(refund.id)

    def create_payout_account(self, user_id: int, email: str | None) -> tuple[str, str | None]:
        params: dict[str, Any] = {"type": "express", "metadata": {"alphabook_user_id": str(user_id)}}
        if email:
            params["email"] = email
        account = self._call(lambda: self._client.v1.accounts.create(
            params=params, options={"idempotency_key": f"payout-account-{user_id}"}))  # type: ignore[arg-type]
        link = self._call(lambda: self._client.v1.account_links.create(params={
            "account": account.id, "type": "account_onboarding",
            "refresh_url": "https://alphabook.invalid/payouts", "return_url": "https://alphabook.invalid/payouts"}))
        return str(account.id), str(link.url)

    def payout(self, account_ref: str, amount: Money, idempotency_key: str, payout_id: int) -> str:
        transfer = self._call(lambda: self._client.v1.transfers.create(
            params={"amount": amount.amount_minor, "currency": amount.currency.lower(), "destination": account_ref,
                    "metadata": {"payout_id": str(payout_id)}},
            options={"idempotency_key": idempotency_key}))
        return str(transfer.id)

    @staticmethod
    def _call(request: Any) -> Any:
        """Run a Stripe request, sorting its failures into retry-later and refused."""
        try:
            return request()
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
            _raise(TemporaryError, exc)
        except (stripe.AuthenticationError, stripe.PermissionError) as exc:
            # Our key, not the counterparty's decision: an operator must fix ALPHABOOK_STRIPE_SECRET_KEY, and
            # until then payouts stay queued and checkouts answer "try later" rather than failing for good.
            raise TemporaryError(f"Stripe refused alphabook's API key ({type(exc).__name__}); an operator must "
                                 "fix ALPHABOOK_STRIPE_SECRET_KEY.") from None
        except stripe.StripeError as exc:
            _raise(RejectedError, exc)


def _raise(kind: type[TemporaryError] | type[RejectedError], exc: stripe.StripeError) -> NoReturn:
    raise kind(f"Stripe: {exc.user_message or str(exc) or type(exc).__name__}") from None

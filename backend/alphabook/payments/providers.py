"""Which PaymentProvider this installation uses, built from the settings (one per process)."""

from __future__ import annotations

from alphabook.core.config import Settings
from alphabook.core.errors import ConfigurationError
from alphabook.payments.local_provider import LocalProvider
from alphabook.payments.provider import PaymentProvider
from alphabook.payments.stripe_provider import StripeProvider

__all__ = ["LOCAL_CHECKOUT_PATH", "build_provider"]

LOCAL_CHECKOUT_PATH = "/services/api/api/payments/local/checkout"


def build_provider(settings: Settings) -> PaymentProvider:
    if settings.payment_provider == "stripe":
        if settings.stripe_secret_key is None or settings.stripe_webhook_secret is None:
            raise ConfigurationError("ALPHABOOK_PAYMENT_PROVIDER=stripe needs ALPHABOOK_STRIPE_SECRET_KEY and "
                                     "ALPHABOOK_STRIPE_WEBHOOK_SECRET.")
        return StripeProvider(settings.stripe_secret_key.get_secret_value(),
                              settings.stripe_webhook_secret.get_secret_value(), settings.stripe_api_base)
    return LocalProvider(settings.secret("local_payments_webhook"), settings.base_url + LOCAL_CHECKOUT_PATH)

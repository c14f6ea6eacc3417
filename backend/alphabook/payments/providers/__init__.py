"""Payment providers: the :class:`PaymentProvider` interface, its adapters, and the one this installation uses.

The adapters live next to the interface they implement (``base``, ``local``, ``stripe``), so adding a
provider means adding one module here and one branch to :func:`build_provider`, and the shared contract
suite (``tests/contract/test_payment_providers.py``) then holds it to the same behaviour as the others.
The rest of alphabook imports the interface and its data types from this package and never names an
adapter, except the Local checkout page, which only exists for :class:`~.local.LocalProvider`.
"""

from __future__ import annotations

from alphabook.core.config import Settings
from alphabook.core.errors import ConfigurationError
from alphabook.payments.providers.base import Checkout, CheckoutRequest, PaymentEventData, PaymentProvider
from alphabook.payments.providers.local import LocalProvider
from alphabook.payments.providers.stripe import StripeProvider

__all__ = ["LOCAL_CHECKOUT_PATH", "Checkout", "CheckoutRequest", "PaymentEventData", "PaymentProvider",
           "build_provider"]

LOCAL_CHECKOUT_PATH = "/services/api/api/payments/local/checkout"


def build_provider(settings: Settings) -> PaymentProvider:
    """The provider ``settings`` choose (one per process); ConfigurationError if Stripe lacks its secrets."""
    if settings.payment_provider == "stripe":
        if settings.stripe_secret_key is None or settings.stripe_webhook_secret is None:
            raise ConfigurationError("ALPHABOOK_PAYMENT_PROVIDER=stripe needs ALPHABOOK_STRIPE_SECRET_KEY and "
                                     "ALPHABOOK_STRIPE_WEBHOOK_SECRET.")
        return StripeProvider(settings.stripe_secret_key.get_secret_value(),
                              settings.stripe_webhook_secret.get_secret_value(), settings.stripe_api_base)
    return LocalProvider(settings.secret("local_payments_webhook"), settings.base_url + LOCAL_CHECKOUT_PATH)

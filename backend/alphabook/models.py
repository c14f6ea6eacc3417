"""Every table alphabook has, imported in one place so Alembic and the tests see the whole schema."""

from alphabook.accounts.models import ApiKey, Password, User
from alphabook.core.audit import AuditEntry
from alphabook.core.db import Base
from alphabook.marketplace.models import Entitlement, Flag, Listing, ListingVersion, Rating
from alphabook.payments.models import LedgerEntry, PaymentEvent, Payout, PayoutAccount, Purchase
from alphabook.trading.models import Alert, BrokerCredential, Hook, Order, OrderFill, OutboxMessage, TradingAccount

__all__ = [
           "Alert",
           "ApiKey",
           "AuditEntry",
           "Base",
           "BrokerCredential",
           "Entitlement",
           "Flag",
           "Hook",
           "LedgerEntry",
           "Listing",
           "ListingVersion",
           "Order",
           "OrderFill",
           "OutboxMessage",
           "Password",
           "PaymentEvent",
           "Payout",
           "PayoutAccount",
           "Purchase",
           "Rating",
           "TradingAccount",
           "User",
]

"""Every table alphabook has, imported in one place so Alembic and the tests see the whole schema."""

from alphabook.accounts.models import ApiKey, Password, User
from alphabook.core.audit import AuditEntry
from alphabook.core.db import Base
from alphabook.marketplace.models import Entitlement, Flag, Listing, ListingVersion, Rating
from alphabook.marketplace.verified import VerifiedBacktest
from alphabook.payments.models import LedgerEntry, PaymentEvent, Payout, PayoutAccount, Purchase
from alphabook.scheduler.models import Job, Run
from alphabook.trading.copy.models import (
    CopyCharge,
    CopyTrade,
    ProviderFlag,
    ProviderMetric,
    ProviderRating,
    ProviderVerification,
    SignalProvider,
    Subscription,
)
from alphabook.trading.equity import EquitySnapshot
from alphabook.trading.models import Alert, BrokerCredential, Hook, Order, OrderFill, OutboxMessage, TradingAccount
from alphabook.trading.paper_book import PaperAccount, PaperFill, PaperOrder, PaperPosition
from alphabook.trading.watchlists import SavedStrategy, Watchlist

__all__ = [
           "Alert",
           "ApiKey",
           "AuditEntry",
           "Base",
           "BrokerCredential",
           "CopyCharge",
           "CopyTrade",
           "Entitlement",
           "EquitySnapshot",
           "Flag",
           "Hook",
           "Job",
           "LedgerEntry",
           "Listing",
           "ListingVersion",
           "Order",
           "OrderFill",
           "OutboxMessage",
           "PaperAccount",
           "PaperFill",
           "PaperOrder",
           "PaperPosition",
           "Password",
           "PaymentEvent",
           "Payout",
           "PayoutAccount",
           "ProviderFlag",
           "ProviderMetric",
           "ProviderRating",
           "ProviderVerification",
           "Purchase",
           "Rating",
           "Run",
           "SavedStrategy",
           "SignalProvider",
           "Subscription",
           "TradingAccount",
           "User",
           "VerifiedBacktest",
           "Watchlist",
]

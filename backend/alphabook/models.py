"""Every table alphabook has, imported in one place so Alembic and the tests see the whole schema."""

from alphabook.accounts.models import ApiKey, Password, User
from alphabook.accounts.sign_in_models import MagicLink, RecoveryCode, TotpFactor
from alphabook.ai.models import AiProviderSetting, AiUsage
from alphabook.core.audit import AuditEntry
from alphabook.core.db import Base
from alphabook.marketplace.models import Entitlement, Flag, Listing, ListingVersion, Rating
from alphabook.marketplace.verified import VerifiedBacktest
from alphabook.notifications.models import NotificationDelivery, NotificationPreferences
from alphabook.payments.models import LedgerEntry, PaymentEvent, Payout, PayoutAccount, Purchase
from alphabook.scheduler.models import Job, Run
from alphabook.sentiment.models import FearGreedSnapshot, NewsFeed, NewsItem, NewsMention
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
           "AiProviderSetting",
           "AiUsage",
           "Alert",
           "ApiKey",
           "AuditEntry",
           "Base",
           "BrokerCredential",
           "CopyCharge",
           "CopyTrade",
           "Entitlement",
           "EquitySnapshot",
           "FearGreedSnapshot",
           "Flag",
           "Hook",
           "Job",
           "LedgerEntry",
           "Listing",
           "ListingVersion",
           "MagicLink",
           "NewsFeed",
           "NewsItem",
           "NewsMention",
           "NotificationDelivery",
           "NotificationPreferences",
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
           "RecoveryCode",
           "Run",
           "SavedStrategy",
           "SignalProvider",
           "Subscription",
           "TotpFactor",
           "TradingAccount",
           "User",
           "VerifiedBacktest",
           "Watchlist",
]

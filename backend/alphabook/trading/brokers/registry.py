"""Which :class:`~alphabook.trading.brokers.base.Broker` an account's orders go to, built from what is stored.

``paper`` accounts trade on alphabook's own simulation (``PaperBroker`` over the installation's price feed);
``ccxt`` and ``alpaca`` accounts log in with their :class:`~alphabook.trading.models.BrokerCredential`, decrypted
here and nowhere else. Besides the keys, a credential's (encrypted) ``options`` tune the adapter: for ccxt ``urls``
(an exchange's other endpoints), ``config`` (timeouts, ccxt options), ``quote_currency``, ``market_type`` and
``retry`` (``{"attempts": …, "first_delay_s": …}``, the adapter's own retries); for Alpaca ``base_url``. Brokers
are cached per account for a minute (a ccxt client loads its markets once), and rebuilt at once when the credential
changes.

Paper hooks never reach a broker whose ``capabilities.live`` is True. The risk checks refuse such an order
before it is written (:func:`is_live` answers without building the broker); :meth:`BrokerRegistry.for_order`
checks again with the broker itself in hand, so even an order that slipped through (a credential switched from
testnet to live after the order was written) is refused before it is sent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.errors import ConfigurationError
from alphabook.trading.brokers.base import Broker
from alphabook.trading.brokers.paper import PaperBroker  # at import: it maps tables, not in a request's thread
from alphabook.trading.credentials import BrokerSecrets, cipher_for, load_credentials
from alphabook.trading.models import AccountKind, BrokerCredential, Hook, Order, OrderSource, TradingAccount
from alphabook.trading.risk import RiskRefused

__all__ = ["BrokerRegistry", "is_live"]

CACHE_SECONDS = 60.0


def is_live(session: Session, account: TradingAccount) -> bool:
    """Whether ``account``'s orders move real money, from the stored facts alone (no broker is built).

    A paper account never does; any other is live unless its credential says it trades on the venue's testnet or
    paper endpoint. Missing facts count as live: the safe answer for a paper hook."""
    if account.broker == "paper" and account.kind != AccountKind.LIVE:
        return False
    credential = session.get(BrokerCredential, account.id)
    return credential is None or not credential.sandbox


class BrokerRegistry:
    """Builds and caches the brokers of accounts; safe to share between a dispatcher's threads."""

    def __init__(self, database: Database, settings: Settings, *, paper_feed: Any = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.database = database
        self.settings = settings
        self._paper_feed = paper_feed
        self._clock = clock
        self._cache: dict[int, tuple[float, datetime | None, Broker]] = {}
        self._lock = threading.Lock()

    def for_order(self, session: Session, order: Order) -> Broker:
        """The broker to send ``order`` to; RiskRefused when a paper hook's order would reach a live broker."""
        account = session.get(TradingAccount, order.account_id)
        if account is None:
            raise ConfigurationError(f"Order {order.id} belongs to no account.")
        broker = self.for_account(session, account)
        if order.source == OrderSource.HOOK:
            hook = session.get(Hook, order.hook_id) if order.hook_id else None
            if (hook is None or not hook.live) and broker.capabilities.live:
                raise RiskRefused(f"Order {order.id} came from a paper hook (or one since deleted), and account "
                                  f"{account.id}'s broker trades real money: paper hooks never place live orders.",
                                  scope="hook", limit="paper_only")
        return broker

    def for_account(self, session: Session, account: TradingAccount) -> Broker:
        credential = session.get(BrokerCredential, account.id) if account.broker != "paper" else None
        version = None if credential is None else (credential.rotated_at or credential.created_at)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(account.id)
            if cached is not None and cached[0] > now and cached[1] == version:
                return cached[2]
        broker = self._build(account, credential)
        with self._lock:
            self._cache[account.id] = (now + CACHE_SECONDS, version, broker)
        return broker

    def forget(self, account_id: int) -> None:
        with self._lock:
            self._cache.pop(account_id, None)

    def _build(self, account: TradingAccount, credential: BrokerCredential | None) -> Broker:
        if account.broker == "paper":
            return PaperBroker(self.database, account.id, self.paper_feed())
        if credential is None:
            raise ConfigurationError(f"Account {account.id} trades at {account.broker} but has no stored "
                                     "credentials; connect the broker account again.")
        secrets = load_credentials(cipher_for(self.settings), credential)
        return self.build_remote(account.broker, credential.venue, sandbox=credential.sandbox, secrets=secrets)

    def build_remote(self, broker: str, venue: str, *, sandbox: bool, secrets: BrokerSecrets) -> Broker:
        """A ``ccxt`` or ``alpaca`` broker logged in with ``secrets``, built exactly as an account's orders will
        be, but neither stored nor cached: what connecting an account checks its keys with before saving them.
        InvalidInput for an exchange ccxt does not know (or without a sandbox when ``sandbox``)."""
        options = dict(secrets.options or {})
        if broker == "ccxt":
            from alphabook.research.data.ccxt_source import RetryPolicy
            from alphabook.trading.brokers.ccxt import CcxtBroker

            config = dict(options.get("config") or {})
            if secrets.password:
                config["password"] = secrets.password
            retry = RetryPolicy(**options["retry"]) if options.get("retry") else None
            return CcxtBroker(venue, secrets.api_key, secrets.secret, sandbox=sandbox,
                              urls=options.get("urls"), config=config,
                              quote_currency=str(options.get("quote_currency", "USDT")),
                              market_type=options.get("market_type", "spot"), retry=retry)
        if broker == "alpaca":
            from alphabook.trading.brokers.alpaca import AlpacaBroker

            return AlpacaBroker(secrets.api_key, secrets.secret, paper=sandbox, base_url=options.get("base_url"))
        raise ConfigurationError(f"Broker {broker!r} is not one alphabook knows: use 'paper', 'ccxt' or 'alpaca'.")

    def paper_feed(self) -> Any:
        """The price feed every paper account of this process shares (built on first use)."""
        with self._lock:
            if self._paper_feed is None:
                from alphabook.trading.prices import ReplayFeed

                self._paper_feed = ReplayFeed.bundled()
            return self._paper_feed

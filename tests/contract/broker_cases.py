"""The brokers the shared contract suite (``test_brokers.py``) runs against, one :class:`BrokerCase` each.

A case is a way to make the broker under test plus the levers the suite needs from outside it: moving a
symbol's price so that resting orders fill, and, where something external can fail, making the next requests
fail. Every case opens a fresh account (its fake venue, or its own state) holding ``cash`` and nothing else.

To add a broker, write one context-manager function yielding its case and add it to :data:`CASES`::

    @contextmanager
    def paper() -> Iterator[BrokerCase]:
        broker = PaperBroker(...)
        yield BrokerCase(make=lambda: broker, move_price=broker.set_price, symbol="BTC/USDT", ...)

    CASES = {..., "paper": paper}

Cases here: ccxt's Binance on its testnet and live endpoints and with order lookups by listing instead of
by client id, Alpaca's paper and live endpoints, and alphabook's own paper broker (on a SQLite database of its
own, priced by :class:`tests.fakes.scripted_feed.ScriptedFeed`); the remote ones talk to local fakes of the venues
(:mod:`tests.fakes.fake_binance_trading`, :mod:`tests.fakes.fake_alpaca`), which also check at teardown
that they never failed internally.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Literal

from alphabook.core import migrations
from alphabook.core.clock import utcnow
from alphabook.core.db import Database
from alphabook.core.money import Money
from alphabook.research.data import RetryPolicy
from alphabook.trading.brokers.alpaca import AlpacaBroker
from alphabook.trading.brokers.base import Broker
from alphabook.trading.brokers.ccxt import CcxtBroker
from alphabook.trading.brokers.paper import PaperBroker
from alphabook.trading.costs import Costs, PercentFee
from alphabook.trading.models import AccountKind, AccountStatus, TradingAccount
from tests.fakes import fake_alpaca
from tests.fakes.fake_alpaca import FakeAlpaca
from tests.fakes.fake_binance_trading import FakeBinanceTrading
from tests.fakes.fake_exchange import Failure, rate_limited, server_error
from tests.fakes.scripted_feed import ScriptedFeed

RETRY = RetryPolicy(attempts=3, first_delay_s=0.01, max_delay_s=2.0)  # backoff in milliseconds, Retry-After honoured
TIMEOUT_S = 0.5  # the client's request timeout; a stalled request answers after twice that
RETRY_AFTER_S = 1  # what the injected 429s ask for

Operation = Literal["place", "fetch"]
How = Literal["5xx", "429", "lost", "timeout"]  # lost: served, then answered with a 5xx; timeout: served, answered late


@dataclass(frozen=True)
class BrokerCase:
    make: Callable[[], Broker]  # the broker under test, for the case's account
    move_price: Callable[[str, Decimal], None]  # the market moves: resting orders it crosses trigger and fill
    symbol: str  # a symbol the account trades, priced ``price`` when the case opens
    price: Decimal
    quantity: Decimal  # an order size ``cash`` pays for several times over
    cash: Decimal
    cash_currency: str
    live: bool  # what ``capabilities.live`` must say
    unknown_symbol: str  # a symbol the venue does not list
    absent_order_id: str  # a well-formed order id the venue does not know
    cost_basis: bool = True  # positions carry their average price (spot balances do not: None)
    disrupt: Callable[[Operation, How, int], None] | None = None  # fail the next n requests; None: nothing can fail


CaseBuilder = Callable[[], AbstractContextManager[BrokerCase]]


@contextmanager
def _binance(*, sandbox: bool, lookup_by_client_id: bool | None = None) -> Iterator[BrokerCase]:
    cash = Decimal(10_000)
    with FakeBinanceTrading({"BTC/USDT": Decimal(30_000), "ETH/USDT": Decimal(2_000)}, {"USDT": cash}) as fake:
        config = {**fake.ccxt_config(), "timeout": int(TIMEOUT_S * 1000)}

        def make() -> Broker:
            return CcxtBroker("binance", fake.api_key, fake.secret, sandbox=sandbox, urls=fake.urls(), config=config,
                              quote_currency="USDT", lookup_by_client_id=lookup_by_client_id, retry=RETRY)

        def disrupt(operation: Operation, how: How, times: int) -> None:
            method = "POST" if operation == "place" else "GET"
            if how == "timeout":
                fake.stall("/api/v3/order", 2 * TIMEOUT_S, method=method, times=times)
                return
            failure: Failure = rate_limited(RETRY_AFTER_S) if how == "429" else server_error(503)
            fake.fail("/api/v3/order", failure, method=method, times=times, after_processing=how == "lost")

        yield BrokerCase(make, fake.set_price, "BTC/USDT", Decimal(30_000), Decimal("0.01"), cash, "USDT",
                         live=not sandbox, unknown_symbol="XRP/USDT", absent_order_id="987654321", cost_basis=False,
                         disrupt=disrupt)
        assert fake.errors == []


@contextmanager
def binance_testnet() -> Iterator[BrokerCase]:
    with _binance(sandbox=True) as case:
        yield case


@contextmanager
def binance_live() -> Iterator[BrokerCase]:
    with _binance(sandbox=False) as case:
        yield case


@contextmanager
def binance_listing_orders() -> Iterator[BrokerCase]:
    """Binance as a venue that cannot look orders up by client id: find_order scans the order list."""
    with _binance(sandbox=True, lookup_by_client_id=False) as case:
        yield case


@contextmanager
def _alpaca(*, paper: bool) -> Iterator[BrokerCase]:
    cash = Decimal(10_000)
    with FakeAlpaca({"AAPL": Decimal(200), "MSFT": Decimal(400)}, cash) as fake:
        def make() -> Broker:
            return AlpacaBroker(fake.key_id, fake.secret_key, paper=paper, base_url=fake.url, timeout_s=TIMEOUT_S,
                                settle_s=1.0, retry=RETRY)

        def disrupt(operation: Operation, how: How, times: int) -> None:
            method, path = ("POST", "/v2/orders") if operation == "place" else ("GET", "/v2/orders/")
            if how == "timeout":
                fake.stall(path, 2 * TIMEOUT_S, method=method, times=times)
                return
            failure = fake_alpaca.too_many_requests(RETRY_AFTER_S) if how == "429" else fake_alpaca.server_error(503)
            fake.fail(path, failure, method=method, times=times, after_processing=how == "lost")

        yield BrokerCase(make, fake.set_price, "AAPL", Decimal(200), Decimal(3), cash, "USD", live=not paper,
                         unknown_symbol="NOPE", absent_order_id="6f1c8c1e-2b8f-4a57-9d5e-0c6a3c1b2d4e", disrupt=disrupt)
        assert fake.errors == []


@contextmanager
def alpaca_paper() -> Iterator[BrokerCase]:
    with _alpaca(paper=True) as case:
        yield case


@contextmanager
def alpaca_live() -> Iterator[BrokerCase]:
    with _alpaca(paper=False) as case:
        yield case


@cache
def _migrated_sqlite() -> Path:
    """One migrated SQLite file per test session, which each paper case copies (migrating takes a while)."""
    path = Path(tempfile.mkdtemp(prefix="alphabook-paper-")) / "template.db"
    migrations.upgrade(f"sqlite:///{path}")
    return path


@contextmanager
def paper() -> Iterator[BrokerCase]:
    """alphabook's paper broker on its own SQLite database, priced by a scripted market (each move one print)."""
    cash = Decimal(10_000)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "paper.db"
        with sqlite3.connect(_migrated_sqlite()) as source, sqlite3.connect(path) as target:
            source.backup(target)
        database = Database(f"sqlite:///{path}")
        try:
            with database.session() as session:
                now = utcnow()
                account = TradingAccount(owner_id=None, kind=AccountKind.PAPER.value, status=AccountStatus.ACTIVE.value,
                                         name="contract", broker="paper", currency="USD",
                                         starting_cash_minor=Money.of(cash, "USD").amount_minor, kill_switch=False,
                                         limits={}, created_at=now, updated_at=now)
                session.add(account)
                session.flush()
                account_id = account.id
            feed = ScriptedFeed({"BTC/USD": Decimal(30_000), "ETH/USD": Decimal(2_000)})

            def make() -> Broker:
                return PaperBroker(database, account_id, feed, Costs(fees=PercentFee(Decimal("0.001"))))

            def move_price(symbol: str, price: Decimal) -> None:
                feed.set_price(symbol, price)
                make().match()  # what the scheduler does after every bar

            yield BrokerCase(make, move_price, "BTC/USD", Decimal(30_000), Decimal("0.01"), cash, "USD", live=False,
                             unknown_symbol="XRP/USD", absent_order_id="987654321")
        finally:
            database.dispose()


CASES: dict[str, CaseBuilder] = {
    "binance-testnet": binance_testnet,
    "binance-live": binance_live,
    "binance-listing-orders": binance_listing_orders,
    "alpaca-paper": alpaca_paper,
    "alpaca-live": alpaca_live,
    "paper": paper,
}
#: Cases with no counterparty that can fail or be down (no ``disrupt``): the outage tests run on the others.
OFFLINE_CASES = frozenset({"paper"})

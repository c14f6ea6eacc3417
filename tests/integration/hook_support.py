"""Helpers for the webhook routing tests (test_hooks, test_risk, test_outbox).

Provides: :class:`Trader` (a user with an API key and a paper trading account on the real ``PaperBroker``),
:func:`make_trader`, :func:`api` (the app over FastAPI's test client, its dispatcher thread off unless asked, so a
test runs the dispatcher itself), :func:`tradingview_body` and :func:`signed_headers` (what TradingView and a
Standard Webhooks sender put on the wire), :func:`make_live_account` (a ccxt account with stored credentials,
on the venue's testnet or live) and :func:`drain` (dispatcher rounds until nothing is due).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from alphabook.accounts import service
from alphabook.accounts.models import ApiScope
from alphabook.api.main import create_app
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.money import Money
from alphabook.trading import accounts
from alphabook.trading.credentials import BrokerSecrets, cipher_for, store_credentials
from alphabook.trading.models import AccountKind, AccountStatus, TradingAccount
from alphabook.trading.outbox import Dispatcher

SYMBOL = "GOOG"  # in the bundled replay feed the paper broker prices from
CLOSED = "http://127.0.0.1:9/api/v3"  # the discard port: nothing listens


def drain(dispatcher: Dispatcher) -> int:
    """Run dispatcher rounds until nothing is due (other tests' leftovers in the shared database included)."""
    total = 0
    while handled := dispatcher.run_once():
        total += handled
    return total


@dataclass(frozen=True)
class Trader:
    name: str
    user_id: int
    account_id: int
    headers: dict[str, str]


def make_trader(database: Database, prefix: str = "trader") -> Trader:
    name = f"{prefix}-{secrets.token_hex(3)}"
    with database.session() as session:
        user = service.ensure_user(session, name)
        _, key = service.create_api_key(session, user, name="test", scopes=[ApiScope.READ, ApiScope.WRITE],
                                        expires_in_days=1)
        account = accounts.open_paper_account(session, user, name="paper", starting_cash=Money.of("100000", "USD"))
        return Trader(name, user.id, account.id, {"Authorization": f"Bearer {key}"})


def settings_for(database: Database, home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"trading_dispatcher_in_api": False, **overrides}
    return Settings(home=home, database_url=database.url, **values)


@contextmanager
def api(settings: Settings, client: tuple[str, int] = ("198.51.100.20", 40000)) -> Iterator[TestClient]:
    with TestClient(create_app(settings, prefix="/"), client=client) as test_client:
        yield test_client


def create_hook(client: TestClient, trader: Trader, **fields: Any) -> dict[str, Any]:
    body = {"name": "strategy", **fields}
    reply = client.post(f"/api/accounts/{trader.account_id}/hooks", json=body, headers=trader.headers)
    assert reply.status_code == 201, reply.text
    created: dict[str, Any] = reply.json()
    return created


def tradingview_body(secret: str, **fields: Any) -> bytes:
    """A TradingView alert message after its placeholders were filled in."""
    body = {"secret": secret, "timestamp": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"), "ticker": f"NASDAQ:{SYMBOL}",
            "action": "buy", "contracts": "1", "price": "300", **fields}
    return json.dumps(body).encode()


def signed_headers(secret: str, body: bytes, *, webhook_id: str | None = None,
                   timestamp: int | None = None) -> dict[str, str]:
    """Standard Webhooks: v1 = base64 HMAC-SHA256 of ``id.timestamp.body`` keyed by the secret's base64 part."""
    webhook_id = webhook_id or f"msg_{secrets.token_hex(8)}"
    stamp = str(timestamp if timestamp is not None else int(utcnow().timestamp()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signature = base64.b64encode(hmac.new(key, f"{webhook_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
    return {"webhook-id": webhook_id, "webhook-timestamp": stamp, "webhook-signature": f"v1,{signature.decode()}",
            "content-type": "application/json"}


def make_live_account(database: Database, settings: Settings, owner_id: int, *, sandbox: bool,
                      options: dict[str, Any] | None = None, api_key: str = "key",
                      secret: str = "secret", venue: str = "binance") -> int:
    """A ccxt (Binance) account, or an Alpaca one (``venue``), with stored credentials: the venue's testnet or
    paper endpoint (``sandbox``) or real money.

    Unless ``options`` say otherwise its endpoints are a closed local port: nothing here ever reaches Binance."""
    options = options if options is not None else {"urls": {"api": {"public": CLOSED, "private": CLOSED}},
                                                   "retry": {"attempts": 1, "first_delay_s": 0.01}}
    now = utcnow()
    with database.session() as session:
        account = TradingAccount(owner_id=owner_id, kind=AccountKind.LIVE.value, status=AccountStatus.ACTIVE.value,
                                 name=venue, broker="alpaca" if venue == "alpaca" else "ccxt", currency="USD",
                                 starting_cash_minor=0,
                                 demo_token_hash=None, demo_email=None, expires_at=None, kill_switch=False,
                                 kill_reason=None, limits={}, created_at=now, updated_at=now)
        session.add(account)
        session.flush()
        store_credentials(session, cipher_for(settings), account, venue=venue, sandbox=sandbox,
                          secrets=BrokerSecrets(api_key=api_key, secret=secret, options=options or {}),
                          actor="test")
        return account.id

"""The portfolio routes over HTTP (FastAPI's test client): shapes, access, the CSV download, on every backend.

Each test opens its own account (owned by a fresh user, or a demo held by a cookie) and writes a small journal
straight through the models: buy 10 AAPL at 100 (fee 1), sell 4 at 110 (fee 1), buy 2 MSFT at 250 (fee 0.50),
from 10,000.00 USD: cash 8,937.50, AAPL 6 at 100, realized +40 - 2.50 fees = 37.50.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from alphabook.accounts import service
from alphabook.accounts.models import ApiScope
from alphabook.api.main import create_app
from alphabook.api.trading_deps import DEMO_COOKIE, demo_token_digest
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.trading.equity import snapshot
from alphabook.trading.models import AccountKind, AccountStatus, Order, OrderFill, OrderState, TradingAccount
from tests.fakes.scripted_feed import ScriptedFeed

API = "/services/api/api"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def client(database: Database, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path, database_url=database.url, trading_dispatcher_in_api=False)
    with TestClient(create_app(settings, prefix="/services/api/")) as test_client:
        yield test_client


@dataclass
class Opened:
    account_id: int
    headers: dict[str, str]


def user_headers(database: Database, name: str) -> tuple[int, dict[str, str]]:
    with database.session() as session:
        user = service.ensure_user(session, name)
        _, secret = service.create_api_key(session, user, name="test", scopes=[ApiScope.READ], expires_in_days=1)
        return user.id, {"Authorization": f"Bearer {secret}"}


def open_account(database: Database, *, owner_id: int | None = None, demo_token: str | None = None) -> int:
    with database.session() as session:
        account = TradingAccount(
            owner_id=owner_id, kind=(AccountKind.DEMO if demo_token else AccountKind.PAPER).value,
            status=AccountStatus.ACTIVE.value, name="api", broker="paper", currency="USD",
            starting_cash_minor=1_000_000, demo_token_hash=demo_token_digest(demo_token) if demo_token else None,
            kill_switch=False, limits={}, created_at=T0, updated_at=T0)
        session.add(account)
        session.flush()
        for number, (symbol, side, quantity, price, fee) in enumerate(
                [("AAPL", "buy", "10", "100", "1"), ("AAPL", "sell", "4", "110", "1"),
                 ("MSFT", "buy", "2", "250", "0.5")], start=1):
            when = T0 + timedelta(minutes=number)
            order = Order(account_id=account.id, client_order_id=f"o{number}", source="manual", symbol=symbol,
                          side=side, type="market", time_in_force="gtc", quantity=Decimal(quantity),
                          state=OrderState.FILLED.value, filled_quantity=Decimal(quantity),
                          average_price=Decimal(price), created_at=when, updated_at=when)
            order.fills.append(OrderFill(fill_id=f"f{number}", quantity=Decimal(quantity), price=Decimal(price),
                                         fee=Decimal(fee), fee_currency="USD", at=when))
            session.add(order)
        return account.id


@pytest.fixture
def owned(database: Database) -> Opened:
    owner_id, headers = user_headers(database, f"trader-{secrets.token_hex(4)}")
    return Opened(open_account(database, owner_id=owner_id), headers)


def get(client: TestClient, path: str, headers: dict[str, str] | None = None, status: int = 200) -> Any:
    reply = client.get(f"{API}{path}", headers=headers or {})
    assert reply.status_code == status, reply.text
    return reply.json()


def test_positions_show_cash_pnl_and_marks(client: TestClient, owned: Opened) -> None:
    body = get(client, f"/accounts/{owned.account_id}/positions", owned.headers)
    assert body["cash"] == {"amount_minor": 893_750, "currency": "USD", "display": "8937.50 USD"}
    assert body["realized_pnl"]["amount_minor"] == 3_750 and body["fees"]["amount_minor"] == 250
    aapl, msft = body["positions"]
    assert (aapl["symbol"], aapl["quantity"], aapl["average_price"], aapl["mark_price"]) == ("AAPL", "6", "100",
                                                                                            "110")
    assert aapl["marked_by"] == "last_fill" and aapl["unrealized_pnl"]["amount_minor"] == 6_000
    app = client.app
    assert isinstance(app, FastAPI)
    app.state.price_feed = ScriptedFeed({"AAPL": Decimal("95.5"), "MSFT": Decimal(260)})  # the installation's feed
    marked = get(client, f"/accounts/{owned.account_id}/positions", owned.headers)
    assert [(row["mark_price"], row["marked_by"]) for row in marked["positions"]] == [("95.5", "feed"),
                                                                                      ("260", "feed")]
    assert marked["equity"]["amount_minor"] == 893_750 + 57_300 + 52_000
    assert msft["opened_at"].startswith("2026-03-02T09:03:00")


def test_the_journal_pages_and_downloads(client: TestClient, owned: Opened) -> None:
    first = get(client, f"/accounts/{owned.account_id}/orders?limit=2", owned.headers)
    assert [item["client_order_id"] for item in first["items"]] == ["o3", "o2"]
    assert first["items"][1]["realized_pnl"]["amount_minor"] == 3_900  # (110 - 100) x 4 - 1
    assert first["items"][1]["fills"][0] == {"fill_id": "f2", "quantity": "4", "price": "110", "fee": "1",
                                             "fee_currency": "USD", "at": "2026-03-02T09:02:00Z"}
    rest = get(client, f"/accounts/{owned.account_id}/orders?limit=2&cursor={first['next_cursor']}", owned.headers)
    assert [item["client_order_id"] for item in rest["items"]] == ["o1"] and rest["next_cursor"] is None
    reply = client.get(f"{API}/accounts/{owned.account_id}/orders.csv", headers=owned.headers)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    assert reply.headers["content-disposition"] == f'attachment; filename="account-{owned.account_id}-orders.csv"'
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert [(row["client_order_id"], row["quantity"], row["fees"]) for row in rows] == [
        ("o1", "10", "1.00"), ("o2", "4", "1.00"), ("o3", "2", "0.50")]
    get(client, f"/accounts/{owned.account_id}/orders?limit=0", owned.headers, status=422)


def test_equity_history_and_stats(client: TestClient, owned: Opened, database: Database) -> None:
    with database.session() as session:
        account = session.get(TradingAccount, owned.account_id)
        assert account is not None
        snapshot(session, account, at=T0 + timedelta(minutes=2))
        snapshot(session, account, at=T0 + timedelta(minutes=3))
    body = get(client, f"/accounts/{owned.account_id}/equity", owned.headers)
    assert [point["equity"]["amount_minor"] for point in body["points"]] == [1_009_800, 1_009_750]
    assert body["current"]["equity"]["amount_minor"] == 1_009_750  # marked at the last fills
    since = get(client, f"/accounts/{owned.account_id}/equity?since=2026-03-02T09:03:00", owned.headers)
    assert [point["at"] for point in since["points"]] == ["2026-03-02T09:03:00Z"]  # no zone: UTC
    stats = get(client, f"/accounts/{owned.account_id}/stats", owned.headers)
    assert (stats["trades"], stats["win_rate"], stats["profit_factor"], stats["round_trips"]) == (0, None, None, [])
    assert stats["max_drawdown"] == {"amount_minor": 0, "currency": "USD", "display": "0.00 USD"}


def test_only_the_owner_an_admin_or_the_demo_cookie_see_an_account(client: TestClient, owned: Opened,
                                                                   database: Database) -> None:
    _, stranger = user_headers(database, f"stranger-{secrets.token_hex(4)}")
    for path in ("positions", "orders", "orders.csv", "equity", "stats"):
        reply = client.get(f"{API}/accounts/{owned.account_id}/{path}", headers=stranger)
        assert reply.status_code == 404 and reply.headers["content-type"].startswith("application/problem+json")
        assert client.get(f"{API}/accounts/{owned.account_id}/{path}").status_code == 404
    with database.session() as session:
        admin = service.ensure_user(session, f"admin-{secrets.token_hex(4)}", roles=["user", "admin"])
        _, secret = service.create_api_key(session, admin, name="t", scopes=[ApiScope.READ], expires_in_days=1)
    get(client, f"/accounts/{owned.account_id}/stats", {"Authorization": f"Bearer {secret}"})
    token = secrets.token_urlsafe(32)
    demo_id = open_account(database, demo_token=token)
    client.cookies.set(DEMO_COOKIE, token)
    assert get(client, f"/accounts/{demo_id}/positions")["cash"]["amount_minor"] == 893_750
    get(client, f"/accounts/{owned.account_id}/positions", status=404)  # the cookie opens its own demo only

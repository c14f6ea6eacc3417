"""Copy trading over HTTP (FastAPI's test client), as people use it, on every database backend: a trader applies,
an administrator approves, a follower subscribes and pays, the provider trades and the follower's account copies,
the follower rates, administrators run metrics, verification and payouts, and the follower leaves."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select

from alphabook.accounts import service
from alphabook.accounts.models import ApiScope
from alphabook.api.main import create_app
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.money import Money
from alphabook.trading import accounts
from alphabook.trading.models import Order, TradingAccount
from tests.integration.copy_support import fill, place

API = "/services/api/api/copy"


@dataclass(frozen=True)
class Person:
    name: str
    account_id: int
    headers: dict[str, str]


def _person(database: Database, prefix: str, *, admin: bool = False) -> Person:
    name = f"{prefix}-{secrets.token_hex(3)}"
    with database.session() as session:
        user = service.ensure_user(session, name, roles=["user", "admin"] if admin else ["user"])
        _, key = service.create_api_key(session, user, name="test", scopes=[ApiScope.READ, ApiScope.WRITE],
                                        expires_in_days=1)
        account = accounts.open_paper_account(session, user, name="copy", starting_cash=Money.of("100000", "USD"))
        return Person(name, account.id, {"Authorization": f"Bearer {key}"})


@pytest.fixture
def client(database: Database, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path, database_url=database.url, trading_dispatcher_in_api=False)
    with TestClient(create_app(settings, prefix="/services/api/")) as test_client:
        yield test_client


def _ok(reply: Response, status: int = 200) -> Any:
    assert reply.status_code == status, reply.text
    return reply.json()


def _problem(reply: Response, status: int, detail_part: str) -> None:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert detail_part in reply.json()["detail"]


def _trade(database: Database, account_id: int, side: str, quantity: str, price: str) -> list[int]:
    """The provider trades (an alert or a manual order would); the fills come back from the broker. Returns the
    ids of the copies written into followers' accounts, which fill at the same price."""
    with database.session() as session:
        provider_account = session.get(TradingAccount, account_id)
        assert provider_account is not None
        order = place(session, provider_account, side, quantity)
        fill(session, order, price)
        copies = list(session.scalars(select(Order).where(Order.copied_from_id == order.id)))
        for copy in copies:
            fill(session, copy, price)
        return [copy.id for copy in copies]


def test_copy_trading_end_to_end(client: TestClient, database: Database) -> None:
    trader, follower, stranger = (_person(database, name) for name in ("trader", "follower", "stranger"))
    admin = _person(database, "admin", admin=True)

    applied = _ok(client.post(f"{API}/providers", headers=trader.headers, json={
        "account_id": trader.account_id, "name": "Breakout daily", "description": "Trend following on BTC.",
        "price": {"amount_minor": 1999, "currency": "USD"}, "claimed_return_pct": "1.5"}), 201)
    provider_id = applied["id"]
    assert (applied["status"], applied["account_id"], applied["claimed_return_pct"]) == (
        "applied", trader.account_id, "1.50")
    _problem(client.get(f"{API}/traders/{provider_id}"), 404, "no signal provider")
    _problem(client.get(f"{API}/traders/{provider_id}", headers=stranger.headers), 404, "no signal provider")
    assert [row["id"] for row in _ok(client.get(f"{API}/providers", headers=trader.headers))] == [provider_id]

    _problem(client.post(f"{API}/traders/{provider_id}/approve", headers=trader.headers, json={}), 403, "'admin'")
    approved = _ok(client.post(f"{API}/traders/{provider_id}/approve", headers=admin.headers, json={}))
    assert approved["status"] == "approved"
    public = _ok(client.get(f"{API}/traders/{provider_id}"))
    assert public["account_id"] is None and public["price"]["display"] == "19.99 USD"
    assert provider_id in [row["id"] for row in _ok(client.get(f"{API}/traders", params={"sort": "newest",
                                                                                        "limit": 200}))]

    subscription = _ok(client.post(f"{API}/subscriptions", headers=follower.headers, json={
        "provider_id": provider_id, "account_id": follower.account_id, "multiplier": "2",
        "position_limits": {"BTC/USDT": "3"}, "stop_loss_pct": "10"}), 201)
    assert (subscription["multiplier"], subscription["position_limits"], subscription["stop_loss_pct"]) == (
        "2", {"BTC/USDT": "3"}, "10")
    assert subscription["paid_until"] is not None
    _problem(client.post(f"{API}/subscriptions", headers=follower.headers, json={
        "provider_id": provider_id, "account_id": follower.account_id}), 409, "already follow")

    [copy_id] = _trade(database, trader.account_id, "buy", "1", "100")
    trades = _ok(client.get(f"{API}/subscriptions/{subscription['id']}/trades", headers=follower.headers))
    assert [(row["action"], row["order_id"], row["quantity"]) for row in trades] == [("mirror", copy_id, "2")]
    _problem(client.get(f"{API}/subscriptions/{subscription['id']}/trades", headers=stranger.headers), 404,
             "no subscription")

    _problem(client.post(f"{API}/traders/{provider_id}/rate", headers=stranger.headers, json={"stars": 5}), 403,
             "Only people following")
    _ok(client.post(f"{API}/traders/{provider_id}/rate", headers=follower.headers,
                    json={"stars": 4, "comment": "clear exits"}))
    profile = _ok(client.get(f"{API}/traders/{provider_id}"))
    assert (profile["rating"], profile["rating_count"], profile["followers"]) == ("4.00", 1, 1)
    assert profile["ratings"][0]["comment"] == "clear exits"

    changed = _ok(client.patch(f"{API}/subscriptions/{subscription['id']}", headers=follower.headers,
                               json={"multiplier": "1", "stop_loss_pct": None}))
    assert (changed["multiplier"], changed["stop_loss_pct"], changed["position_limits"]) == (
        "1", None, {"BTC/USDT": "3"})
    assert _ok(client.post(f"{API}/subscriptions/{subscription['id']}/pause", headers=follower.headers))["paused"]
    assert not _ok(client.post(f"{API}/subscriptions/{subscription['id']}/resume",
                               headers=follower.headers))["paused"]

    for path in ("update-metrics", "verify"):
        _problem(client.post(f"{API}/traders/{provider_id}/{path}", headers=follower.headers), 403, "'admin'")
    _problem(client.post(f"{API}/traders/verify-all", headers=follower.headers), 403, "'admin'")
    _problem(client.get(f"{API}/traders/flagged", headers=follower.headers), 403, "'admin'")
    figures = _ok(client.post(f"{API}/traders/{provider_id}/update-metrics", headers=admin.headers))
    assert figures["figures"]["return_pct"] == "0.00" and len(figures["daily"]) == 1
    verdict = _ok(client.post(f"{API}/traders/{provider_id}/verify", headers=admin.headers))
    assert (verdict["passed"], verdict["discrepancy_pct"], verdict["tolerance_pct"]) == (True, "1.50", "5.00")
    assert provider_id in [row["provider_id"] for row in _ok(client.post(f"{API}/traders/verify-all",
                                                                         headers=admin.headers))]
    assert provider_id not in [row["provider_id"] for row in _ok(client.get(f"{API}/traders/flagged",
                                                                            headers=admin.headers))]

    period = {"start": (utcnow() - timedelta(hours=1)).isoformat(), "end": (utcnow() + timedelta(hours=1)).isoformat()}
    everyone = _ok(client.get(f"{API}/payouts/calculate", headers=admin.headers, params=period))
    [earned] = [row for row in everyone if row["provider_id"] == provider_id]
    assert (earned["charges"], earned["gross"]["amount_minor"], earned["provider_share"]["amount_minor"],
            earned["platform_share"]["amount_minor"], earned["available"]["amount_minor"]) == (1, 1999, 1599, 400, 1599)
    assert [row["provider_id"] for row in _ok(client.get(f"{API}/payouts/calculate", headers=trader.headers,
                                                         params=period))] == [provider_id]
    assert _ok(client.get(f"{API}/payouts/calculate", headers=follower.headers, params=period)) == []
    _problem(client.post(f"{API}/payouts", headers=trader.headers, json={"provider_id": provider_id}), 403, "'admin'")
    _problem(client.post(f"{API}/payouts", headers=admin.headers, json={"provider_id": provider_id}), 409,
             "payout account")
    _ok(client.post("/services/api/api/payouts/account", headers=trader.headers), 201)
    payout = _ok(client.post(f"{API}/payouts", headers=admin.headers, json={"provider_id": provider_id}), 201)
    assert (payout["amount"]["amount_minor"], payout["status"]) == (1599, "paid")

    left = _ok(client.delete(f"{API}/subscriptions/{subscription['id']}", headers=follower.headers))
    assert left["status"] == "ended" and len(left["closing_order_ids"]) == 1
    with database.session() as session:
        close = session.get(Order, left["closing_order_ids"][0])
        assert close is not None and (close.side, close.quantity, close.source) == ("sell", 2, "copy")
    _problem(client.post(f"{API}/traders/{provider_id}/rate", headers=follower.headers, json={"stars": 1}), 403,
             "Only people following")
    _problem(client.post(f"{API}/traders/{provider_id}/suspend", headers=admin.headers, json={"reason": ""}), 422,
             "Say why")
    assert _ok(client.post(f"{API}/traders/{provider_id}/suspend", headers=admin.headers,
                           json={"reason": "under review"}))["status"] == "suspended"
    _problem(client.get(f"{API}/traders/{provider_id}"), 404, "no signal provider")


def test_browsing_is_public_and_validates_its_filters(client: TestClient) -> None:
    assert isinstance(_ok(client.get(f"{API}/traders", params={"min_return": "5", "max_drawdown": "20",
                                                              "min_sharpe": "0.5", "sort": "sharpe"})), list)
    reply = client.get(f"{API}/traders", params={"sort": "luck"})
    assert reply.status_code == 422 and "sort" in reply.json()["detail"]
    paths = _ok(client.get("/services/api/api/openapi.json"))["paths"]
    assert {f"{API}/traders", f"{API}/traders/{{provider_id}}/rate", f"{API}/traders/verify-all",
            f"{API}/traders/flagged", f"{API}/payouts/calculate", f"{API}/payouts", f"{API}/providers",
            f"{API}/subscriptions/{{subscription_id}}"} <= set(paths)

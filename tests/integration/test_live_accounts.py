"""Live accounts as a trader connects them: keys checked at the venue, stored encrypted, never shown again.

Every request goes through the HTTP API (FastAPI's test client) as a signed-in trader's API key; the venues are
the local fakes of Binance's trading API (on its testnet, or as real money) and of Alpaca (paper), which accept
only the keys each fake was made with. The installation lets traders name the venues' endpoints
(``trading_custom_broker_endpoints``), which is how the accounts reach the fakes; one test checks that without it
endpoint options are refused. The database is shared by the tests, so every trader is new and checks look at this
test's rows only.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from alphabook.accounts import service
from alphabook.core import audit
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.money import Money
from alphabook.trading import accounts
from alphabook.trading.credentials import cipher_for, load_credentials
from alphabook.trading.models import BrokerCredential, TradingAccount
from alphabook.trading.outbox import Dispatcher
from tests.fakes.fake_alpaca import FakeAlpaca
from tests.fakes.fake_binance_trading import FakeBinanceTrading
from tests.integration.hook_support import CLOSED, api, drain, settings_for, tradingview_body
from tests.integration.market import key_for, ok, problem

pytestmark = pytest.mark.db


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return settings_for(database, tmp_path, trading_custom_broker_endpoints=True)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with api(settings) as test_client:
        yield test_client


@pytest.fixture
def binance() -> Iterator[FakeBinanceTrading]:
    """A Binance whose keys are new for each test, so finding them anywhere means they leaked from here."""
    server = FakeBinanceTrading({"BTC/USDT": Decimal(30_000)}, {"USDT": Decimal(10_000)},
                                api_key=f"bnk-{secrets.token_hex(12)}", secret=f"bns-{secrets.token_hex(16)}")
    with server:
        yield server
    assert server.errors == []


@pytest.fixture
def alpaca() -> Iterator[FakeAlpaca]:
    with FakeAlpaca({"AAPL": Decimal(200)}, Decimal(10_000), key_id=f"PK{secrets.token_hex(8).upper()}",
                    secret_key=f"aps-{secrets.token_hex(16)}") as fake:
        yield fake
    assert fake.errors == []


def trader(database: Database, prefix: str = "live", roles: list[str] | None = None) -> tuple[str, dict[str, str]]:
    name = f"{prefix}-{secrets.token_hex(4)}"
    return name, key_for(database, name, roles)


def binance_options(fake: FakeBinanceTrading) -> dict[str, Any]:
    return {"urls": fake.urls(), "config": {**fake.ccxt_config(), "timeout": 10_000}, "quote_currency": "USDT",
            "retry": {"attempts": 1, "first_delay_s": 0.01}}


def binance_body(fake: FakeBinanceTrading, *, sandbox: bool = True, **changes: Any) -> dict[str, Any]:
    return {"name": "Binance", "venue": "binance", "sandbox": sandbox, "api_key": fake.api_key,
            "secret": fake.secret, "options": binance_options(fake), **changes}


def alpaca_body(fake: FakeAlpaca, **changes: Any) -> dict[str, Any]:
    return {"name": "Alpaca", "venue": "alpaca", "sandbox": True, "api_key": fake.key_id, "secret": fake.secret_key,
            "options": {"base_url": fake.url}, **changes}


def credential_of(database: Database, account_id: int) -> BrokerCredential | None:
    with database.session() as session:
        return session.get(BrokerCredential, account_id)


def owned_accounts(database: Database, name: str) -> int:
    with database.session() as session:
        user = service.ensure_user(session, name)
        return session.scalar(select(func.count()).select_from(TradingAccount)
                              .where(TradingAccount.owner_id == user.id)) or 0


def test_connecting_binance_testnet_and_alpaca_paper_checks_the_keys_at_the_venue(
        client: TestClient, database: Database, settings: Settings, binance: FakeBinanceTrading,
        alpaca: FakeAlpaca) -> None:
    _, me = trader(database)
    on_binance = ok(client.post("/api/accounts/live", headers=me, json=binance_body(binance)), 201)
    assert (on_binance["kind"], on_binance["broker"], on_binance["currency"]) == ("live", "ccxt", "USD")
    assert [request.api_key for request in binance.trading_requests] == [binance.api_key]  # one signed balance read
    on_alpaca = ok(client.post("/api/accounts/live", headers=me, json=alpaca_body(alpaca)), 201)
    assert (on_alpaca["kind"], on_alpaca["broker"], on_alpaca["currency"]) == ("live", "alpaca", "USD")
    assert [(request.method, request.path) for request in alpaca.requests] == [("GET", "/v2/account")]

    broker = ok(client.get(f"/api/accounts/{on_binance['id']}/broker", headers=me))
    assert broker["venue"] == "binance" and broker["sandbox"] is True and broker["connected"] is True
    assert broker["live"] is False and broker["rotated_at"] is None and broker["connected_at"]
    assert ok(client.get(f"/api/accounts/{on_alpaca['id']}/broker", headers=me))["venue"] == "alpaca"
    listed = ok(client.get("/api/accounts", headers=me))
    assert [account["id"] for account in listed] == [on_binance["id"], on_alpaca["id"]]
    # The stored keys are the ones given, and log in as the dispatcher will.
    stored = credential_of(database, on_alpaca["id"])
    assert stored is not None
    keys = load_credentials(cipher_for(settings), stored)
    assert (keys.api_key, keys.secret, dict(keys.options or {})) == (alpaca.key_id, alpaca.secret_key,
                                                                     {"base_url": alpaca.url})


def test_a_venue_slow_to_check_the_keys_holds_up_no_other_writer(client: TestClient, database: Database,
                                                                   alpaca: FakeAlpaca) -> None:
    """While the venue takes its time over the keys, the trader's other writes go through: on SQLite a transaction
    held across the check would keep the one write lock, and every writer of the installation would wait for it."""
    _, me = trader(database)
    release = alpaca.hold("/v2/account")
    with ThreadPoolExecutor(1) as background:
        try:
            opening = background.submit(client.post, "/api/accounts/live", headers=me, json=alpaca_body(alpaca))
            deadline = time.monotonic() + 30
            while not alpaca.requests and not opening.done() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert alpaca.requests and not opening.done(), "the keys never reached the venue"
            paper = ok(client.post("/api/accounts", headers=me, json={"name": "Practice"}), 201)
            written_while_checking = not opening.done()
        finally:
            release.set()
        live = ok(opening.result(), 201)
    assert written_while_checking
    assert (paper["kind"], live["kind"], live["broker"]) == ("paper", "live", "alpaca")


def test_wrong_keys_are_refused_and_nothing_is_stored(client: TestClient, database: Database,
                                                       binance: FakeBinanceTrading, alpaca: FakeAlpaca) -> None:
    name, me = trader(database)
    refused = problem(client.post("/api/accounts/live", headers=me, json=binance_body(binance, secret="wrong")),
                      422, "The venue refused these keys")
    assert "Invalid API-key" in refused["detail"] or "-2022" in refused["detail"] or "ignature" in refused["detail"]
    problem(client.post("/api/accounts/live", headers=me, json=binance_body(binance, api_key="not-mine")), 422,
            "The venue refused these keys")
    problem(client.post("/api/accounts/live", headers=me, json=alpaca_body(alpaca, secret="wrong")), 422,
            "The venue refused these keys: Alpaca refused the API key")
    problem(client.post("/api/accounts/live", headers=me, json={**binance_body(binance), "venue": "nasdaq"}), 422,
            "neither 'alpaca' nor an exchange id")
    problem(client.post("/api/accounts/live", headers=me, json=binance_body(binance, options={"proxy": "x"})), 422,
            "Unknown broker options proxy")
    # The venue out of reach: 503 saying the keys were neither checked nor saved.
    closed = {**binance_options(binance), "urls": {"api": {"public": CLOSED, "private": CLOSED}}}
    unreachable = client.post("/api/accounts/live", headers=me, json=binance_body(binance, options=closed))
    problem(unreachable, 503, "they were not saved")
    assert int(unreachable.headers["Retry-After"]) > 0
    assert owned_accounts(database, name) == 0
    with database.session() as session:
        actions = [entry.action for entry in audit.entries(session, actor=name)]
    assert [action for action in actions if action.startswith("trading")] == []
    # Unchecked (verify false) is the trader's choice: saved as given.
    saved = ok(client.post("/api/accounts/live", headers=me, json=binance_body(binance, options=closed,
                                                                                 verify=False)), 201)
    assert credential_of(database, saved["id"]) is not None and owned_accounts(database, name) == 1


def test_endpoint_options_need_the_operators_consent(database: Database, tmp_path: Path,
                                                     binance: FakeBinanceTrading) -> None:
    _, me = trader(database)
    with api(settings_for(database, tmp_path)) as locked_down:
        problem(locked_down.post("/api/accounts/live", headers=me, json=binance_body(binance)), 422,
                "does not let traders choose")
        problem(locked_down.post("/api/accounts/live", headers=me,
                                 json=binance_body(binance, options={"market_type": "margin"})), 422, "market_type")
    assert binance.trading_requests == []


def test_keys_are_encrypted_and_no_answer_or_audit_entry_contains_them(
        client: TestClient, database: Database, settings: Settings, binance: FakeBinanceTrading) -> None:
    name, me = trader(database)
    _, admin = trader(database, "admin", roles=["user", "admin"])
    created = client.post("/api/accounts/live", headers=me, json=binance_body(binance))
    account_id = ok(created, 201)["id"]
    stored = credential_of(database, account_id)
    assert stored is not None
    for plaintext in (binance.api_key, binance.secret):
        assert plaintext not in stored.ciphertext
    assert load_credentials(cipher_for(settings), stored).secret == binance.secret
    rotated = client.put(f"/api/accounts/{account_id}/broker", headers=me,
                         json={"api_key": binance.api_key, "secret": binance.secret})
    answers = [created, rotated, client.get(f"/api/accounts/{account_id}", headers=me),
               client.get(f"/api/accounts/{account_id}/broker", headers=me), client.get("/api/accounts", headers=me),
               client.get("/api/audit", headers=admin, params={"subject": f"trading_account:{account_id}"}),
               client.get("/api/audit", headers=admin, params={"actor": name})]
    assert all(answer.status_code == 200 or answer is created for answer in answers), [a.text for a in answers]
    entries = answers[-1].json()
    assert {entry["action"] for entry in entries} >= {"trading_account.opened", "trading.credentials_stored",
                                                      "trading_account.broker_connected"}
    for answer in answers:
        for plaintext in (binance.api_key, binance.secret):
            assert plaintext not in answer.text
    broker_text = answers[3].text
    assert binance.api_key[:8] not in broker_text and binance.secret[:8] not in broker_text  # not even a prefix
    assert set(answers[3].json()) == {"account_id", "broker", "venue", "sandbox", "connected", "connected_at",
                                      "rotated_at", "live"}


def test_rotation_replaces_the_keys(client: TestClient, database: Database, settings: Settings,
                                    binance: FakeBinanceTrading) -> None:
    name, me = trader(database)
    account_id = ok(client.post("/api/accounts/live", headers=me, json=binance_body(binance)), 201)["id"]
    old_key, old_secret = binance.api_key, binance.secret
    binance.api_key, binance.secret = f"bnk-{secrets.token_hex(12)}", f"bns-{secrets.token_hex(16)}"  # reissued
    # The old keys are refused by the venue now; the stored ones stay until new ones work.
    problem(client.put(f"/api/accounts/{account_id}/broker", headers=me,
                       json={"api_key": old_key, "secret": old_secret}), 422, "The venue refused these keys")
    stored = credential_of(database, account_id)
    assert stored is not None and stored.rotated_at is None
    # Options omitted: the stored endpoints stay (the keys are checked through them).
    broker = ok(client.put(f"/api/accounts/{account_id}/broker", headers=me,
                           json={"api_key": binance.api_key, "secret": binance.secret}))
    assert broker["rotated_at"] is not None and broker["venue"] == "binance" and broker["sandbox"] is True
    stored = credential_of(database, account_id)
    assert stored is not None
    keys = load_credentials(cipher_for(settings), stored)
    assert (keys.api_key, keys.secret) == (binance.api_key, binance.secret)
    assert dict(keys.options or {})["urls"] == binance.urls()
    # A paper account has no broker keys to replace.
    with database.session() as session:
        paper = accounts.open_paper_account(session, service.ensure_user(session, name),
                                            name="paper", starting_cash=Money.of("1000", "USD"))
        paper_id = paper.id
    assert ok(client.get(f"/api/accounts/{paper_id}/broker", headers=me))["connected"] is False
    problem(client.put(f"/api/accounts/{paper_id}/broker", headers=me,
                       json={"api_key": binance.api_key, "secret": binance.secret}), 409, "has no broker keys")


def test_only_the_owner_sees_the_broker_and_connects_keys(client: TestClient, database: Database,
                                                          binance: FakeBinanceTrading) -> None:
    _, me = trader(database)
    _, other = trader(database, "other")
    _, admin = trader(database, "admin", roles=["user", "admin"])
    account_id = ok(client.post("/api/accounts/live", headers=me, json=binance_body(binance)), 201)["id"]
    keys = {"api_key": binance.api_key, "secret": binance.secret}
    problem(client.get(f"/api/accounts/{account_id}/broker", headers=other), 404)
    problem(client.put(f"/api/accounts/{account_id}/broker", headers=other, json=keys), 404)
    problem(client.put(f"/api/accounts/{account_id}/broker", headers=admin, json=keys), 403, "Only the owner")
    problem(client.get(f"/api/accounts/{account_id}/broker"), 404)  # signed out: no account of yours either


def test_live_accounts_count_against_the_account_limit(client: TestClient, database: Database,
                                                       binance: FakeBinanceTrading) -> None:
    name, me = trader(database)
    with database.session() as session:
        user = service.ensure_user(session, name)
        for number in range(accounts.MAX_OPEN_ACCOUNTS - 1):
            accounts.open_paper_account(session, user, name=f"p{number}", starting_cash=Money.of("1", "USD"))
    ok(client.post("/api/accounts/live", headers=me, json=binance_body(binance)), 201)
    problem(client.post("/api/accounts/live", headers=me, json=binance_body(binance)), 409, "open trading accounts")
    assert owned_accounts(database, name) == accounts.MAX_OPEN_ACCOUNTS


def test_a_live_hooks_order_reaches_the_venue_and_a_paper_hook_never_does(
        client: TestClient, database: Database, settings: Settings, binance: FakeBinanceTrading) -> None:
    """End to end on a real-money account (Binance's live API, here the fake): connect, hook, alert, dispatch."""
    _, me = trader(database)
    account = ok(client.post("/api/accounts/live", headers=me, json=binance_body(binance, sandbox=False)), 201)
    account_id = account["id"]
    assert ok(client.get(f"/api/accounts/{account_id}/broker", headers=me))["live"] is True
    alert = {"ticker": "BINANCE:BTCUSDT", "contracts": "0.01", "price": "30000"}

    paper_hook = ok(client.post(f"/api/accounts/{account_id}/hooks", headers=me,
                                json={"name": "paper", "live": False}), 201)
    refused = client.post(f"/api/hooks/{paper_hook['id']}", content=tradingview_body(paper_hook["secret"], **alert))
    body = problem(refused, 403, "paper hooks never place live orders")
    assert body["limit"] == "paper_only"

    live_hook = ok(client.post(f"/api/accounts/{account_id}/hooks", headers=me,
                               json={"name": "live", "live": True}), 201)
    accepted = ok(client.post(f"/api/hooks/{live_hook['id']}", content=tradingview_body(live_hook["secret"], **alert)))
    assert accepted["decision"] == "accepted"
    assert binance.orders_placed() == 0  # written to the outbox, not sent yet
    drain(Dispatcher(database, settings))
    assert binance.orders_placed() == 1
    journal = ok(client.get(f"/api/accounts/{account_id}/orders", headers=me))["items"]
    assert [(order["id"], order["state"], order["symbol"]) for order in journal] == [
        (accepted["order_id"], "filled", "BTC/USDT")]
    assert journal[0]["broker_order_id"]
    placed = [request for request in binance.trading_requests if request.method == "POST"]
    assert [request.api_key for request in placed] == [binance.api_key]
    assert json.dumps(journal).find(binance.secret) == -1

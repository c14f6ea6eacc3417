"""Demo accounts as a browser uses them (HTTP, cookies) and as the scheduled jobs see them, on every backend.

A "browser" is a ``TestClient``: it keeps the cookies it is given, like a real one, so the demo's cookie opens
the demo for it and for no one else. Another browser is a second client of the same app. Signed-in traders use
API keys. The app's clock is the frozen test clock, so expiry, read-only periods and cleanup are stepped
through day by day. Data written through the API is committed to the session's database, so every test uses
fresh names, and the jobs' results are checked for this test's accounts only (other tests' demos are there
too). Orders, fills and hooks are written straight through the models: this suite is about the account they
belong to, not about how orders are placed.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alphabook.accounts import service as users
from alphabook.accounts.models import User
from alphabook.api.main import create_app
from alphabook.api.trading_deps import DEMO_COOKIE
from alphabook.core import audit, clock, migrations
from alphabook.core.clock import FrozenClock, utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Base, Database
from alphabook.core.errors import Conflict, NotFound
from alphabook.core.money import Money
from alphabook.trading import accounts, watchlists
from alphabook.trading.models import AccountStatus, Alert, Hook, Order, OrderFill, OutboxMessage, TradingAccount
from alphabook.trading.paper_book import PaperAccount, PaperPosition
from alphabook.trading.watchlists import SavedStrategy, Watchlist
from tests.integration.databases import rolled_back_session
from tests.integration.market import API, key_for, make_listing, ok, problem

DAY = timedelta(days=1)
#: Foreign keys into an account's rows that neither cascade nor set null, on purpose: only a signed-in trader's
#: own account can be a copy-trading provider or follower, and a demo never is (its rows could not be deleted).
NEVER_A_DEMO = {"copy_providers.account_id", "copy_subscriptions.account_id"}


def new_address() -> str:
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2]}"


def browser(app: FastAPI) -> TestClient:
    """Another browser on the same, already running, app: its own cookies and address."""
    return TestClient(app, client=(new_address(), 50000))


def settings_for(database: Database, tmp_path: Path, **changes: Any) -> Settings:
    return Settings(home=tmp_path, database_url=database.url, **changes)


@pytest.fixture
def app(database: Database, tmp_path: Path) -> Iterator[FastAPI]:
    application = create_app(settings_for(database, tmp_path), prefix="/services/api/")
    with TestClient(application):  # runs the lifespan once; browsers share the app
        yield application


def set_cookie(reply: Response) -> SimpleCookie:
    cookie = SimpleCookie()
    for header in reply.headers.get_list("set-cookie"):
        cookie.load(header)
    return cookie


def open_demo(client: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = ok(client.post(f"{API}/demo"), 201)
    return body


def write_trading_rows(session: Session, account_id: int) -> None:
    """An order with a fill and its outbox message, a hook with an alert, and the paper broker's cash and a
    position: what a trader builds up."""
    now = utcnow()
    session.add(PaperAccount(account_id=account_id, currency="USD", cash=Decimal("98127.5"), created_at=now,
                             updated_at=now))
    session.flush()
    session.add(PaperPosition(account_id=account_id, symbol="AAPL", quantity=Decimal("10"),
                              average_price=Decimal("187.25"), updated_at=now))
    hook = Hook(id=secrets.token_hex(16), account_id=account_id, name="tv", format="tradingview", live=False,
                secret_ciphertext="not-a-real-ciphertext", allowed_ips=[], limits={}, kill_switch=False,
                created_at=now, updated_at=now)
    order = Order(account_id=account_id, client_order_id=str(uuid.uuid4()), source="hook", hook_id=hook.id,
                  symbol="AAPL", side="buy", type="market", time_in_force="gtc", quantity=Decimal("10"),
                  state="filled", filled_quantity=Decimal("10"), average_price=Decimal("187.25"), created_at=now,
                  updated_at=now)
    order.fills.append(OrderFill(fill_id="f1", quantity=Decimal("10"), price=Decimal("187.25"),
                                 fee=Decimal("0.5"), fee_currency="USD", at=now))
    session.add_all([hook, order])
    session.flush()
    session.add(OutboxMessage(order_id=order.id, action="place", payload={}, status="done", attempts=1,
                              next_attempt_at=now, created_at=now, updated_at=now))
    session.add(Alert(hook_id=hook.id, dedupe_key="a1", received_at=now, body={"ticker": "AAPL"},
                      decision="accepted", order_id=order.id))
    session.flush()


# --- opening a demo ---------------------------------------------------------------------------------------


def test_a_demo_opens_in_one_click_with_100k_for_30_days_and_a_locked_down_cookie(
        database: Database, tmp_path: Path, frozen_now: FrozenClock) -> None:
    settings = settings_for(database, tmp_path, public_url="https://alphabook.example")
    with TestClient(create_app(settings, prefix="/services/api/"), base_url="https://testserver",
                    client=(new_address(), 50000)) as client:
        reply = client.post(f"{API}/demo")
        body = ok(reply, 201)
        assert body["kind"] == "demo" and body["status"] == "active" and body["broker"] == "paper"
        assert body["starting_cash"] == {"amount_minor": 10_000_000, "currency": "USD", "display": "100000.00 USD"}
        assert body["days_left"] == 30
        assert datetime.fromisoformat(body["expires_at"]) == utcnow() + 30 * DAY
        assert datetime.fromisoformat(body["deleted_after"]) == utcnow() + 60 * DAY
        assert "token" not in str(body).lower() and body["email"] is None

        morsel = set_cookie(reply)[DEMO_COOKIE]
        assert morsel["httponly"] and morsel["secure"] and morsel["samesite"].lower() == "lax"
        assert morsel["path"] == "/" and int(morsel["max-age"]) == 60 * 24 * 3600  # until it may be deleted
        token = morsel.value
        assert len(token) >= 43  # 32 random bytes, base64url

        assert ok(client.get(f"{API}/demo"))["id"] == body["id"]  # the browser sends it back
    with database.session() as session:
        account = session.get(TradingAccount, body["id"])
        assert account is not None and account.owner_id is None
        assert account.demo_token_hash == hashlib.sha256(token.encode()).hexdigest() != token
        [entry] = audit.entries(session, subject=f"trading_account:{account.id}")
        assert (entry.actor, entry.action) == (f"demo:{account.id}", "trading_account.demo_opened")
        assert entry.data["starting_cash_minor"] == 10_000_000


def test_the_cookie_is_secure_unless_the_site_is_plain_http_on_this_machine(tmp_path: Path) -> None:
    assert not Settings(home=tmp_path).demo_cookie_is_secure  # http://127.0.0.1:8000, the zero-config default
    assert not Settings(home=tmp_path, public_url="http://localhost:8000/").demo_cookie_is_secure
    assert Settings(home=tmp_path, public_url="https://trade.example.org").demo_cookie_is_secure
    assert Settings(home=tmp_path, public_url="http://192.168.1.20:8000").demo_cookie_is_secure
    assert Settings(home=tmp_path, demo_cookie_secure=True).demo_cookie_is_secure
    assert not Settings(home=tmp_path, public_url="https://x.example", demo_cookie_secure=False).demo_cookie_is_secure


def test_configured_cash_currency_and_validity(database: Database, tmp_path: Path, frozen_now: FrozenClock) -> None:
    settings = settings_for(database, tmp_path, demo_starting_cash_minor=500_000_000, demo_currency="jpy",
                            demo_days=7, demo_read_only_days=3)
    with TestClient(create_app(settings), client=(new_address(), 50000)) as client:
        reply = client.post("/api/demo")
        body = ok(reply, 201)
    assert body["starting_cash"]["display"] == "500000000 JPY" and body["days_left"] == 7
    assert int(set_cookie(reply)[DEMO_COOKIE]["max-age"]) == 10 * 24 * 3600
    assert not set_cookie(reply)[DEMO_COOKIE]["secure"]


def test_the_cookie_opens_its_demo_and_no_other(app: FastAPI, database: Database) -> None:
    alice, bob, stranger = browser(app), browser(app), browser(app)
    mine, theirs = open_demo(alice), open_demo(bob)
    assert mine["id"] != theirs["id"]
    assert ok(alice.get(f"{API}/accounts/{mine['id']}"))["id"] == mine["id"]
    assert ok(alice.get(f"{API}/demo"))["id"] == mine["id"] and ok(bob.get(f"{API}/demo"))["id"] == theirs["id"]
    problem(alice.get(f"{API}/accounts/{theirs['id']}"), 404, "No trading account")
    problem(alice.post(f"{API}/accounts/{theirs['id']}/watchlists", json={"name": "x"}), 404, "No trading account")
    problem(stranger.get(f"{API}/accounts/{mine['id']}"), 404)
    problem(stranger.get(f"{API}/demo"), 404, "holds no demo")
    stranger.cookies.set(DEMO_COOKIE, "forged-" + secrets.token_urlsafe(32))
    problem(stranger.get(f"{API}/demo"), 404)
    problem(stranger.get(f"{API}/accounts/{mine['id']}"), 404)
    # Clicking again in the same browser brings back its demo rather than opening another one.
    again = alice.post(f"{API}/demo")
    assert again.status_code == 200 and again.json()["id"] == mine["id"]
    # A signed-in trader who is not the owner does not see it either.
    problem(browser(app).get(f"{API}/accounts/{mine['id']}", headers=key_for(database, f"nosy{uuid.uuid4().hex[:8]}")),
            404)


# --- renewal, expiry, read-only -----------------------------------------------------------------------------


def test_renewing_keeps_the_demo_another_30_days_from_today(app: FastAPI, database: Database,
                                                            frozen_now: FrozenClock) -> None:
    client = browser(app)
    demo = open_demo(client)
    frozen_now.advance(20 * DAY)
    assert ok(client.get(f"{API}/demo"))["days_left"] == 10
    body = problem(client.post(f"{API}/demo/renew", json={"email": "not an email"}), 422, "email")
    assert [error["field"] for error in body["errors"]] == ["email"]
    reply = client.post(f"{API}/demo/renew", json={"email": "  Trader@Example.ORG "})
    renewed = ok(reply)
    assert renewed["id"] == demo["id"] and renewed["days_left"] == 30 and renewed["email"] == "Trader@example.org"
    assert datetime.fromisoformat(renewed["expires_at"]) == utcnow() + 30 * DAY
    assert int(set_cookie(reply)[DEMO_COOKIE]["max-age"]) == 60 * 24 * 3600  # the browser keeps it longer too
    with database.session() as session:
        entries = audit.entries(session, subject=f"trading_account:{demo['id']}", action="trading_account.demo_renewed")
        assert [entry.data["was"] for entry in entries] == ["active"]
        assert "Trader" not in str(entries[0].data)  # the email stays out of the append-only log


def test_an_expired_demo_is_read_only_until_renewed(app: FastAPI, database: Database,
                                                    frozen_now: FrozenClock) -> None:
    client = browser(app)
    demo = open_demo(client)
    url = f"{API}/accounts/{demo['id']}"
    watchlist = ok(client.post(f"{url}/watchlists", json={"name": "tech", "symbols": ["aapl", "MSFT"]}), 201)
    frozen_now.advance(30 * DAY)  # the moment it expires, before any job has run
    seen = ok(client.get(url))
    assert seen["status"] == "read_only" and seen["days_left"] == 0
    assert ok(client.get(f"{url}/watchlists"))[0]["symbols"] == ["AAPL", "MSFT"]  # reads are fine
    problem(client.post(f"{url}/watchlists", json={"name": "more"}), 409, "read-only")
    problem(client.patch(f"{url}/watchlists/{watchlist['id']}", json={"symbols": []}), 409, "renew it")
    problem(client.delete(f"{url}/watchlists/{watchlist['id']}"), 409, "read-only")
    problem(client.post(f"{url}/strategies", json={"name": "n", "kind": "notebook", "path": "a.ipynb"}), 409)

    with database.session() as session:  # the job writes down what the clock decided
        assert demo["id"] in accounts.expire_demos(session, utcnow())
        assert demo["id"] not in accounts.expire_demos(session, utcnow())
        account = session.get(TradingAccount, demo["id"])
        assert account is not None and account.status == AccountStatus.READ_ONLY
    problem(client.post(f"{url}/watchlists", json={"name": "more"}), 409, "read-only")

    frozen_now.advance(29 * DAY)  # a day before the cleanup may take it
    renewed = ok(client.post(f"{API}/demo/renew", json={"email": "back@example.org"}))
    assert renewed["status"] == "active" and renewed["days_left"] == 30
    ok(client.post(f"{url}/watchlists", json={"name": "more"}), 201)
    with database.session() as session:
        actions = [entry.action for entry in audit.entries(session, subject=f"trading_account:{demo['id']}")]
        assert actions[:1] + actions[-3:] == ["trading_account.demo_opened", "trading_account.demo_expired",
                                              "trading_account.demo_renewed", "watchlist.created"]
        [renewal] = audit.entries(session, subject=f"trading_account:{demo['id']}",
                                  action="trading_account.demo_renewed")
        assert renewal.data["was"] == "read_only"


# --- upgrade ----------------------------------------------------------------------------------------------


def test_upgrading_keeps_everything_and_retires_the_cookie(app: FastAPI, database: Database) -> None:
    client = browser(app)
    demo = open_demo(client)
    token = client.cookies[DEMO_COOKIE]
    url = f"{API}/accounts/{demo['id']}"
    ok(client.post(f"{url}/watchlists", json={"name": "crypto", "symbols": ["BTC/USDT", "ETH/USDT"]}), 201)
    ok(client.post(f"{url}/strategies", json={"name": "momentum", "kind": "notebook",
                                              "path": "research/momentum.ipynb", "params": {"lookback": 20}}), 201)
    with database.session() as session:
        write_trading_rows(session, demo["id"])
        before = accounts.rows_by_account(session, [demo["id"]])[demo["id"]]
    assert {"orders", "order_fills", "outbox", "hooks", "alerts", "paper_accounts", "paper_positions", "watchlists",
            "saved_strategies"} <= set(before)

    problem(client.post(f"{API}/demo/upgrade"), 401)  # an upgrade needs someone to give it to
    name = f"upgrader{uuid.uuid4().hex[:8]}"
    me = key_for(database, name)
    reply = client.post(f"{API}/demo/upgrade", headers=me)
    upgraded = ok(reply)
    assert upgraded["id"] == demo["id"] and upgraded["kind"] == "paper" and upgraded["status"] == "active"
    assert upgraded["expires_at"] is None and upgraded["days_left"] is None and upgraded["deleted_after"] is None
    assert upgraded["starting_cash"] == demo["starting_cash"]
    cleared = set_cookie(reply)[DEMO_COOKIE]
    assert cleared.value in ("", '""') and int(cleared["max-age"]) == 0
    assert DEMO_COOKIE not in client.cookies

    with database.session() as session:
        assert accounts.rows_by_account(session, [demo["id"]])[demo["id"]] == before  # not a row moved or lost
        account = session.get(TradingAccount, demo["id"])
        assert account is not None and account.demo_token_hash is None and account.demo_email is None
        owner = session.scalar(select(User).where(User.name == name))
        assert owner is not None and account.owner_id == owner.id
        assert session.scalar(select(func.count()).select_from(Order).where(Order.account_id == demo["id"])) == 1
        position = session.get(PaperPosition, (demo["id"], "AAPL"))
        assert position is not None and position.quantity == Decimal("10")
        [entry] = audit.entries(session, subject=f"trading_account:{demo['id']}",
                                action="trading_account.demo_upgraded")
        assert entry.actor == name and entry.data["was"] == "active"

    listed = ok(client.get(f"{API}/accounts", headers=me))
    assert [account["id"] for account in listed] == [demo["id"]]
    assert ok(client.get(f"{url}/watchlists", headers=me))[0]["symbols"] == ["BTC/USDT", "ETH/USDT"]
    assert ok(client.get(f"{url}/strategies", headers=me))[0]["params"] == {"lookback": 20}

    old = browser(app)  # someone still holding the old cookie: it opens nothing any more
    old.cookies.set(DEMO_COOKIE, token)
    problem(old.get(f"{API}/demo"), 404)
    problem(old.get(url), 404)
    problem(old.post(f"{API}/demo/upgrade", headers=key_for(database, f"thief{uuid.uuid4().hex[:8]}")), 404)


def test_an_expired_demo_can_still_be_upgraded(app: FastAPI, database: Database, tmp_path: Path,
                                               frozen_now: FrozenClock) -> None:
    client = browser(app)
    demo = open_demo(client)
    frozen_now.advance(45 * DAY)
    upgraded = ok(client.post(f"{API}/demo/upgrade", headers=key_for(database, f"late{uuid.uuid4().hex[:8]}")))
    assert upgraded["status"] == "active" and upgraded["kind"] == "paper" and upgraded["id"] == demo["id"]
    # The jobs leave a trader's account alone however old it is (checked in a transaction that is rolled back).
    with rolled_back_session(database) as session:
        assert demo["id"] not in accounts.expire_demos(session, utcnow() + 365 * DAY)
        accounts.cleanup_demos(session, settings_for(database, tmp_path), utcnow() + 365 * DAY,
                               after_id=demo["id"] - 1)
        assert session.get(TradingAccount, demo["id"]) is not None


def test_two_upgrades_of_one_demo_at_once_give_it_to_one_trader(database: Database, tmp_path: Path) -> None:
    settings = settings_for(database, tmp_path)
    tag = uuid.uuid4().hex[:8]
    with database.session() as session:
        account, token = accounts.open_demo(session, settings)
        rivals = [users.ensure_user(session, f"rival{n}-{tag}") for n in range(2)]
        account_id = account.id
    threads_db = Database(database.url, pool_size=4, max_overflow=0)
    barrier = threading.Barrier(2, timeout=30)

    def attempt(n: int) -> str:
        barrier.wait()
        try:
            with threads_db.session() as session:
                found = accounts.find_demo(session, token)
                if found is None:
                    raise NotFound("upgraded already")
                rival = session.get(User, rivals[n].id)
                assert rival is not None
                accounts.upgrade(session, found, rival)
            return "won"
        except (Conflict, NotFound) as exc:
            return type(exc).__name__

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(attempt, range(2)))
    finally:
        threads_db.dispose()
    assert results.count("won") == 1, results
    with database.session() as session:
        account = session.get(TradingAccount, account_id)
        assert account is not None and account.owner_id == rivals[results.index("won")].id
        assert len(audit.entries(session, subject=f"trading_account:{account_id}",
                                 action="trading_account.demo_upgraded")) == 1


# --- expiry and cleanup -----------------------------------------------------------------------------------


def test_cleanup_deletes_a_demo_with_every_row_it_owns(session: Session, database: Database, tmp_path: Path,
                                                       frozen_now: FrozenClock) -> None:
    settings = settings_for(database, tmp_path)
    demo, _ = accounts.open_demo(session, settings)
    renewed, _ = accounts.open_demo(session, settings)
    write_trading_rows(session, demo.id)
    watchlists.create_watchlist(session, demo, name="w", symbols=["SPY"], actor="t")
    watchlists.save_strategy(session, demo, name="s", kind="notebook", path="s.ipynb", actor="t")
    demo_id = demo.id

    frozen_now.advance(30 * DAY)
    expired = accounts.expire_demos(session, utcnow())
    assert {demo_id, renewed.id} <= set(expired)
    frozen_now.advance(29 * DAY)
    accounts.renew(session, settings, renewed, "keeper@example.org")
    accounts.cleanup_demos(session, settings, utcnow(), after_id=demo_id - 1)  # a day early: nothing goes
    assert session.get(TradingAccount, demo_id) is not None

    frozen_now.advance(DAY)  # 30 days read-only: now it goes
    result = accounts.cleanup_demos(session, settings, utcnow(), after_id=demo_id - 1)
    assert result.accounts >= 1 and demo_id not in result.kept
    assert session.get(TradingAccount, demo_id) is None
    assert session.get(TradingAccount, renewed.id) is not None
    for model in (Order, Hook, PaperAccount, PaperPosition, Watchlist, SavedStrategy):
        assert session.scalar(select(func.count()).select_from(model).where(model.account_id == demo_id)) == 0
    assert session.scalar(select(func.count()).select_from(OrderFill).join(Order)
                          .where(Order.account_id == demo_id)) == 0
    assert accounts.rows_by_account(session, [demo_id]) == {}
    [deleted] = audit.entries(session, subject=f"trading_account:{demo_id}", action="trading_account.demo_deleted")
    assert deleted.actor == "demo-job" and deleted.data["rows"] == {
        "trading_accounts": 1, "orders": 1, "order_fills": 1, "outbox": 1, "hooks": 1, "alerts": 1,
        "paper_accounts": 1, "paper_positions": 1, "watchlists": 1, "saved_strategies": 1}
    actions = [entry.action for entry in audit.entries(session, subject=f"trading_account:{demo_id}")]
    assert actions == ["trading_account.demo_opened", "watchlist.created", "saved_strategy.created",
                       "trading_account.demo_expired", "trading_account.demo_deleted"]
    for table, count in deleted.data["rows"].items():
        assert result.rows[table] >= count


def test_the_cleanup_reaches_demos_the_expiry_job_never_saw(session: Session, database: Database, tmp_path: Path,
                                                            frozen_now: FrozenClock) -> None:
    settings = settings_for(database, tmp_path, demo_read_only_days=0)
    demo, _ = accounts.open_demo(session, settings)
    frozen_now.advance(30 * DAY)
    accounts.cleanup_demos(session, settings, utcnow(), after_id=demo.id - 1)
    assert session.get(TradingAccount, demo.id) is None


def test_every_table_that_points_at_an_account_says_what_happens_when_a_demo_goes() -> None:
    """Deleting a demo must not be blocked: every foreign key into an account or a row that is deleted with it
    cascades (the row goes too) or sets null (the row stays, e.g. another account's copy of an order)."""
    doomed = {"trading_accounts", *accounts.cascade_paths()}
    blocking = sorted(f"{table.name}.{key.parent.name} -> {key.column.table.name}"
                      for table in Base.metadata.tables.values() for key in table.foreign_keys
                      if key.column.table.name in doomed and (key.ondelete or "").upper() not in {"CASCADE", "SET NULL"}
                      and f"{table.name}.{key.parent.name}" not in NEVER_A_DEMO)
    assert blocking == [], f"add ondelete='CASCADE' or 'SET NULL' to {blocking}"
    assert {"orders", "order_fills", "outbox", "hooks", "alerts", "paper_accounts", "paper_positions", "paper_orders",
            "watchlists", "saved_strategies", "broker_credentials"} <= set(doomed)


def test_a_demo_that_cannot_be_deleted_is_kept_and_the_rest_go(session: Session, database: Database,
                                                                tmp_path: Path, frozen_now: FrozenClock) -> None:
    """If something without a cascade still points at a demo, that demo stays (logged) and the batch goes on."""
    from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table

    settings = settings_for(database, tmp_path)
    stuck, _ = accounts.open_demo(session, settings)
    gone, _ = accounts.open_demo(session, settings)
    pins = Table(f"pins_{uuid.uuid4().hex[:8]}", MetaData(), Column("id", Integer, primary_key=True),
                 Column("account_id", Integer, ForeignKey(TradingAccount.__table__.c.id), nullable=False))
    pins.create(session.connection())
    session.execute(pins.insert().values(account_id=stuck.id))
    frozen_now.advance(61 * DAY)
    result = accounts.cleanup_demos(session, settings, utcnow(), after_id=stuck.id - 1, limit=2)
    assert result.kept == (stuck.id,) and result.examined == 2 and result.last_id == gone.id
    assert session.get(TradingAccount, stuck.id) is not None and session.get(TradingAccount, gone.id) is None


# --- rate limit ---------------------------------------------------------------------------------------------


def test_one_address_cannot_mint_demos_by_the_thousand(database: Database, tmp_path: Path) -> None:
    settings = settings_for(database, tmp_path, rate_limit_demo="3/minute;100/day")
    address = new_address()
    with TestClient(create_app(settings), client=(address, 50000)) as client:
        for _ in range(3):
            client.cookies.clear()  # a script that drops the cookie each time
            ok(client.post("/api/demo"), 201)
        client.cookies.clear()
        refused = client.post("/api/demo")
        problem(refused, 429, "Too many demo accounts")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        elsewhere = TestClient(client.app, client=(new_address(), 50000))
        ok(elsewhere.post("/api/demo"), 201)  # the limit is per address
        ok(elsewhere.post("/api/demo"), 200)  # and bringing the same cookie back is not a new demo


# --- a trader's own accounts ------------------------------------------------------------------------------


def test_traders_open_paper_accounts_and_see_only_their_own(app: FastAPI, database: Database) -> None:
    client = browser(app)
    tag = uuid.uuid4().hex[:8]
    me, other = key_for(database, f"paper{tag}"), key_for(database, f"other{tag}")
    problem(client.get(f"{API}/accounts"), 401)
    default = ok(client.post(f"{API}/accounts", headers=me, json={}), 201)
    assert default["kind"] == "paper" and default["starting_cash"]["amount_minor"] == 10_000_000
    assert default["expires_at"] is None and default["name"] == "Paper account"
    euros = ok(client.post(f"{API}/accounts", headers=me,
                           json={"name": "  Euro   book ", "starting_cash": {"amount_minor": 2_500_000,
                                                                            "currency": "eur"}}), 201)
    assert euros["name"] == "Euro book" and euros["starting_cash"]["display"] == "25000.00 EUR"
    problem(client.post(f"{API}/accounts", headers=me, json={"starting_cash": {"amount_minor": 0}}), 422,
            "starting_cash")
    problem(client.post(f"{API}/accounts", headers=me, json={"starting_cash": {"amount_minor": 5, "currency": "XYZ"}}),
            422, "XYZ")
    assert [account["id"] for account in ok(client.get(f"{API}/accounts", headers=me))] == [default["id"], euros["id"]]
    assert ok(client.get(f"{API}/accounts", headers=other)) == []
    assert ok(client.get(f"{API}/accounts/{euros['id']}", headers=me))["currency"] == "EUR"
    problem(client.get(f"{API}/accounts/{euros['id']}", headers=other), 404)
    problem(client.post(f"{API}/accounts/{euros['id']}/watchlists", headers=other, json={"name": "x"}), 404)
    with database.session() as session:
        [entry] = audit.entries(session, subject=f"trading_account:{euros['id']}")
        assert (entry.actor, entry.action) == (f"paper{tag}", "trading_account.opened")


def test_a_trader_holds_a_bounded_number_of_open_accounts(session: Session) -> None:
    trader = users.ensure_user(session, f"hoarder{uuid.uuid4().hex[:8]}")
    for n in range(accounts.MAX_OPEN_ACCOUNTS):
        accounts.open_paper_account(session, trader, name=f"a{n}", starting_cash=Money.of(1000, "USD"))
    with pytest.raises(Conflict, match="close one first"):
        accounts.open_paper_account(session, trader, name="one more", starting_cash=Money.of(1000, "USD"))


def test_only_demos_renew_and_only_open_demos_upgrade(session: Session, database: Database, tmp_path: Path) -> None:
    settings = settings_for(database, tmp_path)
    trader = users.ensure_user(session, f"owner{uuid.uuid4().hex[:8]}")
    paper = accounts.open_paper_account(session, trader, name="p", starting_cash=Money.of(10, "USD"))
    with pytest.raises(Conflict, match="not a demo"):
        accounts.renew(session, settings, paper, "a@example.org")
    demo, _ = accounts.open_demo(session, settings)
    assert accounts.upgrade(session, demo, trader).owner_id == trader.id
    assert accounts.upgrade(session, demo, trader).owner_id == trader.id  # a double click changes nothing
    with pytest.raises(Conflict, match="already belongs"):
        accounts.upgrade(session, demo, users.ensure_user(session, f"late{uuid.uuid4().hex[:8]}"))
    assert len(audit.entries(session, subject=f"trading_account:{demo.id}",
                             action="trading_account.demo_upgraded")) == 1


# --- watchlists and saved strategies ------------------------------------------------------------------------


def test_watchlists_round_trip(app: FastAPI) -> None:
    client = browser(app)
    url = f"{API}/accounts/{open_demo(client)['id']}/watchlists"
    created = ok(client.post(url, json={"name": "Majors", "symbols": ["btc/usdt", " ETH/USDT", "BTC/USDT",
                                                                      "BINANCE:SOLUSDT"]}), 201)
    assert created["symbols"] == ["BTC/USDT", "ETH/USDT", "BINANCE:SOLUSDT"]
    problem(client.post(url, json={"name": "Majors"}), 409, "already has a watchlist named 'Majors'")
    problem(client.post(url, json={"name": "bad", "symbols": ["DROP TABLE;"]}), 422, "is not a symbol")
    problem(client.post(url, json={"name": "", "symbols": []}), 422, "name")
    second = ok(client.post(url, json={"name": "Stocks", "symbols": ["AAPL"]}), 201)
    problem(client.patch(f"{url}/{second['id']}", json={"name": "Majors"}), 409, "already has")
    patched = ok(client.patch(f"{url}/{second['id']}", json={"name": "US stocks", "symbols": ["aapl", "msft"]}))
    assert (patched["name"], patched["symbols"]) == ("US stocks", ["AAPL", "MSFT"])
    assert [row["name"] for row in ok(client.get(url))] == ["Majors", "US stocks"]
    assert ok(client.get(f"{url}/{created['id']}"))["name"] == "Majors"
    assert client.delete(f"{url}/{created['id']}").status_code == 204
    problem(client.get(f"{url}/{created['id']}"), 404, "no watchlist")
    other = browser(app)
    other_url = f"{API}/accounts/{open_demo(other)['id']}/watchlists"
    problem(other.get(f"{other_url}/{second['id']}"), 404)  # another account's watchlist id is not found


def test_saved_strategies_round_trip(app: FastAPI, database: Database) -> None:
    tag = uuid.uuid4().hex[:8]
    with database.session() as session:
        creator = users.ensure_user(session, f"maker{tag}", roles=["user", "creator"])
        slug = make_listing(session, creator, "trend", 0).slug
    client = browser(app)
    url = f"{API}/accounts/{open_demo(client)['id']}/strategies"
    listing = ok(client.post(url, json={"name": "Trend", "kind": "listing", "listing": slug, "version": "1.0.0",
                                        "params": {"length": 20}}), 201)
    assert (listing["listing"], listing["version"], listing["path"]) == (slug, "1.0.0", None)
    problem(client.post(url, json={"name": "x", "kind": "listing", "listing": slug, "version": "9.9.9"}), 422,
            "no published version 9.9.9")
    problem(client.post(url, json={"name": "x", "kind": "listing", "listing": f"nobody{tag}/none",
                                   "version": "1.0.0"}), 422, "There is no listing")
    problem(client.post(url, json={"name": "x", "kind": "listing", "path": "a.ipynb"}), 422, "needs 'listing'")
    problem(client.post(url, json={"name": "x", "kind": "notebook", "path": "../../etc/passwd.ipynb"}), 422,
            "not a notebook path")
    problem(client.post(url, json={"name": "x", "kind": "notebook", "path": "/home/x/a.ipynb"}), 422)
    problem(client.post(url, json={"name": "x", "kind": "macro"}), 422, "kind")
    problem(client.post(url, json={"name": "x", "kind": "notebook", "path": "a.ipynb",
                                   "params": {"blob": "x" * 20_000}}), 422, "16384")
    notebook = ok(client.post(url, json={"name": "Mine", "kind": "notebook", "path": "research/./mine.ipynb"}), 201)
    assert notebook["path"] == "research/mine.ipynb" and notebook["params"] == {}
    problem(client.patch(f"{url}/{notebook['id']}", json={"version": "1.0.0"}), 422, "Only a saved listing")
    moved = ok(client.patch(f"{url}/{notebook['id']}", json={"path": "mine2.ipynb", "params": {"k": 1}}))
    assert (moved["path"], moved["params"]) == ("mine2.ipynb", {"k": 1})
    problem(client.patch(f"{url}/{listing['id']}", json={"name": "Mine"}), 409, "already has a saved strategy")
    assert [row["name"] for row in ok(client.get(url))] == ["Trend", "Mine"]
    assert client.delete(f"{url}/{listing['id']}").status_code == 204
    assert [row["name"] for row in ok(client.get(url))] == ["Mine"]


# --- the scheduled jobs from the command line ----------------------------------------------------------------

ALPHABOOK = str(Path(sys.executable).parent / "alphabook")


def _run(args: list[str], home: Path, database_url: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ALPHABOOK_")}
    env |= {"ALPHABOOK_HOME": str(home), "ALPHABOOK_DATABASE_URL": database_url, "COLUMNS": "200", **extra}
    return subprocess.run([ALPHABOOK, *args], capture_output=True, text=True, env=env, cwd=home, timeout=120,
                          check=False)


def test_demo_expire_and_cleanup_commands(tmp_path: Path, fresh_database_url: str) -> None:
    migrations.upgrade(fresh_database_url)
    database = Database(fresh_database_url)
    settings = Settings(home=tmp_path, database_url=fresh_database_url)
    try:
        with clock.frozen(datetime.now(UTC) - 90 * DAY), database.session() as session:
            old, _ = accounts.open_demo(session, settings)  # expired 60 days ago: read-only time is over
            write_trading_rows(session, old.id)
        with clock.frozen(datetime.now(UTC) - 40 * DAY), database.session() as session:
            recent, _ = accounts.open_demo(session, settings)  # expired 10 days ago
        with database.session() as session:
            fresh, _ = accounts.open_demo(session, settings)

        expired = _run(["demo", "expire"], tmp_path, fresh_database_url)
        assert expired.returncode == 0, expired.stderr
        assert "2 demo accounts expired" in expired.stdout
        cleaned = _run(["demo", "cleanup"], tmp_path, fresh_database_url)
        assert cleaned.returncode == 0, cleaned.stderr
        assert "1 demo accounts deleted" in cleaned.stdout and "order_fills" in cleaned.stdout
        assert "0 demo accounts deleted" in _run(["demo", "cleanup"], tmp_path, fresh_database_url).stdout
        with database.session() as session:
            assert session.get(TradingAccount, old.id) is None
            statuses = {account.id: account.status for account in session.scalars(select(TradingAccount))}
            assert statuses == {recent.id: "read_only", fresh.id: "active"}
        again = _run(["demo", "cleanup"], tmp_path, fresh_database_url, ALPHABOOK_DEMO_READ_ONLY_DAYS="5")
        assert "1 demo accounts deleted" in again.stdout
    finally:
        database.dispose()

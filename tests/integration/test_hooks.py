"""Webhook order routing over HTTP: hooks, authentication, exactly-once alerts, IP allow-lists, secret rotation.

Alerts go through the real app (FastAPI's test client) into the real database, and their orders through the
dispatcher into the real paper broker.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import select

from alphabook.accounts import two_factor
from alphabook.accounts.models import User
from alphabook.accounts.sign_in_models import TotpFactor
from alphabook.core import audit, clock, migrations
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.errors import ConfigurationError
from alphabook.core.secrets_at_rest import cipher_for, reencrypt_all
from alphabook.models import Base
from alphabook.notifications import service as notifications
from alphabook.trading import alerts
from alphabook.trading.models import Alert, Hook, Order, OrderFill, OutboxMessage
from alphabook.trading.outbox import Dispatcher
from tests.integration.hook_support import (
    Trader,
    api,
    create_hook,
    drain,
    make_trader,
    settings_for,
    signed_headers,
    tradingview_body,
)

pytestmark = pytest.mark.db


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return settings_for(database, tmp_path)


@pytest.fixture
def client(settings: Settings) -> Any:
    with api(settings) as test_client:
        yield test_client


@pytest.fixture
def trader(database: Database) -> Trader:
    return make_trader(database)


def _orders(database: Database, hook_id: str) -> list[Order]:
    with database.session() as session:
        return list(session.scalars(select(Order).where(Order.hook_id == hook_id).order_by(Order.id)))


def _alerts(client: TestClient, trader: Trader, **params: Any) -> list[dict[str, Any]]:
    reply = client.get(f"/api/accounts/{trader.account_id}/alerts", headers=trader.headers, params=params)
    assert reply.status_code == 200, reply.text
    rows: list[dict[str, Any]] = reply.json()
    return rows


def _problem(reply: Any, status: int, slug: str, detail_part: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = reply.json()
    assert body["type"].endswith("/" + slug) and detail_part in body["detail"], body
    return body


def test_tradingview_alert_places_one_filled_paper_order(client: TestClient, database: Database, settings: Settings,
                                                         trader: Trader) -> None:
    hook = create_hook(client, trader)
    assert hook["secret"] and hook["example"]["secret"] == hook["secret"] and hook["url"].endswith(hook["id"])
    reply = client.post(f"/api/hooks/{hook['id']}", content=tradingview_body(hook["secret"], alert_id="a-1"))
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["decision"] == "accepted" and answer["state"] == "pending" and answer["client_order_id"]

    drain(Dispatcher(database, settings))
    [order] = _orders(database, hook["id"])
    assert (order.id, order.state, order.symbol, order.side, order.quantity) == (answer["order_id"], "filled",
                                                                                  "GOOG", "buy", 1)
    with database.session() as session:
        fills = list(session.scalars(select(OrderFill).where(OrderFill.order_id == order.id)))
        assert [fill.quantity for fill in fills] == [1] and order.broker_order_id
        message = session.scalar(select(OutboxMessage).where(OutboxMessage.order_id == order.id))
        assert message is not None and (message.status, message.attempts) == ("done", 1)
        actions = [entry.action for entry in audit.entries(session, subject=f"order:{order.id}")]
    assert actions == ["order.submitted", "order.updated"]
    [alert] = _alerts(client, trader, hook_id=hook["id"])
    assert (alert["decision"], alert["order_id"]) == ("accepted", order.id)
    assert "secret" not in alert["body"] and alert["body"]["ticker"] == "NASDAQ:GOOG"


def test_the_secret_is_shown_once_and_kept_encrypted(client: TestClient, database: Database, settings: Settings,
                                                     trader: Trader) -> None:
    hook = create_hook(client, trader, format="signed")
    assert hook["secret"].startswith("whsec_")
    listed = client.get(f"/api/accounts/{trader.account_id}/hooks", headers=trader.headers).json()
    one = client.get(f"/api/accounts/{trader.account_id}/hooks/{hook['id']}", headers=trader.headers).json()
    assert all("secret" not in row for row in [*listed, one]) and hook["secret"] not in json.dumps([listed, one])
    with database.session() as session:
        row = session.get(Hook, hook["id"])
        assert row is not None and hook["secret"] not in row.secret_ciphertext
        assert cipher_for(settings).decrypt(row.secret_ciphertext) == hook["secret"]
    other = make_trader(database)
    reply = client.get(f"/api/accounts/{trader.account_id}/hooks", headers=other.headers)
    assert reply.status_code == 404


@pytest.mark.parametrize("case", ["forged", "missing", "stale", "future", "no-timestamp"])
def test_forged_and_stale_tradingview_alerts_are_refused_and_logged(client: TestClient, database: Database,
                                                                     trader: Trader, case: str) -> None:
    hook = create_hook(client, trader)
    old = (utcnow() - timedelta(minutes=6)).isoformat()
    ahead = (utcnow() + timedelta(minutes=6)).isoformat()
    body = {"forged": tradingview_body("not-the-secret"),
            "missing": json.dumps({"ticker": "GOOG", "action": "buy", "contracts": 1}).encode(),
            "stale": tradingview_body(hook["secret"], timestamp=old),
            "future": tradingview_body(hook["secret"], timestamp=ahead),
            "no-timestamp": json.dumps({"secret": hook["secret"], "ticker": "GOOG", "action": "buy",
                                        "contracts": 1}).encode()}[case]
    reply = client.post(f"/api/hooks/{hook['id']}", content=body)
    expected = {"forged": "not this hook's", "missing": "no \"secret\"", "stale": "stale", "future": "stale",
                "no-timestamp": "no \"timestamp\""}[case]
    problem = _problem(reply, 401, "unauthenticated", expected)
    assert problem["decision"] == "refused"
    assert _orders(database, hook["id"]) == []
    [alert] = _alerts(client, trader, hook_id=hook["id"])
    assert alert["decision"] == "refused" and expected in alert["reason"] and alert["id"] == problem["alert_id"]
    assert hook["secret"] not in json.dumps(alert)
    with database.session() as session:
        assert [e.action for e in audit.entries(session, subject=f"alert:{alert['id']}")] == ["alert.refused"]


def test_unknown_hook_and_bad_bodies(client: TestClient, database: Database, trader: Trader) -> None:
    reply = client.post("/api/hooks/nope", content=b"{}")
    _problem(reply, 404, "not-found", "no hook nope")
    hook = create_hook(client, trader)
    _problem(client.post(f"/api/hooks/{hook['id']}", content=b"BUY GOOG " + hook["secret"].encode()), 422,
             "invalid-input", "not a JSON object")
    [alert] = _alerts(client, trader, hook_id=hook["id"])
    assert hook["secret"] not in alert["body"]["unparsed"] and "[secret]" in alert["body"]["unparsed"]
    reply = client.post(f"/api/hooks/{hook['id']}", content=tradingview_body(hook["secret"], action="hold"))
    _problem(reply, 422, "invalid-input", "action: Input should be 'buy' or 'sell'")
    reply = client.post(f"/api/hooks/{hook['id']}", content=tradingview_body(hook["secret"], contracts="-1"))
    _problem(reply, 422, "invalid-input", "quantity must be a positive")
    # TradingView writes NaN for a placeholder whose value is na (e.g. {{plot_0}}): not JSON, but it is sent
    reply = client.post(f"/api/hooks/{hook['id']}", content=tradingview_body(hook["secret"], price=float("nan")))
    _problem(reply, 422, "invalid-input", "price: Input should be a finite number")
    assert _alerts(client, trader, hook_id=hook["id"])[0]["body"]["price"] == "NaN"


def test_replayed_and_duplicate_alerts_place_one_order(client: TestClient, database: Database,
                                                       trader: Trader) -> None:
    hook = create_hook(client, trader)
    body = tradingview_body(hook["secret"])  # no alert id: the body's hash (with its timestamp) is the key
    first = client.post(f"/api/hooks/{hook['id']}", content=body).json()
    replayed = client.post(f"/api/hooks/{hook['id']}", content=body).json()
    assert first["decision"] == "accepted" and replayed["decision"] == "duplicate"
    assert replayed["order_id"] == first["order_id"] and replayed["duplicate_of"] == first["alert_id"]
    again = tradingview_body(hook["secret"], alert_id="tv-7", contracts="2")
    retried = tradingview_body(hook["secret"], alert_id="tv-7", contracts="3")  # same alert id, other body
    assert client.post(f"/api/hooks/{hook['id']}", content=again).json()["decision"] == "accepted"
    assert client.post(f"/api/hooks/{hook['id']}", content=retried).json()["decision"] == "duplicate"
    assert len(_orders(database, hook["id"])) == 2
    decisions = [row["decision"] for row in _alerts(client, trader, hook_id=hook["id"])]
    assert decisions == ["duplicate", "accepted", "duplicate", "accepted"]
    with database.session() as session:
        dup = session.scalars(select(Alert).where(Alert.hook_id == hook["id"], Alert.decision == "duplicate")).first()
        assert dup is not None and dup.dedupe_key is None
        assert [e.action for e in audit.entries(session, subject=f"alert:{dup.id}")] == ["alert.duplicate"]


def test_concurrent_retries_of_one_alert_place_one_order(client: TestClient, database: Database,
                                                         trader: Trader) -> None:
    hook = create_hook(client, trader, format="signed")
    body = json.dumps({"symbol": "GOOG", "side": "buy", "quantity": "1", "price": "300"}).encode()
    headers = signed_headers(hook["secret"], body, webhook_id="msg_storm")
    start, replies, lock = threading.Barrier(8), [], threading.Lock()

    def send() -> None:
        start.wait()
        reply = client.post(f"/api/hooks/{hook['id']}", content=body, headers=headers)
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(reply.status_code == 200 for reply in replies), [reply.text for reply in replies]
    decisions = sorted(reply.json()["decision"] for reply in replies)
    assert decisions == ["accepted"] + ["duplicate"] * 7
    [order] = _orders(database, hook["id"])
    assert {reply.json()["order_id"] for reply in replies} == {order.id}
    rows = _alerts(client, trader, hook_id=hook["id"])
    assert len(rows) == 8 and {row["order_id"] for row in rows} == {order.id}


def test_concurrent_distinct_alerts_of_one_hook_are_all_placed(client: TestClient, database: Database,
                                                               trader: Trader) -> None:
    """Many alerts of one hook at once: each waits its turn for the account, none deadlocks (on PostgreSQL the
    row locks are FOR NO KEY UPDATE, which the alert rows' foreign keys do not conflict with)."""
    hook = create_hook(client, trader)
    start, replies, lock = threading.Barrier(12), [], threading.Lock()

    def send(number: int) -> None:
        body = tradingview_body(hook["secret"], alert_id=f"distinct-{number}")
        start.wait()
        reply = client.post(f"/api/hooks/{hook['id']}", content=body)
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=send, args=(number,)) for number in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(reply.status_code for reply in replies) == [200] * 12, [r.text for r in replies]
    assert len(_orders(database, hook["id"])) == 12


def test_concurrent_alerts_cannot_overrun_a_counting_limit(client: TestClient, database: Database,
                                                           trader: Trader) -> None:
    """With a limit that counts orders, alerts arriving together are checked one after another (account lock)."""
    hook = create_hook(client, trader, limits={"max_orders_per_minute": 3})
    start, replies, lock = threading.Barrier(10), [], threading.Lock()

    def send(number: int) -> None:
        body = tradingview_body(hook["secret"], alert_id=f"counted-{number}")
        start.wait()
        reply = client.post(f"/api/hooks/{hook['id']}", content=body)
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=send, args=(number,)) for number in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(reply.status_code for reply in replies) == [200] * 3 + [403] * 7
    assert len(_orders(database, hook["id"])) == 3
    kinds = sorted(reply.json()["type"].rsplit("/", 1)[1] for reply in replies if reply.status_code == 403)
    assert kinds == ["kill-switch"] * 6 + ["risk-limit"]  # the 4th tripped the switch; the rest met it


def test_signed_alerts(client: TestClient, database: Database, trader: Trader) -> None:
    hook = create_hook(client, trader, format="signed")
    body = json.dumps({"symbol": "GOOG", "side": "sell", "quantity": "1", "type": "limit",
                       "limit_price": "9999", "tif": "day"}).encode()
    url = f"/api/hooks/{hook['id']}"
    good = signed_headers(hook["secret"], body)
    tampered = body.replace(b"9999", b"1")
    _problem(client.post(url, content=tampered, headers=good), 401, "unauthenticated", "does not match")
    _problem(client.post(url, content=body, headers={"content-type": "application/json"}), 401, "unauthenticated",
             "webhook-id")
    stale = signed_headers(hook["secret"], body, timestamp=int(utcnow().timestamp()) - 301)
    _problem(client.post(url, content=body, headers=stale), 401, "unauthenticated", "stale")
    other = signed_headers("whsec_" + "A" * 43 + "=", body)
    _problem(client.post(url, content=body, headers=other), 401, "unauthenticated", "does not match")
    assert client.post(url, content=body, headers=good).json()["decision"] == "accepted"
    assert client.post(url, content=body, headers=good).json()["decision"] == "duplicate"
    [order] = _orders(database, hook["id"])
    assert (order.type, order.limit_price, order.time_in_force, order.side) == ("limit", 9999, "day", "sell")
    several = dict(good, **{"webhook-id": "msg_other"})
    several = signed_headers(hook["secret"], body, webhook_id="msg_two")
    several["webhook-signature"] = "v1,bm9wZQ== " + several["webhook-signature"]  # any valid one of several
    assert client.post(url, content=body, headers=several).json()["decision"] == "accepted"


def test_ip_allow_list_and_forwarded_for(database: Database, tmp_path: Path, trader: Trader) -> None:
    proxy, sender = ("10.0.0.5", 40000), "52.89.214.238"  # one of TradingView's addresses
    trusting = settings_for(database, tmp_path, trusted_proxies="10.0.0.0/8")
    with api(trusting, client=proxy) as behind_proxy, api(trusting, client=("198.51.100.7", 1)) as direct:
        hook = create_hook(direct, trader, allowed_ips=["tradingview", "2001:db8::/32"])
        assert "52.89.214.238/32" in hook["allowed_ips"] and "2001:db8::/32" in hook["allowed_ips"]
        url = f"/api/hooks/{hook['id']}"

        def send(client: TestClient, forwarded: str | None = None, **fields: Any) -> Any:
            headers = {"x-forwarded-for": forwarded} if forwarded else {}
            return client.post(url, content=tradingview_body(hook["secret"], **fields), headers=headers)

        _problem(send(direct, alert_id="1"), 403, "forbidden", "came from 198.51.100.7")
        # An untrusted peer cannot claim to be TradingView by writing the header itself.
        _problem(send(direct, sender, alert_id="2"), 403, "forbidden", "came from 198.51.100.7")
        # A trusted proxy's report is believed: the nearest untrusted hop is the sender...
        assert send(behind_proxy, f"203.0.113.9, {sender}", alert_id="3").json()["decision"] == "accepted"
        # ... not what the client wrote further left.
        _problem(send(behind_proxy, f"{sender}, 203.0.113.9", alert_id="4"), 403, "forbidden", "203.0.113.9")
        _problem(send(behind_proxy, None, alert_id="5"), 403, "forbidden", "10.0.0.5")
    with api(settings_for(database, tmp_path), client=proxy) as untrusting:
        _problem(untrusting.post(url, content=tradingview_body(hook["secret"], alert_id="6"),
                                 headers={"x-forwarded-for": sender}), 403, "forbidden", "10.0.0.5")
    rows = _alerts(direct, trader, hook_id=hook["id"])
    assert [(row["source_ip"], row["decision"]) for row in reversed(rows)] == [
        ("198.51.100.7", "refused"), ("198.51.100.7", "refused"), (sender, "accepted"), ("203.0.113.9", "refused"),
        ("10.0.0.5", "refused"), ("10.0.0.5", "refused")]


def test_client_address_rules() -> None:
    trusted = ["10.0.0.0/8", "::1"]
    assert alerts.client_address("10.1.1.1", "1.2.3.4, 10.2.2.2", trusted) == "1.2.3.4"
    assert alerts.client_address("8.8.8.8", "1.2.3.4", trusted) == "8.8.8.8"
    assert alerts.client_address("::1", "10.0.0.1, 10.0.0.2", trusted) == "10.0.0.1"
    assert alerts.client_address("10.1.1.1", "garbage, 5.6.7.8", trusted) == "5.6.7.8"
    assert alerts.client_address(None, "1.2.3.4", trusted) is None
    assert alerts.symbol_of("BINANCE:BTCUSDT") == "BTC/USDT" and alerts.symbol_of("eurusd") == "EUR/USD"
    assert alerts.symbol_of("AAPL") == "AAPL" and alerts.symbol_of("ETH/BTC") == "ETH/BTC"


def test_secret_rotation_overlap(client: TestClient, database: Database, trader: Trader) -> None:
    hook = create_hook(client, trader)
    url, old = f"/api/hooks/{hook['id']}", hook["secret"]
    rotated = client.post(f"/api/accounts/{trader.account_id}/hooks/{hook['id']}/rotate",
                          json={"overlap_seconds": 600}, headers=trader.headers).json()
    new = rotated["secret"]
    assert new != old and rotated["previous_secret_until"] is not None
    assert client.post(url, content=tradingview_body(old, alert_id="o1")).json()["decision"] == "accepted"
    assert client.post(url, content=tradingview_body(new, alert_id="n1")).json()["decision"] == "accepted"
    with clock.frozen(utcnow() + timedelta(seconds=601)):
        _problem(client.post(url, content=tradingview_body(old, alert_id="o2")), 401, "unauthenticated",
                 "not this hook's")
        assert client.post(url, content=tradingview_body(new, alert_id="n2")).json()["decision"] == "accepted"
    now_ = client.post(f"/api/accounts/{trader.account_id}/hooks/{hook['id']}/rotate",
                       json={"overlap_seconds": 0}, headers=trader.headers).json()
    _problem(client.post(url, content=tradingview_body(new, alert_id="n3")), 401, "unauthenticated", "not this")
    assert client.post(url, content=tradingview_body(now_["secret"], alert_id="x")).json()["decision"] == "accepted"
    with database.session() as session:
        assert len(audit.entries(session, subject=f"hook:{hook['id']}", action="trading.hook_secret_rotated")) == 2


def test_hook_management_is_audited(client: TestClient, database: Database, trader: Trader) -> None:
    hook = create_hook(client, trader, limits={"allowed_symbols": ["GOOG"]})
    base = f"/api/accounts/{trader.account_id}/hooks/{hook['id']}"
    patched = client.patch(base, json={"name": "renamed", "limits": {"max_orders_per_minute": 5}},
                           headers=trader.headers).json()
    assert patched["name"] == "renamed" and patched["limits"] == {"max_orders_per_minute": 5}
    bad = client.patch(base, json={"allowed_ips": ["not-an-ip"]}, headers=trader.headers)
    _problem(bad, 422, "invalid-input", "not an IP address")
    bad = client.patch(base, json={"limits": {"max_daily_loss": {"amount_minor": 1, "currency": "EUR"}}},
                       headers=trader.headers)
    _problem(bad, 422, "invalid-input", "account trades in USD")
    assert client.delete(base, headers=trader.headers).status_code == 204
    assert client.get(base, headers=trader.headers).status_code == 404
    with database.session() as session:
        actions = [e.action for e in audit.entries(session, subject=f"hook:{hook['id']}")]
    assert actions == ["trading.hook_created", "trading.hook_updated", "trading.hook_deleted"]


def test_secrets_encrypted_with_rotatable_keys(fresh_database_url: str, tmp_path: Path) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    old = cipher_for(Settings(home=tmp_path, trading_fernet_key=old_key))
    token = old.encrypt("api-secret")
    both = cipher_for(Settings(home=tmp_path, trading_fernet_key=f"{new_key},{old_key}"))
    assert both.decrypt(token) == "api-secret"  # the old key still decrypts
    rotated = both.rotate(token)
    only_new = cipher_for(Settings(home=tmp_path, trading_fernet_key=new_key))
    assert only_new.decrypt(rotated) == "api-secret"
    with pytest.raises(ConfigurationError, match="cannot be decrypted"):
        only_new.decrypt(token)
    with pytest.raises(ConfigurationError, match="not a Fernet key"):
        cipher_for(Settings(home=tmp_path, trading_fernet_key="short"))
    generated = cipher_for(Settings(home=tmp_path / "zero-config"))  # zero configuration: a generated key
    assert generated.decrypt(generated.encrypt("x")) == "x"
    assert (tmp_path / "zero-config" / "secrets" / "trading_fernet_key").stat().st_mode & 0o077 == 0
    # After an explicit key is configured, what the generated key encrypted still decrypts; rotate-key moves it.
    later = Settings(home=tmp_path / "zero-config", trading_fernet_key=new_key)
    assert cipher_for(later).decrypt(generated.encrypt("y")) == "y"
    migrations.upgrade(fresh_database_url)  # its own database: rotate-key re-encrypts every row there
    fresh = Database(fresh_database_url)
    try:
        trader = make_trader(fresh)
        with api(settings_for(fresh, tmp_path / "zero-config")) as client:
            hook = create_hook(client, trader)
        with fresh.session() as session:  # every other kind of secret at rest is rotated with it
            person = session.get(User, trader.user_id)
            assert person is not None
            seed = two_factor.begin_enrolment(session, person, cipher_for(later), issuer="alphabook")
            _, webhook = notifications.update_choices(session, later, person,
                                                      {"webhook_url": "https://93.184.216.34/alphabook"})
        with fresh.session() as session:
            assert reencrypt_all(session, cipher_for(later), Base.metadata) == 3
        with fresh.session() as session:
            row = session.get(Hook, hook["id"])
            assert row is not None and only_new.decrypt(row.secret_ciphertext) == hook["secret"]
            factor = session.get(TotpFactor, trader.user_id)
            assert factor is not None and only_new.decrypt(factor.secret) == seed.secret
            assert notifications.webhook_secret(session, Settings(home=tmp_path / "elsewhere",
                                                                  trading_fernet_key=new_key),
                                                trader.user_id) == webhook
    finally:
        fresh.dispose()

"""Alerts decided in batches: each alert's decision is the one it would get alone, for a handful of statements.

``alerts.receive_many`` is driven with real deliveries against the real database (SQLite and PostgreSQL), and
the ``Intake`` that batches a process's alerts with concurrent deliveries, as the webhook route does.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, update

from alphabook.core import audit
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.core.errors import ConfigurationError, Conflict, NotFound, Unauthenticated
from alphabook.trading import alerts
from alphabook.trading.intake import IDLE_SECONDS, Intake
from alphabook.trading.models import Alert, AlertDecision, Hook, Order, OutboxMessage
from alphabook.trading.risk import KillSwitchOn, RiskRefused
from tests.integration.databases import migrated_database
from tests.integration.hook_support import Trader, api, create_hook, make_trader, settings_for, signed_headers

pytestmark = pytest.mark.db


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return settings_for(database, tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with api(settings) as test_client:
        yield test_client


@pytest.fixture
def trader(database: Database) -> Trader:
    return make_trader(database)


def _delivery(hook: dict[str, Any], *, webhook_id: str | None = None, secret: str | None = None,
              **fields: Any) -> tuple[str, alerts.Delivery]:
    body = json.dumps({"symbol": "GOOG", "side": "buy", "quantity": "1", "price": "300", **fields}).encode()
    headers = signed_headers(secret or hook["secret"], body, webhook_id=webhook_id)
    return hook["id"], alerts.Delivery(body=body, headers=headers, peer="198.51.100.20")


@contextmanager
def _statements(database: Database) -> Iterator[list[str]]:
    """The SQL statements sent to the database meanwhile (an executemany counts once)."""
    sent: list[str] = []

    def seen(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)


def test_a_batch_decides_each_alert_as_it_would_be_decided_alone(client: TestClient, database: Database,
                                                                 settings: Settings, trader: Trader) -> None:
    hook = create_hook(client, trader, format="signed")
    batch = [
        _delivery(hook, alert_id="b-1"),
        _delivery(hook, alert_id="b-2", secret="whsec_" + "QUJD" * 8),  # signed with another secret: forged
        _delivery(hook, alert_id="b-1", quantity="5"),  # a repeat of the first, in the same batch
        _delivery(hook, alert_id="b-3", client_id="mine-1"),
        _delivery(hook, alert_id="b-4", client_id="mine-1"),  # the sender's client id again: taken
        ("no-such-hook", _delivery(hook, alert_id="b-5")[1]),
        _delivery(hook, alert_id="b-6", side="sell"),
    ]
    with database.session() as session:
        outcomes = alerts.receive_many(session, settings, batch)
    first, forged, repeat, own, taken, unknown, last = outcomes
    assert isinstance(unknown, NotFound)
    assert isinstance(first, alerts.Outcome) and first.decision is AlertDecision.ACCEPTED and first.order
    assert isinstance(forged, alerts.Outcome) and isinstance(forged.refusal, Unauthenticated)
    assert isinstance(repeat, alerts.Outcome) and repeat.decision is AlertDecision.DUPLICATE
    assert repeat.duplicate_of == first.alert_id and repeat.order and repeat.order.id == first.order.id
    assert isinstance(own, alerts.Outcome) and own.order and own.order.client_order_id == "mine-1"
    assert isinstance(taken, alerts.Outcome) and isinstance(taken.refusal, Conflict)
    assert isinstance(last, alerts.Outcome) and last.order and last.order.side == "sell"
    with database.session() as session:
        orders = list(session.scalars(select(Order).where(Order.hook_id == hook["id"]).order_by(Order.id)))
        assert [order.id for order in orders] == [first.order.id, own.order.id, last.order.id]
        assert [(order.quantity, order.state) for order in orders] == [(Decimal(1), "pending")] * 3
        messages = session.scalars(select(OutboxMessage.order_id).where(OutboxMessage.action == "place",
                                                                        OutboxMessage.order_id.in_(
                                                                            [order.id for order in orders])))
        assert sorted(messages) == [order.id for order in orders]
        for order in orders:
            assert [entry.action for entry in audit.entries(session, subject=f"order:{order.id}")] == [
                "order.submitted"]
        rows = {row.id: row for row in session.scalars(select(Alert).where(Alert.hook_id == hook["id"]))}
        assert len(rows) == 6  # every delivery to an existing hook is in the alert log
        assert rows[first.alert_id].order_id == first.order.id and rows[last.alert_id].order_id == last.order.id
        assert rows[taken.alert_id].decision == "refused" and rows[taken.alert_id].dedupe_key is None
        assert "mine-1" in (rows[taken.alert_id].reason or "")
        assert [entry.action for entry in audit.entries(session, subject=f"alert:{forged.alert_id}")] == [
            "alert.refused"]


def test_a_batch_costs_the_statements_of_one_alert(database: Database, settings: Settings, client: TestClient,
                                                   trader: Trader) -> None:
    """The point of batching: ten alerts are decided with as many statements as one."""
    hook = create_hook(client, trader, format="signed")
    counts = []
    for size in (1, 10):
        with _statements(database) as sent, database.session() as session:
            outcomes = alerts.receive_many(session, settings, [_delivery(hook) for _ in range(size)])
        assert all(isinstance(outcome, alerts.Outcome) and outcome.decision is AlertDecision.ACCEPTED
                   for outcome in outcomes)
        counts.append(len(sent))
    assert counts[0] == counts[1], counts


def test_a_refused_alert_gives_its_key_back_to_its_repeat_in_the_batch(client: TestClient, database: Database,
                                                                       settings: Settings, trader: Trader) -> None:
    hook = create_hook(client, trader, format="signed", limits={"allowed_symbols": ["AAPL"]})
    batch = [_delivery(hook, alert_id="r-1"), _delivery(hook, alert_id="r-1")]
    with database.session() as session:
        outcomes = alerts.receive_many(session, settings, batch)
    for outcome in outcomes:  # the repeat is decided afresh (the first holds no key), and refused the same way
        assert isinstance(outcome, alerts.Outcome) and isinstance(outcome.refusal, RiskRefused)
    with database.session() as session:
        assert session.scalar(select(func.count(Order.id)).where(Order.hook_id == hook["id"])) == 0
        keys = session.scalars(select(Alert.dedupe_key).where(Alert.hook_id == hook["id"]))
        assert list(keys) == [None, None]


def test_counting_limits_are_checked_one_alert_after_another_in_a_batch(client: TestClient, database: Database,
                                                                        settings: Settings, trader: Trader) -> None:
    hook = create_hook(client, trader, format="signed", limits={"max_orders_per_minute": 3})
    with database.session() as session:
        outcomes = alerts.receive_many(session, settings, [_delivery(hook) for _ in range(6)])
    decided = [outcome for outcome in outcomes if isinstance(outcome, alerts.Outcome)]
    assert [outcome.decision for outcome in decided] == [AlertDecision.ACCEPTED] * 3 + [AlertDecision.REFUSED] * 3
    assert [type(outcome.refusal) for outcome in decided[3:]] == [RiskRefused, KillSwitchOn, KillSwitchOn]
    with database.session() as session:
        assert session.scalar(select(func.count(Order.id)).where(Order.hook_id == hook["id"])) == 3
        assert session.scalar(select(Hook.kill_switch).where(Hook.id == hook["id"])) is True


def test_one_alert_that_cannot_be_decided_does_not_fail_the_others(client: TestClient, database: Database,
                                                                   settings: Settings, trader: Trader) -> None:
    """A hook whose secret no configured key decrypts (its key was removed too early) fails its own alerts; the
    batch they share with other hooks' alerts is decided again one alert at a time."""
    good, broken = create_hook(client, trader, format="signed"), create_hook(client, trader, format="signed")
    with database.session() as session:
        session.execute(update(Hook).where(Hook.id == broken["id"]).values(secret_ciphertext="gAAAAA-not-fernet"))
    intake = Intake(database, settings)
    deliveries = [_delivery(broken if number == 3 else good, alert_id=f"i-{number}") for number in range(8)]

    async def all_at_once() -> list[alerts.Outcome | BaseException]:
        return await asyncio.gather(*(intake.decide(hook_id, delivery) for hook_id, delivery in deliveries),
                                    return_exceptions=True)

    with ThreadPoolExecutor(1) as thread:  # an event loop of its own: one may be running in this thread already
        outcomes = thread.submit(asyncio.run, all_at_once()).result()
    assert isinstance(outcomes[3], ConfigurationError)
    accepted = [outcome for number, outcome in enumerate(outcomes) if number != 3]
    assert all(isinstance(outcome, alerts.Outcome) and outcome.decision is AlertDecision.ACCEPTED
               for outcome in accepted), outcomes
    with database.session() as session:
        assert session.scalar(select(func.count(Order.id)).where(Order.hook_id == good["id"])) == 7
        assert session.scalar(select(func.count(Alert.id)).where(Alert.hook_id == broken["id"])) == 0


def _intake_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "alphabook-intake"]


def test_the_intake_thread_ends_when_idle_and_starts_again_with_the_next_alert(
        client: TestClient, database: Database, settings: Settings, trader: Trader) -> None:
    hook = create_hook(client, trader, format="signed")
    intake = Intake(database, settings)
    with ThreadPoolExecutor(1) as thread:
        for number in range(2):
            hook_id, delivery = _delivery(hook, alert_id=f"idle-{number}")
            outcome = thread.submit(asyncio.run, intake.decide(hook_id, delivery)).result()
            assert outcome.decision is AlertDecision.ACCEPTED
            assert _intake_threads()
            deadline = time.monotonic() + IDLE_SECONDS + 5
            while _intake_threads() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _intake_threads()  # no thread stays behind an app that receives nothing more


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    """SQLite of its own: its write lock is what this test holds."""
    with migrated_database("sqlite", tmp_path) as database:
        yield database


def test_a_batch_meeting_a_busy_sqlite_is_answered_busy_at_once_and_loses_nothing(sqlite_database: Database,
                                                                                   tmp_path: Path) -> None:
    """While another process holds SQLite's write lock, a batch cannot begin. Its alerts are answered 503 "send it
    again" together, after one wait, rather than tried again one by one, each waiting as long; and nothing of them
    is recorded, so sending them again decides them afresh."""
    settings = settings_for(sqlite_database, tmp_path, notifications_in_api=False)  # the intake is the only writer
    trader = make_trader(sqlite_database)
    with api(settings) as client:
        hook = create_hook(client, trader, format="signed")
        engine = client.app.state.database.engine  # type: ignore[attr-defined]

        @event.listens_for(engine, "connect")
        def _short_busy_wait(dbapi_connection: Any, _record: Any) -> None:  # after ours: 1 s, not 5 s
            dbapi_connection.execute("PRAGMA busy_timeout=1000")  # the alerts sent meanwhile form the next batch

        engine.dispose()  # the pool's connections are opened again, with the setting above
        bodies = [json.dumps({"symbol": "GOOG", "side": "buy", "quantity": "1", "alert_id": f"busy-{number}"}).encode()
                  for number in range(6)]

        def post_all() -> list[Any]:
            gate = threading.Barrier(len(bodies))

            def post(body: bytes) -> Any:
                gate.wait()
                return client.post(f"/api/hooks/{hook['id']}", content=body,
                                   headers=signed_headers(hook["secret"], body))

            with ThreadPoolExecutor(len(bodies)) as senders:
                return list(senders.map(post, bodies))

        other = sqlite3.connect(engine.url.database, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # another process writing: the write lock is taken
            with _statements(client.app.state.database) as sent:  # type: ignore[attr-defined]
                answers = post_all()
        finally:
            other.rollback()
            other.close()
        assert [reply.status_code for reply in answers] == [503] * len(bodies), [reply.text for reply in answers]
        assert all("send the alert again" in reply.json()["detail"].lower() for reply in answers)
        assert all(reply.headers["retry-after"] == "1" for reply in answers)
        tries = [statement for statement in sent if statement == "BEGIN IMMEDIATE"]
        assert 1 <= len(tries) <= 2, tries  # one try per batch (the first alert may have made a batch of its own)
        with sqlite_database.session() as session:
            assert session.scalar(select(func.count(Alert.id)).where(Alert.hook_id == hook["id"])) == 0
        again = post_all()
        assert [reply.json()["decision"] for reply in again] == ["accepted"] * len(bodies)

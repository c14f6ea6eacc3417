"""The outbox dispatcher: retries with backoff, final refusals, cancel and replace, the API's own dispatcher
thread, and crash recovery proven by SIGKILLing a real dispatcher process mid-send.

Venues are real: the paper broker, and ccxt's Binance client against the local fake of Binance's trading API
(:mod:`tests.fakes.fake_binance_trading`), which can fail or stall a request to order.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from alphabook.core import audit
from alphabook.core.clock import utcnow
from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.trading import orders
from alphabook.trading.brokers.base import OrderType, Side
from alphabook.trading.models import Order, OrderSource, OutboxMessage, TradingAccount
from alphabook.trading.orders import OrderIntent
from alphabook.trading.outbox import Dispatcher, backoff_seconds
from tests.fakes.fake_alpaca import FakeAlpaca
from tests.fakes.fake_binance_trading import FakeBinanceTrading
from tests.fakes.fake_exchange import Failure, server_error
from tests.integration.databases import migrated_database
from tests.integration.hook_support import (
    api,
    create_hook,
    drain,
    make_live_account,
    make_trader,
    settings_for,
    tradingview_body,
)

pytestmark = pytest.mark.db
ALPHABOOK = str(Path(sys.executable).parent / "alphabook")


@pytest.fixture
def fake() -> Iterator[FakeBinanceTrading]:
    with FakeBinanceTrading({"BTC/USDT": Decimal(30_000)}, {"USDT": Decimal(10_000)}) as server:
        yield server  # type: ignore[misc]
    assert server.errors == []


def _binance_account(database: Database, settings: Settings, fake: FakeBinanceTrading) -> int:
    trader = make_trader(database)
    options = {"urls": fake.urls(), "config": {**fake.ccxt_config(), "timeout": 10_000}, "quote_currency": "USDT",
               "retry": {"attempts": 1, "first_delay_s": 0.01}}
    return make_live_account(database, settings, trader.user_id, sandbox=True, options=options,
                             api_key=fake.api_key, secret=fake.secret)


def _submit(database: Database, account_id: int, intent: OrderIntent) -> int:
    with database.session() as session:
        account = session.get(TradingAccount, account_id)
        assert account is not None
        return orders.submit(session, account, intent, source=OrderSource.MANUAL, actor="test").id


def _btc(quantity: str = "0.01") -> OrderIntent:
    return OrderIntent(symbol="BTC/USDT", side=Side.BUY, type=OrderType.MARKET, quantity=Decimal(quantity))


def _state(database: Database, order_id: int) -> tuple[Order, list[OutboxMessage]]:
    with database.session() as session:
        order = session.get(Order, order_id)
        assert order is not None
        order.fills  # noqa: B018 (loaded while the session is open)
        messages = list(session.scalars(select(OutboxMessage).where(OutboxMessage.order_id == order_id)
                                        .order_by(OutboxMessage.id)))
        return order, messages


def _wait(condition: Callable[[], Any], seconds: float = 30, what: str = "condition") -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_backoff_doubles_with_jitter_up_to_a_cap() -> None:
    rng = random.Random(7)
    delays = [backoff_seconds(attempt, 1.0, 30.0, rng) for attempt in range(1, 9)]
    bounds = [min(30.0, 2.0 ** (attempt - 1)) for attempt in range(1, 9)]
    assert all(bound / 2 <= delay <= bound for delay, bound in zip(delays, bounds, strict=True))
    assert delays[-1] <= 30.0 and len({round(delay, 6) for delay in delays}) == len(delays)


@pytest.fixture
def quiet_database(database: Database, tmp_path: Path) -> Iterator[Database]:
    """A database of the test's own, on the same backend: its timings must not wait behind other tests' outbox."""
    with migrated_database(database.engine.dialect.name, tmp_path / "quiet") as own:
        yield own


def test_a_burst_for_one_paper_account_is_placed_in_one_round_each_order_in_turn(quiet_database: Database,
                                                                                  tmp_path: Path) -> None:
    """The dispatcher hands a burst of first placements to the venue at once (``place_many``): what the account can
    pay for fills, in the order written, and the order it cannot pay for is rejected alone with the venue's reason."""
    database = quiet_database
    settings = settings_for(database, tmp_path)
    dispatcher = Dispatcher(database, settings)
    ask = dispatcher.registry.paper_feed().quote("GOOG").ask
    trader = make_trader(database)  # 100,000 USD
    big, too_big = int(60_000 // ask), int(50_000 // ask)

    def goog(quantity: int) -> OrderIntent:
        return OrderIntent(symbol="GOOG", side=Side.BUY, type=OrderType.MARKET, quantity=Decimal(quantity))

    ids = [_submit(database, trader.account_id, goog(quantity)) for quantity in (big, too_big, 1)]
    assert dispatcher.run_once() == 3
    (first, _), (refused, _), (last, messages) = (_state(database, order_id) for order_id in ids)
    assert (first.state, refused.state, last.state) == ("filled", "rejected", "filled")
    assert refused.reason is not None and "available" in refused.reason and refused.fills == []
    assert first.filled_quantity == big and last.filled_quantity == 1 and len(last.fills) == 1
    assert [message.status for message in messages] == ["done"]
    assert dispatcher.run_once() == 0
    with database.session() as session:
        actions = [entry.action for entry in audit.entries(session, subject=f"order:{refused.id}")]
    assert actions == ["order.submitted", "order.rejected"]


def test_temporary_errors_are_retried_with_backoff_and_sent_once(quiet_database: Database, tmp_path: Path,
                                                                 fake: FakeBinanceTrading) -> None:
    database = quiet_database
    settings = settings_for(database, tmp_path, trading_dispatch_backoff_seconds=0.2)
    account_id = _binance_account(database, settings, fake)
    order_id = _submit(database, account_id, _btc())
    fake.fail("/api/v3/order", server_error(503), method="POST", times=2)  # refused before it was made
    fake.fail("/api/v3/order", server_error(502), method="POST", after_processing=True)  # made, answer lost
    dispatcher = Dispatcher(database, settings)
    drain(dispatcher)
    order, [message] = _state(database, order_id)
    assert (order.state, message.attempts, message.status) == ("pending", 1, "pending")
    assert "503" in (message.last_error or "") or message.last_error
    backoff = (message.next_attempt_at - message.updated_at).total_seconds()  # as scheduled, however long ago
    assert 0.1 <= backoff <= 0.2  # base 0.2 s, jitter in [0.5, 1]
    time.sleep(max(0.0, (message.next_attempt_at - utcnow()).total_seconds()) + 0.05)
    drain(dispatcher)
    order, [message] = _state(database, order_id)
    assert (order.state, message.attempts) == ("pending", 2) and fake.orders_placed() == 0
    second_backoff = (message.next_attempt_at - message.updated_at).total_seconds()
    assert 0.2 <= second_backoff <= 0.4  # doubled
    for _ in range(3):  # the third send is made but its answer lost: it is found, not sent again
        time.sleep(max(0.0, (_state(database, order_id)[1][0].next_attempt_at - utcnow()).total_seconds()) + 0.05)
        drain(dispatcher)
        if _state(database, order_id)[0].state == "filled":
            break
    order, [message] = _state(database, order_id)
    assert (order.state, message.status) == ("filled", "done") and message.attempts >= 3
    assert fake.orders_placed() == 1
    assert order.filled_quantity == Decimal("0.01") and len(order.fills) == 1


def test_an_answer_that_cannot_be_recorded_costs_the_rest_of_its_round_nothing(quiet_database: Database,
                                                                                tmp_path: Path) -> None:
    """A round's answers are recorded in one transaction; one that spoils it (a venue answering for an order that is
    not ours) is set aside and the others are recorded each in a savepoint. The spoilt one stays claimed, and once
    its lease has run out it is looked up at the venue by its client order id: placed once, recorded once."""
    database = quiet_database
    settings = settings_for(database, tmp_path, trading_dispatch_lease_seconds=0.5)
    with FakeAlpaca({"AAPL": Decimal(200)}, Decimal(10_000)) as alpaca:
        account_id = make_live_account(database, settings, make_trader(database).user_id, sandbox=True,
                                       venue="alpaca", options={"base_url": alpaca.url},
                                       api_key=alpaca.key_id, secret=alpaca.secret_key)
        intent = OrderIntent(symbol="AAPL", side=Side.BUY, type=OrderType.MARKET, quantity=Decimal(1))
        ids = [_submit(database, account_id, intent) for _ in range(3)]
        not_ours = {"id": str(uuid.uuid4()), "client_order_id": "somebody-else", "symbol": "AAPL",
                    "status": "accepted", "filled_qty": "0", "filled_avg_price": None}
        alpaca.fail("/v2/orders", Failure(200, not_ours), method="POST", after_processing=True)
        dispatcher = Dispatcher(database, settings)
        assert dispatcher.run_once() == 3
        states = {order_id: _state(database, order_id) for order_id in ids}
        spoilt = [order_id for order_id, (order, _) in states.items() if order.broker_order_id is None]
        assert len(spoilt) == 1, "exactly the order whose answer was not its own is left unrecorded"
        for order_id, (order, [message]) in states.items():
            if order_id in spoilt:
                assert (order.state, message.status) == ("pending", "pending") and message.claimed_until
            else:
                assert message.status == "done" and order.broker_order_id in alpaca.orders
        time.sleep(max(0.0, (states[spoilt[0]][1][0].claimed_until - utcnow()).total_seconds()) + 0.05)
        drain(dispatcher)
        order, [message] = _state(database, spoilt[0])
        assert message.status == "done" and order.broker_order_id in alpaca.orders
        assert len(alpaca.orders) == 3  # found at the venue, not placed again
        assert [request.method for request in alpaca.requests if request.path == "/v2/orders"] == ["POST"] * 3
    assert alpaca.errors == []


def test_giving_up_after_max_attempts(database: Database, tmp_path: Path, fake: FakeBinanceTrading) -> None:
    settings = settings_for(database, tmp_path, trading_dispatch_backoff_seconds=0.01,
                            trading_dispatch_max_attempts=2)
    order_id = _submit(database, _binance_account(database, settings, fake), _btc())
    fake.fail("/api/v3/order", server_error(503), method="POST", times=5)
    dispatcher = Dispatcher(database, settings)
    for _ in range(2):
        drain(dispatcher)
        time.sleep(0.05)
    order, [message] = _state(database, order_id)
    assert (order.state, message.status) == ("failed", "failed") and "gave up after 2 attempts" in (order.reason or "")
    assert fake.orders_placed() == 0


def test_rejections_are_final_with_the_venues_reason(database: Database, tmp_path: Path) -> None:
    settings = settings_for(database, tmp_path)
    trader = make_trader(database)
    intent = OrderIntent(symbol="GOOG", side=Side.BUY, type=OrderType.MARKET, quantity=Decimal(10_000))
    order_id = _submit(database, trader.account_id, intent)
    drain(Dispatcher(database, settings))
    order, [message] = _state(database, order_id)
    assert (order.state, message.status, message.attempts) == ("rejected", "failed", 1)
    assert "buying 10000 GOOG" in (order.reason or "") and "is available" in (order.reason or "")
    with database.session() as session:
        assert [e.action for e in audit.entries(session, subject=f"order:{order_id}")] == ["order.submitted",
                                                                                            "order.rejected"]


def test_cancel_and_replace_go_through_the_outbox(database: Database, tmp_path: Path) -> None:
    settings = settings_for(database, tmp_path)
    trader = make_trader(database)
    dispatcher = Dispatcher(database, settings)
    resting = OrderIntent(symbol="GOOG", side=Side.BUY, type=OrderType.LIMIT, quantity=Decimal(1),
                          limit_price=Decimal(10))
    never_sent = _submit(database, trader.account_id, resting)
    with database.session() as session:  # not sent yet: cancelled here, nothing reaches the venue
        order = session.get(Order, never_sent)
        assert order is not None and orders.cancel(session, order, actor="test").state == "canceled"
    first = _submit(database, trader.account_id, resting)
    drain(dispatcher)
    assert _state(database, first)[0].state == "new"
    with database.session() as session:
        order = session.get(Order, first)
        assert order is not None
        replacement_id = orders.replace(session, order, actor="test", limit_price=Decimal(11)).id
    drain(dispatcher)
    old, new = _state(database, first)[0], _state(database, replacement_id)[0]
    assert (old.state, new.state, new.limit_price) == ("canceled", "new", 11)
    with database.session() as session:
        order = session.get(Order, replacement_id)
        assert order is not None
        orders.cancel(session, order, actor="test", reason="changed my mind")
        orders.cancel(session, order, actor="test")  # asking twice sends one cancel
    drain(dispatcher)
    new, messages = _state(database, replacement_id)
    assert new.state == "canceled" and [m.action for m in messages] == ["cancel"]
    assert _state(database, never_sent)[0].broker_order_id is None


def test_the_api_dispatcher_thread_sends_at_once(database: Database, tmp_path: Path) -> None:
    trader = make_trader(database)
    with api(settings_for(database, tmp_path, trading_dispatcher_in_api=True)) as client:
        hook = create_hook(client, trader)
        answer = client.post(f"/api/hooks/{hook['id']}", content=tradingview_body(hook["secret"])).json()
        order = _wait(lambda: (state := _state(database, answer["order_id"])[0]).state == "filled" and state,
                      what="the order to fill")
    assert order.filled_quantity == 1


def _dispatcher_process(database: Database, home: Path) -> subprocess.Popen[bytes]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("ALPHABOOK_")}
    environment.update(ALPHABOOK_HOME=str(home), ALPHABOOK_DATABASE_URL=database.url,
                       ALPHABOOK_TRADING_DISPATCH_LEASE_SECONDS="1", ALPHABOOK_TRADING_DISPATCH_POLL_SECONDS="0.05",
                       ALPHABOOK_LOG_LEVEL="WARNING")
    return subprocess.Popen([ALPHABOOK, "trading", "dispatch"], env=environment, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def _kill(process: subprocess.Popen[bytes]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("moment", ["claimed, not sent", "sent, answer not recorded"])
def test_a_killed_dispatcher_loses_nothing_and_duplicates_nothing(database: Database, tmp_path: Path,
                                                                  fake: FakeBinanceTrading, moment: str) -> None:
    settings = settings_for(database, tmp_path)
    account_id = _binance_account(database, settings, fake)
    hook_trader = make_trader(database)
    with database.session() as session:  # received through a hook of the Binance account, written, not sent
        from alphabook.trading import hooks
        from alphabook.trading.credentials import cipher_for

        account = session.get(TradingAccount, account_id)
        assert account is not None
        made = hooks.create(session, cipher_for(settings), account, actor="test", name="tv", format="tradingview",
                            live=False)
        hook_id, secret = made.hook.id, made.secret
    with api(settings) as client:
        body = tradingview_body(secret, ticker="BINANCE:BTCUSDT", contracts="0.01", price="30000")
        order_id = client.post(f"/api/hooks/{hook_id}", content=body).json()["order_id"]
    assert hook_trader  # (the hook belongs to the Binance account's owner)
    if moment == "claimed, not sent":
        fake.stall("/api/v3/order", 60, method="GET")  # the look-up place() does before sending
    else:
        fake.stall("/api/v3/order", 60, method="POST")  # the order is made; its answer never comes

    first = _dispatcher_process(database, tmp_path)
    try:
        if moment == "claimed, not sent":
            _wait(lambda: any(r.method == "GET" and r.path == "/api/v3/order" for r in fake.trading_requests),
                  what="the dispatcher to look the order up")
            assert fake.orders_placed() == 0
        else:
            _wait(lambda: fake.orders_placed() == 1, what="the order to reach the venue")
        _kill(first)
    finally:
        if first.poll() is None:
            first.kill()
    order, [message] = _state(database, order_id)
    assert order.state == "pending" and message.attempts == 1 and message.claimed_until is not None

    second = _dispatcher_process(database, tmp_path)
    try:
        order = _wait(lambda: (state := _state(database, order_id)[0]).state == "filled" and state, seconds=60,
                      what="the restarted dispatcher to record the fill")
    finally:
        second.terminate()
        second.wait(timeout=30)
    _, [message] = _state(database, order_id)
    assert fake.orders_placed() == 1  # one order at the venue
    assert (message.status, message.attempts) == ("done", 2)
    assert order.filled_quantity == Decimal("0.01") and len(order.fills) == 1 and order.broker_order_id
    lookups = [r for r in fake.trading_requests if r.method == "GET" and r.path == "/api/v3/order"]
    assert any(r.params.get("origClientOrderId") == order.client_order_id for r in lookups)

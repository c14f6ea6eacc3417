"""Copy trading through the real dispatcher and the real paper broker, on every backend: the provider's market
orders and their copies are sent, filled from the bundled replay prices, and recorded by the dispatcher, whose
recorded fills close a paused follower's copy when the provider goes flat. Committed data, fresh names."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from alphabook.core.config import Settings
from alphabook.core.db import Database
from alphabook.trading.copy import subscriptions
from alphabook.trading.copy.subscriptions import CopyRules
from alphabook.trading.models import Order, OrderState, TradingAccount
from alphabook.trading.outbox import Dispatcher
from tests.integration.copy_support import approved_provider, follow, place

SYMBOL = "GOOG"  # priced by the bundled replay feed the paper broker fills from


def _orders(database: Database, account_id: int) -> list[tuple[str, Decimal, str, Decimal]]:
    with database.session() as session:
        rows = session.scalars(select(Order).where(Order.account_id == account_id).order_by(Order.id))
        return [(row.side, row.quantity, row.state, row.filled_quantity) for row in rows]


def _drain(dispatcher: Dispatcher) -> None:
    while dispatcher.run_once():
        pass


def test_copies_are_sent_filled_and_closed_by_the_dispatcher(database: Database, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=database.url, trading_dispatcher_in_api=False)
    dispatcher = Dispatcher(database, settings)
    with database.session() as session:
        provider, source = approved_provider(session, settings)
        _, copying, _ = follow(session, settings, provider, rules=CopyRules(multiplier=Decimal(2)))
        paused, resting, follower = follow(session, settings, provider)
        place(session, source, "buy", "3", symbol=SYMBOL)
        ids = (source.id, copying.id, resting.id, paused.id, follower.id)
    _drain(dispatcher)
    filled = OrderState.FILLED.value
    assert _orders(database, ids[1]) == [("buy", Decimal(6), filled, Decimal(6))]
    assert _orders(database, ids[2]) == [("buy", Decimal(3), filled, Decimal(3))]
    with database.session() as session:
        subscription = session.get(type(paused), ids[3])
        user = session.get(type(follower), ids[4])
        assert subscription is not None and user is not None
        subscriptions.pause(session, user, subscription)
        account = session.get(TradingAccount, ids[0])
        assert account is not None
        place(session, account, "sell", "3", symbol=SYMBOL)
    _drain(dispatcher)  # the provider's sell fills: flat, so the paused copy is closed, and that close is sent too
    assert _orders(database, ids[0])[-1][2:] == (filled, Decimal(3))
    assert _orders(database, ids[1])[-1] == ("sell", Decimal(6), filled, Decimal(6))
    assert _orders(database, ids[2])[-1] == ("sell", Decimal(3), filled, Decimal(3))

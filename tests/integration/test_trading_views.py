"""What the demo-trading dashboard reads and does through the trading services: a signed-in trader's own paper
account, the orders that can still be cancelled, and the equity curve of a young account.

Orders are placed through the real order service and filled through its ``record`` (what the dispatcher does
with a broker's answer), on every database backend; the clock is frozen so the curve's points are exact.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from alphabook.core.clock import FrozenClock
from alphabook.core.errors import Conflict, NotFound
from alphabook.core.money import Money
from alphabook.trading import accounts, equity, orders
from alphabook.trading.models import AccountKind, OrderState
from tests.integration.copy_support import fill, paper_account, person, place

CASH = Money.of("100000", "USD")


def test_own_paper_account_is_opened_once_then_reused(session: Session) -> None:
    trader = person(session, "trader")
    first = accounts.own_paper_account(session, trader, starting_cash=CASH)
    again = accounts.own_paper_account(session, trader, starting_cash=Money.of("5", "USD"))
    assert again.id == first.id
    assert (first.kind, first.owner_id, first.starting_cash) == (AccountKind.PAPER, trader.id, CASH)
    assert [account.id for account in accounts.list_accounts(session, trader)] == [first.id]


def test_own_paper_account_prefers_an_existing_active_paper_account(session: Session) -> None:
    trader = person(session, "trader")
    existing = paper_account(session, trader, "2500")
    assert accounts.own_paper_account(session, trader, starting_cash=CASH).id == existing.id


def test_open_orders_are_those_that_may_still_fill(session: Session) -> None:
    account = paper_account(session, person(session, "trader"))
    filled = place(session, account, "buy", "2")
    fill(session, filled, "100")
    resting = place(session, account, "buy", "1", limit="90")
    assert [order.id for order in orders.open_orders(session, account)] == [resting.id]
    assert orders.open_order(session, account, resting.id).id == resting.id
    with pytest.raises(Conflict, match="already filled"):
        orders.open_order(session, account, filled.id)


def test_open_order_of_another_account_is_not_found(session: Session) -> None:
    mine, theirs = (paper_account(session, person(session, name)) for name in ("mine", "theirs"))
    order = place(session, theirs, "buy", "1", limit="90")
    with pytest.raises(NotFound):
        orders.open_order(session, mine, order.id)
    orders.cancel(session, orders.open_order(session, theirs, order.id), actor="test")
    assert order.state == OrderState.CANCELED
    assert orders.open_orders(session, theirs) == []


def test_equity_curve_runs_from_the_starting_cash_through_snapshots_to_now(session: Session,
                                                                          frozen_now: FrozenClock) -> None:
    account = paper_account(session, person(session, "trader"), "1000")
    opened = account.created_at
    frozen_now.advance(timedelta(minutes=1))
    fill(session, place(session, account, "buy", "2", symbol="XYZ"), "100", fee="1")
    frozen_now.advance(timedelta(minutes=1))
    recorded = equity.snapshot(session, account)
    frozen_now.advance(timedelta(minutes=1))
    points = equity.curve(session, account)
    assert points == [(opened, Money.of("1000", "USD")), (recorded.at, Money.of("999", "USD")),
                      (opened + timedelta(minutes=3), Money.of("999", "USD"))]
    assert recorded.at == opened + timedelta(minutes=2)
    assert recorded.cash_minor == 79_900  # 1,000 - 2 x 100 - 1 fee


def test_equity_curve_of_a_new_account_is_its_starting_cash(session: Session, frozen_now: FrozenClock) -> None:
    account = paper_account(session, person(session, "trader"), "1000")
    assert equity.curve(session, account) == [(account.created_at, Money.of("1000", "USD"))]

"""The portfolio from alphabook's own journal, against figures worked out by hand, on every database backend.

The journal below is written straight through the models (as the dispatcher records brokers' fills) for an
account that starts with 10,000.00 USD. Each line's running cash is in the comment; the round trips it holds:

====  =====================================================  ============================  =========
trip  fills                                                   P&L before fees               net
====  =====================================================  ============================  =========
XYZ   short 2 @ 50, cover 2 @ 40 (fees 0.50 + 0.50)           +20                           +19.00
AAPL  buy 10 @ 100, buy 10 @ 110 (avg 105), sell 5 @ 120,     +75 - 225                     -154.00
      sell 15 @ 90 (fees 1 each)
ABC   buy 3 @ 10, sell 5 @ 12: closes the long (+6) ...       +6                            +6.00
ABC   ... and opens a 2 @ 12 short, covered 2 @ 13            -2                            -2.00
====  =====================================================  ============================  =========

and an open MSFT position, 4 @ 250 (fee 2), marked at 260. Cash 8,867.00; market value 1,040.00; equity
9,907.00 = 10,000 + realized (-131 - 2 MSFT fee = -133) + unrealized (+40).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alphabook.core.clock import FrozenClock, utcnow
from alphabook.core.db import Database
from alphabook.core.money import Money
from alphabook.research.data import FileSource
from alphabook.trading import orders as order_service
from alphabook.trading.brokers.base import BrokerOrder, OrderRequest, OrderType, Side
from alphabook.trading.brokers.paper import PaperBroker
from alphabook.trading.costs import Costs, FixedBpsSlippage, PercentFee
from alphabook.trading.equity import EquitySnapshot, equity_history, snapshot, snapshot_accounts
from alphabook.trading.journal import CSV_COLUMNS, journal_csv, journal_page
from alphabook.trading.models import AccountKind, AccountStatus, Order, OrderFill, OrderState, TradingAccount
from alphabook.trading.portfolio import portfolio, statistics
from alphabook.trading.prices import ReplayFeed, ReplayMarket
from tests.fakes.scripted_feed import ScriptedFeed
from tests.unit.research.conftest import read_shared

D = Decimal
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def usd(amount: str) -> Money:
    return Money.of(amount, "USD")


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def new_account(session: Session, cash: str = "10000") -> TradingAccount:
    now = utcnow()
    account = TradingAccount(owner_id=None, kind=AccountKind.PAPER.value, status=AccountStatus.ACTIVE.value,
                             name="journal", broker="paper", currency="USD", starting_cash_minor=usd(cash).amount_minor,
                             kill_switch=False, limits={}, created_at=now, updated_at=now)
    session.add(account)
    session.flush()
    return account


def trade(session: Session, account: TradingAccount, minute: int, symbol: str, side: str, quantity: str, price: str,
          fee: str = "0", fee_currency: str = "USD", reason: str | None = None) -> Order:
    """One filled market order with one fill, as the dispatcher records it."""
    when = at(minute)
    order = Order(account_id=account.id, client_order_id=f"t{minute}", source="manual", symbol=symbol, side=side,
                  type="market", time_in_force="gtc", quantity=D(quantity), state=OrderState.FILLED.value,
                  broker_order_id=f"b{minute}", filled_quantity=D(quantity), average_price=D(price), reason=reason,
                  created_at=when, updated_at=when)
    order.fills.append(OrderFill(fill_id=f"f{minute}", quantity=D(quantity), price=D(price), fee=D(fee),
                                 fee_currency=fee_currency, at=when))
    session.add(order)
    session.flush()
    return order


@pytest.fixture
def journal(session: Session, frozen_now: FrozenClock) -> TradingAccount:
    account = new_account(session)
    trade(session, account, 1, "XYZ", "sell", "2", "50", "0.5")  # 10,099.50
    trade(session, account, 2, "XYZ", "buy", "2", "40", "0.5")  # 10,019.00
    trade(session, account, 3, "AAPL", "buy", "10", "100", "1")  # 9,018.00
    trade(session, account, 4, "AAPL", "buy", "10", "110", "1")  # 7,917.00
    trade(session, account, 5, "AAPL", "sell", "5", "120", "1")  # 8,516.00
    trade(session, account, 6, "AAPL", "sell", "15", "90", "1", reason="=HYPERLINK(\"http://evil\")")  # 9,865.00
    trade(session, account, 7, "ABC", "buy", "3", "10")  # 9,835.00
    trade(session, account, 8, "ABC", "sell", "5", "12")  # 9,895.00
    trade(session, account, 9, "ABC", "buy", "2", "13")  # 9,869.00
    trade(session, account, 10, "MSFT", "buy", "4", "250", "2")  # 8,867.00
    session.add(Order(account_id=account.id, client_order_id="resting", source="hook", symbol="MSFT", side="buy",
                      type="limit", time_in_force="gtc", quantity=D(1), limit_price=D("200.5"),
                      state=OrderState.NEW.value, filled_quantity=D(0), created_at=at(11), updated_at=at(11)))
    session.flush()
    return account


def test_cash_positions_and_pnl_at_average_cost(session: Session, journal: TradingAccount) -> None:
    view = portfolio(session, journal, ScriptedFeed({"MSFT": D(260)}))
    assert (view.cash, view.market_value, view.equity) == (usd("8867"), usd("1040"), usd("9907"))
    assert (view.realized_pnl, view.unrealized_pnl, view.fees) == (usd("-133"), usd("40"), usd("7"))
    assert view.equity == view.starting_cash + view.realized_pnl + view.unrealized_pnl
    [msft] = view.positions
    assert (msft.symbol, msft.quantity, msft.average_price, msft.cost_basis) == ("MSFT", 4, 250, usd("1000"))
    assert (msft.mark_price, msft.marked_by, msft.unrealized_pnl, msft.realized_pnl) == (260, "feed", usd("40"),
                                                                                          usd("-2"))
    assert msft.opened_at == at(10)


def test_without_a_feed_positions_are_marked_at_their_last_fill(session: Session, journal: TradingAccount) -> None:
    view = portfolio(session, journal)
    assert view.positions[0].mark_price == 250 and view.positions[0].marked_by == "last_fill"
    assert (view.unrealized_pnl, view.equity) == (usd("0"), usd("9867"))
    unpriced = portfolio(session, journal, ScriptedFeed({"AAPL": D(1)}))  # the feed has no MSFT: last fill
    assert unpriced.positions[0].marked_by == "last_fill"


def test_the_portfolio_at_a_past_moment_counts_the_fills_until_then(session: Session,
                                                                     journal: TradingAccount) -> None:
    view = portfolio(session, journal, ScriptedFeed({"AAPL": D(100)}), at=at(5))
    [aapl] = view.positions
    assert (aapl.quantity, aapl.average_price, aapl.realized_pnl) == (15, 105, usd("72"))  # 75 - 3 fees
    assert (view.cash, view.unrealized_pnl) == (usd("8516"), usd("-75"))
    assert view.realized_pnl == usd("91")  # XYZ's +19 and AAPL's +72


def test_statistics_of_the_round_trips(session: Session, journal: TradingAccount) -> None:
    stats = statistics(session, journal)
    assert (stats.trades, stats.wins, stats.losses) == (4, 2, 2)
    assert stats.win_rate == D("0.5")
    assert stats.profit_factor == D("0.1603")  # 25 / 156
    assert stats.expectancy == usd("-32.75")  # -131 / 4
    assert (stats.gross_profit, stats.gross_loss) == (usd("25"), usd("156"))
    assert (stats.average_win, stats.average_loss) == (usd("12.50"), usd("-78"))
    assert (stats.largest_win, stats.largest_loss) == (usd("19"), usd("-154"))
    assert stats.max_drawdown == usd("154")  # from the 10,019 peak after XYZ to 9,865 after AAPL
    assert stats.max_drawdown_pct == D("0.0154")  # 154 / 10,019
    trips = [(t.symbol, t.direction, t.quantity, t.entry_price, t.exit_price, t.pnl) for t in stats.round_trips]
    assert trips == [("XYZ", "short", 2, 50, 40, 19), ("AAPL", "long", 20, 105, D("97.5"), -154),
                     ("ABC", "long", 3, 10, 12, 6), ("ABC", "short", 2, 12, 13, -2)]
    assert [(t.opened_at, t.closed_at) for t in stats.round_trips] == [(at(1), at(2)), (at(3), at(6)),
                                                                        (at(7), at(8)), (at(8), at(9))]
    assert sum(t.fees for t in stats.round_trips) == 5  # MSFT's fee belongs to a trip still open


def test_statistics_without_trades(session: Session, frozen_now: FrozenClock) -> None:
    stats = statistics(session, new_account(session))
    assert (stats.trades, stats.win_rate, stats.profit_factor, stats.expectancy) == (0, None, None, None)
    assert (stats.max_drawdown, stats.max_drawdown_pct) == (usd("0"), None)


def test_fees_in_the_traded_asset_count_at_the_fill_price_and_others_stand_apart(session: Session,
                                                                                  frozen_now: FrozenClock) -> None:
    account = new_account(session, "50000")
    trade(session, account, 1, "BTC/USDT", "buy", "1", "30000", "0.001", fee_currency="BTC")  # Binance's commission
    trade(session, account, 2, "BTC/USDT", "sell", "1", "31000", "0.01", fee_currency="BNB")
    trade(session, account, 3, "ETH/USDT", "buy", "2", "2000", "1.5", fee_currency="USDT")  # the quote: cash
    view = portfolio(session, account)
    assert view.fees == usd("31.50")  # 0.001 BTC at 30,000, and 1.50 USDT
    assert view.unconverted_fees == {"BNB": D("0.01")}
    assert view.cash == usd("46968.50")  # 50,000 - 30,000 - 30 + 31,000 - 4,000 - 1.50
    assert statistics(session, account).round_trips[0].pnl == 970


def test_the_journal_pages_newest_first(session: Session, journal: TradingAccount) -> None:
    seen: list[int] = []
    cursor = None
    while True:
        page = journal_page(session, journal, limit=4, cursor=cursor)
        seen.extend(entry.order.id for entry in page.entries)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == 11 and seen == sorted(seen, reverse=True)
    first = journal_page(session, journal, limit=3).entries
    assert [entry.order.client_order_id for entry in first] == ["resting", "t10", "t9"]
    assert (first[2].realized_pnl, first[2].fees) == (usd("-2"), usd("0"))


def test_the_journal_as_csv(session: Session, journal: TradingAccount) -> None:
    text = "".join(journal_csv(session, journal, batch=4))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 11
    by_id = {row["client_order_id"]: row for row in rows}
    big_sale = by_id["t6"]
    assert (big_sale["quantity"], big_sale["average_price"], big_sale["fees"], big_sale["realized_pnl"]) == (
        "15", "90", "1.00", "-226.00")  # (90 - 105) x 15 - 1
    assert big_sale["created_at"] == "2026-03-02T09:06:00Z" and big_sale["currency"] == "USD"
    assert big_sale["reason"] == "'=HYPERLINK(\"http://evil\")"  # never a formula in a spreadsheet
    assert (by_id["resting"]["limit_price"], by_id["resting"]["average_price"], by_id["resting"]["fills"]) == (
        "200.5", "", "0")
    assert [row["client_order_id"] for row in rows] == [f"t{n}" for n in range(1, 11)] + ["resting"]
    assert text.endswith("\r\n") and "E-" not in text and "E+" not in text


def test_equity_snapshots_are_written_once_per_instant(session: Session, journal: TradingAccount,
                                                       frozen_now: FrozenClock) -> None:
    feed = ScriptedFeed({"MSFT": D(260)})
    first = snapshot(session, journal, feed)
    assert (first.at, first.equity, first.cash_minor, first.market_value_minor) == (utcnow(), usd("9907"),
                                                                                     886_700, 104_000)
    assert (first.realized_pnl_minor, first.unrealized_pnl_minor) == (-13_300, 4_000)
    assert snapshot(session, journal, feed) is first  # the same instant again: the same row
    frozen_now.advance(timedelta(hours=1))
    feed.set_price("MSFT", D(240))
    later = snapshot(session, journal, feed)
    assert later.equity == usd("9827")
    past = snapshot(session, journal, at=at(5))  # rebuilding a missed one: the fills until then
    assert past.cash_minor == 851_600
    assert [row.equity for row in equity_history(session, journal.id)] == [past.equity, usd("9907"), usd("9827")]
    assert [row.at for row in equity_history(session, journal.id, since=at(6), until=utcnow())] == [first.at]
    assert [row.at for row in equity_history(session, journal.id, limit=1)] == [later.at]
    assert snapshot_accounts(session, feed) >= 1
    assert session.get(EquitySnapshot, later.id) is not None
    assert len(equity_history(session, journal.id)) == 3  # the job's instant was already recorded


# --- the same numbers from the paper broker, through the order service -------------------------------------------


@pytest.fixture
def replay(frozen_now: FrozenClock, tmp_path: Path) -> ReplayFeed:
    frame = read_shared("binance_BTCUSDT_5m.csv.gz").loc["2025-01-01 12:00":"2025-01-02 12:00"]
    path = tmp_path / "binance_BTCUSDT_5m.csv"
    frame.to_csv(path, index_label="timestamp")
    return ReplayFeed(FileSource(path), {"BTC/USDT": ReplayMarket("BINANCE:BTC/USDT", "5m",
                                                                 datetime(2025, 1, 2, tzinfo=UTC))}, anchor=utcnow())


def test_the_portfolio_agrees_with_the_paper_broker_it_recorded(database: Database, replay: ReplayFeed,
                                                                 frozen_now: FrozenClock) -> None:
    with database.session() as session:
        account_id = new_account(session, "100000").id
    broker = PaperBroker(database, account_id, replay, Costs(PercentFee(D("0.001"), D("0.0005")),
                                                             FixedBpsSlippage(D(3))))
    plan = [OrderRequest("buy-1", "BTC/USDT", Side.BUY, OrderType.MARKET, D("0.3")),
            OrderRequest("buy-2", "BTC/USDT", Side.BUY, OrderType.LIMIT, D("0.2"), limit_price=D(94400)),
            OrderRequest("sell-1", "BTC/USDT", Side.SELL, OrderType.LIMIT, D("0.25"), limit_price=D(95200))]
    with database.session() as session:  # the orders as the order service writes them, before dispatch
        for request in plan:
            session.add(Order(account_id=account_id, client_order_id=request.client_order_id, source="manual",
                              symbol=request.symbol, side=request.side.value, type=request.type.value,
                              time_in_force="gtc", quantity=request.quantity, limit_price=request.limit_price,
                              state=OrderState.PENDING.value, filled_quantity=D(0), created_at=utcnow(),
                              updated_at=utcnow()))

    def record(views: list[BrokerOrder]) -> None:
        """What the dispatcher does with the broker's answers (after, never inside, the broker's transaction)."""
        with database.session() as session:
            for view in views:
                order = session.scalar(select(Order).where(Order.account_id == account_id,
                                                           Order.client_order_id == view.client_order_id))
                assert order is not None
                order_service.record(session, order, view)

    record([broker.place(request) for request in plan])
    for _ in range(36):  # three hours of candles
        frozen_now.advance(timedelta(minutes=5))
        record(broker.match())
    with database.session() as session:
        account = session.get(TradingAccount, account_id)
        assert account is not None
        view = portfolio(session, account, replay)
    placed = [broker.find_order(request.client_order_id, "BTC/USDT") for request in plan]
    assert [order.status.value if order else None for order in placed] == ["filled"] * 3, "every order must fill"
    [position] = broker.positions()
    [held] = view.positions
    assert (held.quantity, held.average_price) == (position.quantity, position.average_price)
    cash = next(balance.total for balance in broker.balances() if balance.currency == "USD")
    assert view.cash == Money(round(cash * 100), "USD")
    assert view.equity == view.starting_cash + view.realized_pnl + view.unrealized_pnl
    assert held.mark_price == replay.price("BTC/USDT")


def test_journal_helpers_accept_an_empty_account(session: Session, frozen_now: FrozenClock) -> None:
    account = new_account(session)
    assert journal_page(session, account).entries == [] and journal_page(session, account).next_cursor is None
    assert "".join(journal_csv(session, account)).splitlines() == [",".join(CSV_COLUMNS)]
    assert portfolio(session, account).equity == usd("10000")
    assert portfolio(session, account).as_of == utcnow()

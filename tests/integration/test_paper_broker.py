"""The paper broker on real, replayed market data, on every database backend.

The market is a ``ReplayFeed`` over real Binance BTC/USDT 5-minute candles (``../shared/data``) from
2025-01-02 00:00, pinned to the frozen test clock: each ``step`` moves the clock five minutes, completing one
candle, and runs ``match`` as the scheduler would. Every expected fill is worked out here from the candles
themselves (the first bar whose low reaches a buy limit, and so on) and priced by hand with the test's cost
model: 0.1 % taker and 0.05 % maker fees, 5 bps of slippage on taker fills. Gaps come from Oracle's real
-29 % open of 1997-12-09 (Yahoo daily bars); the offline demo runs on the bundled GOOG sample; live tickers
come from a local Binance. Accounts are committed (the broker runs its own transactions), one per test.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import ccxt
import pandas as pd
import pytest

from alphabook.core.clock import FrozenClock, utcnow
from alphabook.core.db import Database
from alphabook.core.errors import RejectedError
from alphabook.core.money import Money
from alphabook.research.data import BundledSource, FileSource
from alphabook.trading.brokers.base import (
    BrokerOrder,
    InsufficientFunds,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from alphabook.trading.brokers.paper import PaperBroker, working_accounts
from alphabook.trading.costs import Costs, FixedBpsSlippage, PercentFee, exact
from alphabook.trading.models import AccountKind, AccountStatus, TradingAccount
from alphabook.trading.prices import CcxtTickerFeed, PriceFeed, ReplayFeed, ReplayMarket, to_decimal
from tests.fakes.fake_exchange import FakeBinance
from tests.fakes.scripted_feed import ScriptedFeed
from tests.unit.research.conftest import SHARED_DATA, read_shared

D = Decimal
BTC = "BTC/USDT"
START = datetime(2025, 1, 2, tzinfo=UTC)
FIVE = timedelta(minutes=5)
TAKER, MAKER, SLIP = D("0.001"), D("0.0005"), D("0.0005")
COSTS = Costs(fees=PercentFee(taker=TAKER, maker=MAKER), slippage=FixedBpsSlippage(D(5)))


def new_account(database: Database, cash: str = "100000") -> int:
    with database.session() as session:
        now = utcnow()
        account = TradingAccount(owner_id=None, kind=AccountKind.PAPER.value, status=AccountStatus.ACTIVE.value,
                                 name="paper test", broker="paper", currency="USD",
                                 starting_cash_minor=Money.of(cash, "USD").amount_minor, kill_switch=False, limits={},
                                 created_at=now, updated_at=now)
        session.add(account)
        session.flush()
        return account.id


@pytest.fixture(scope="module")
def candles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    frame = read_shared("binance_BTCUSDT_5m.csv.gz").loc["2025-01-01 12:00":"2025-01-03 06:00"]
    path = tmp_path_factory.mktemp("candles") / "binance_BTCUSDT_5m.csv"
    frame.to_csv(path, index_label="timestamp")
    return path, frame


@dataclass
class Venue:
    """A paper account on the replayed BTC market, and the candles it plays (for working out expectations)."""

    broker: PaperBroker
    clock: FrozenClock
    frame: pd.DataFrame  # bars from START on, in order: bar i completes at anchor + (i + 1) x 5 min
    quote: Decimal  # the close of the last bar before START: what the market shows when the test begins
    anchor: datetime

    def step(self, bars: int = 1) -> list[BrokerOrder]:
        changed: list[BrokerOrder] = []
        for _ in range(bars):
            self.clock.advance(FIVE)
            changed.extend(self.broker.match())
        return changed

    def bar(self, index: int) -> pd.Series:
        return self.frame.iloc[index]

    def price(self, index: int, column: str) -> Decimal:
        return to_decimal(self.frame.iloc[index][column])

    def first(self, condition: pd.Series) -> int:
        hits = [index for index, hit in enumerate(condition.to_numpy()) if hit]
        assert hits and hits[0] < 200, "the scenario needs the market to get there within a few hours"
        return hits[0]

    def cash(self) -> tuple[Decimal, Decimal]:
        (balance,) = [row for row in self.broker.balances() if row.currency == "USD"]
        return balance.total, balance.available


def venue_for(database: Database, frozen: FrozenClock, candles: tuple[Path, pd.DataFrame], *, cash: str = "100000",
              **options: object) -> Venue:
    path, frame = candles
    feed = ReplayFeed(FileSource(path), {BTC: ReplayMarket("BINANCE:BTC/USDT", "5m", START)}, anchor=utcnow())
    broker = PaperBroker(database, new_account(database, cash), feed, COSTS, **options)  # type: ignore[arg-type]
    return Venue(broker, frozen, frame[frame.index >= START], to_decimal(frame[frame.index < START].close.iloc[-1]),
                 utcnow())


@pytest.fixture
def venue(database: Database, frozen_now: FrozenClock, candles: tuple[Path, pd.DataFrame]) -> Venue:
    return venue_for(database, frozen_now, candles)


def request(client_id: str, side: Side = Side.BUY, kind: OrderType = OrderType.MARKET, quantity: str = "0.4", *,
            limit: Decimal | None = None, stop: Decimal | None = None, tif: TimeInForce = TimeInForce.GTC,
            symbol: str = BTC) -> OrderRequest:
    return OrderRequest(client_id, symbol, side, kind, D(quantity), limit_price=limit, stop_price=stop,
                        time_in_force=tif)


def taker(price: Decimal, side: Side) -> Decimal:
    return exact(price * (1 + SLIP) if side is Side.BUY else price * (1 - SLIP))


def fee(quantity: str, price: Decimal, rate: Decimal) -> Decimal:
    return exact(exact(D(quantity) * price) * rate)


# --- market orders -----------------------------------------------------------------------------------------


def test_market_orders_fill_at_the_replayed_price_with_slippage_and_fees(venue: Venue) -> None:
    bought = venue.broker.place(request("mkt-buy"))
    buy_price = taker(venue.quote, Side.BUY)
    assert bought.status is OrderStatus.FILLED and bought.filled_quantity == D("0.4")
    [fill] = bought.fills
    assert (fill.price, fill.fee, fill.fee_currency, fill.at) == (buy_price, fee("0.4", buy_price, TAKER), "USD",
                                                                 venue.anchor)
    venue.step(12)  # an hour later
    sold = venue.broker.place(request("mkt-sell", Side.SELL))
    sell_price = taker(venue.price(11, "close"), Side.SELL)
    assert sold.average_price == sell_price and sold.fills[0].fee == fee("0.4", sell_price, TAKER)
    total, available = venue.cash()
    assert total == available == (D(100_000) - exact(D("0.4") * buy_price) - fee("0.4", buy_price, TAKER)
                                  + exact(D("0.4") * sell_price) - fee("0.4", sell_price, TAKER))
    assert venue.broker.positions() == []


# --- limit orders ------------------------------------------------------------------------------------------


def test_a_buy_limit_rests_until_a_bar_trades_down_to_it(venue: Venue) -> None:
    limit = venue.quote - 150
    placed = venue.broker.place(request("limit-buy", kind=OrderType.LIMIT, limit=limit))
    assert placed.status is OrderStatus.NEW and not placed.fills
    total, available = venue.cash()
    assert total - available == exact(D("0.4") * limit) + fee("0.4", limit, TAKER)  # held back: the worst fee
    hit = venue.first(venue.frame.low <= float(limit))
    assert venue.step(hit) == []  # the bars before it do not reach the limit
    [filled] = venue.step()
    price = min(limit, venue.price(hit, "open"))
    assert filled.status is OrderStatus.FILLED and filled.average_price == price
    assert [(fill.price, fill.fee, fill.at) for fill in filled.fills] == [
        (price, fee("0.4", price, MAKER), venue.anchor + (hit + 1) * FIVE)]  # a maker fill, when the bar completed
    assert venue.cash() == (D(100_000) - exact(D("0.4") * price) - fee("0.4", price, MAKER),) * 2
    assert venue.step() == []  # nothing matches twice


def test_a_sell_limit_fills_when_a_bar_trades_up_to_it(venue: Venue) -> None:
    venue.broker.place(request("own-some"))
    limit = venue.quote + 600
    placed = venue.broker.place(request("limit-sell", Side.SELL, OrderType.LIMIT, limit=limit))
    assert [(row.currency, row.available) for row in venue.broker.balances()] == [("BTC", 0), ("USD", venue.cash()[1])]
    hit = venue.first(venue.frame.high >= float(limit))
    changed = venue.step(hit + 1)
    assert [order.broker_order_id for order in changed] == [placed.broker_order_id]
    assert changed[0].average_price == max(limit, venue.price(hit, "open"))
    assert venue.broker.positions() == []


# --- stop and stop-limit orders ------------------------------------------------------------------------------


def test_a_buy_stop_triggers_on_the_bar_that_trades_through_it(venue: Venue) -> None:
    stop = venue.quote + 700
    placed = venue.broker.place(request("stop-buy", kind=OrderType.STOP, stop=stop))
    assert placed.status is OrderStatus.NEW
    hit = venue.first(venue.frame.high >= float(stop))
    assert venue.step(hit) == []
    [filled] = venue.step()
    assert filled.average_price == taker(max(stop, venue.price(hit, "open")), Side.BUY)  # a market order now
    assert filled.fills[0].fee == fee("0.4", filled.average_price, TAKER)


def test_a_sell_stop_protects_a_position(venue: Venue) -> None:
    venue.broker.place(request("own"))
    stop = venue.quote - 150
    placed = venue.broker.place(request("stop-loss", Side.SELL, OrderType.STOP, stop=stop))
    hit = venue.first(venue.frame.low <= float(stop))
    [filled] = venue.step(hit + 1)
    assert filled.broker_order_id == placed.broker_order_id
    assert filled.average_price == taker(min(stop, venue.price(hit, "open")), Side.SELL)


def test_a_stop_limit_fills_within_its_limit_when_triggered(venue: Venue) -> None:
    stop = venue.quote + 700
    limit = stop + 20
    venue.broker.place(request("stop-limit", kind=OrderType.STOP_LIMIT, stop=stop, limit=limit))
    hit = venue.first(venue.frame.high >= float(stop))
    [filled] = venue.step(hit + 1)
    trigger = max(stop, venue.price(hit, "open"))
    assert trigger <= limit < taker(trigger, Side.BUY)
    assert filled.average_price == limit  # slippage would have passed the limit: a limit is never passed


@pytest.fixture
def orcl_gap(database: Database, frozen_now: FrozenClock) -> tuple[PaperBroker, FrozenClock]:
    """Oracle on 1997-12-08 (close 5.395833), the evening before it opened 29 % lower; a trading day a minute."""
    source = FileSource(SHARED_DATA / "yahoo_ORCL_1d.csv.gz")
    feed = ReplayFeed(source, {"ORCL": ReplayMarket("YAHOO:ORCL", "1d", datetime(1997, 12, 9, tzinfo=UTC))},
                      anchor=utcnow(), speed=1440)
    return PaperBroker(database, new_account(database), feed), frozen_now


def test_a_gap_fills_a_stop_at_the_open_and_leaves_a_stop_limit_resting(
        orcl_gap: tuple[PaperBroker, FrozenClock]) -> None:
    broker, frozen = orcl_gap
    assert broker.place(request("own-orcl", quantity="1000", symbol="ORCL")).average_price == D("5.395833")
    stop = broker.place(request("orcl-stop", Side.SELL, OrderType.STOP, "500", stop=D(5), symbol="ORCL"))
    stop_limit = broker.place(request("orcl-stop-limit", Side.SELL, OrderType.STOP_LIMIT, "500", stop=D(5),
                                      limit=D("4.75"), symbol="ORCL"))
    frozen.advance(timedelta(minutes=1))  # 1997-12-09 completes: open 3.833333
    changed = {order.client_order_id: order for order in broker.match()}
    assert changed["orcl-stop"].status is OrderStatus.FILLED
    assert changed["orcl-stop"].average_price == D("3.833333")  # far below the stop: what a gap costs
    assert changed["orcl-stop-limit"].status is OrderStatus.NEW  # triggered (it changed), but below its limit
    completed = utcnow()
    frozen.advance(timedelta(minutes=30))  # a month of bars, none back up to 4.75
    broker.match()
    assert broker.fetch_order(stop_limit.broker_order_id, "ORCL").status is OrderStatus.NEW
    assert broker.fetch_order(stop.broker_order_id, "ORCL").fills[0].at == completed  # when the bar completed


# --- time in force -------------------------------------------------------------------------------------------


def test_ioc_orders_fill_at_once_or_not_at_all(venue: Venue) -> None:
    marketable = venue.broker.place(request("ioc-fill", kind=OrderType.LIMIT, limit=venue.quote + 10,
                                            tif=TimeInForce.IOC))
    assert marketable.status is OrderStatus.FILLED
    assert marketable.average_price == venue.quote + 10  # the quote plus slippage, capped at the limit
    resting = venue.broker.place(request("ioc-miss", kind=OrderType.LIMIT, limit=venue.quote - 150,
                                         tif=TimeInForce.IOC))
    stop = venue.broker.place(request("ioc-stop", kind=OrderType.STOP, stop=venue.quote + 700, tif=TimeInForce.IOC))
    for order in (resting, stop):
        assert order.status is OrderStatus.CANCELED and order.filled_quantity == 0 and order.reason
    total, available = venue.cash()
    assert total == available  # nothing held back
    assert venue.step(30) == []  # the market later reaches both prices: they are gone


def test_a_day_order_expires_at_the_end_of_the_utc_day_and_a_gtc_order_does_not(venue: Venue) -> None:
    far = (venue.quote * D("0.8")).quantize(D("0.01"))
    day = venue.broker.place(request("day", kind=OrderType.LIMIT, limit=far, tif=TimeInForce.DAY))
    gtc = venue.broker.place(request("gtc", kind=OrderType.LIMIT, limit=far))
    midnight = datetime.combine(venue.anchor.date() + timedelta(days=1), datetime.min.time(), UTC)
    venue.clock.advance(midnight - venue.anchor - timedelta(seconds=1))
    assert venue.broker.match() == []
    venue.clock.advance(timedelta(seconds=1))
    [expired] = venue.broker.match()
    assert (expired.broker_order_id, expired.status) == (day.broker_order_id, OrderStatus.EXPIRED)
    assert venue.broker.fetch_order(gtc.broker_order_id, BTC).status is OrderStatus.NEW
    assert venue.cash()[0] - venue.cash()[1] == exact(D("0.4") * far) + fee("0.4", far, TAKER)  # only the GTC's


def test_market_orders_fill_whatever_their_time_in_force(venue: Venue) -> None:
    for tif in TimeInForce:
        assert venue.broker.place(request(f"mkt-{tif}", quantity="0.1", tif=tif)).status is OrderStatus.FILLED


# --- volume, cancel, replace ---------------------------------------------------------------------------------


def test_a_volume_cap_fills_a_large_order_over_several_bars(database: Database, frozen_now: FrozenClock,
                                                            candles: tuple[Path, pd.DataFrame]) -> None:
    venue = venue_for(database, frozen_now, candles, cash="500000", max_volume_share=D("0.01"))
    limit = venue.quote - 150
    placed = venue.broker.place(request("large", kind=OrderType.LIMIT, quantity="1.2", limit=limit))
    remaining, expected = D("1.2"), []
    for index in range(venue.first(venue.frame.low <= float(limit)), len(venue.frame)):
        if remaining == 0:
            break
        if venue.price(index, "low") <= limit:
            part = min(remaining, (venue.price(index, "volume") * D("0.01")).quantize(D("1e-8"), ROUND_DOWN))
            expected.append((part, min(limit, venue.price(index, "open"))))
            remaining -= part
    assert len(expected) >= 2, "the cap should split this order"
    statuses = [order.status for order in venue.step(len(venue.frame) - 1)]
    assert OrderStatus.PARTIALLY_FILLED in statuses
    done = venue.broker.fetch_order(placed.broker_order_id, BTC)
    assert [(fill.quantity, fill.price) for fill in done.fills] == expected
    assert [fill.fill_id for fill in done.fills] == [f"{placed.client_order_id}-{n}" for n in range(1, len(expected)
                                                                                                    + 1)]
    assert sum(fill.fee for fill in done.fills) == sum(fee(str(q), p, MAKER) for q, p in expected)


def test_cancel_releases_what_an_order_held(venue: Venue) -> None:
    before = venue.cash()
    placed = venue.broker.place(request("to-cancel", kind=OrderType.LIMIT, limit=venue.quote - 150))
    assert venue.cash()[1] < before[1]
    cancelled = venue.broker.cancel(placed.broker_order_id, BTC)
    assert cancelled.status is OrderStatus.CANCELED and venue.cash() == before
    assert venue.step(30) == []
    with pytest.raises(RejectedError):
        venue.broker.cancel(placed.broker_order_id, "ETH/USDT")  # the id with another symbol is not that order
    with pytest.raises(RejectedError):
        venue.broker.fetch_order("not-an-id", BTC)


def test_replace_is_atomic_and_retries_return_the_replacement(venue: Venue) -> None:
    old = venue.broker.place(request("old", kind=OrderType.LIMIT, quantity="0.5", limit=venue.quote - 150))
    held = venue.cash()[0] - venue.cash()[1]
    with pytest.raises(InsufficientFunds):  # 2 BTC at that price is beyond the account: nothing changes
        venue.broker.replace(old.broker_order_id, BTC, request("too-big", kind=OrderType.LIMIT, quantity="2",
                                                               limit=venue.quote - 140))
    assert venue.broker.fetch_order(old.broker_order_id, BTC).status is OrderStatus.NEW
    assert venue.cash()[0] - venue.cash()[1] == held and venue.broker.find_order("too-big", BTC) is None
    replacement = request("new", kind=OrderType.LIMIT, quantity="0.5", limit=venue.quote - 140)
    new = venue.broker.replace(old.broker_order_id, BTC, replacement)
    assert venue.broker.replace(old.broker_order_id, BTC, replacement) == new  # a retried replace
    assert venue.broker.capabilities.native_replace
    cancelled = venue.broker.fetch_order(old.broker_order_id, BTC)
    assert (cancelled.status, cancelled.reason) == (OrderStatus.CANCELED, "replaced by new")
    assert venue.cash()[0] - venue.cash()[1] == exact(D("0.5") * (venue.quote - 140)) + fee(
        "0.5", venue.quote - 140, TAKER)


# --- money rules ---------------------------------------------------------------------------------------------


def test_orders_beyond_cash_or_holdings_raise_insufficient_funds(venue: Venue) -> None:
    with pytest.raises(InsufficientFunds, match="available"):
        venue.broker.place(request("too-big", quantity="1.1"))  # 104k with fees against 100k
    venue.broker.place(request("holds", kind=OrderType.LIMIT, quantity="0.6", limit=venue.quote - 150))
    with pytest.raises(InsufficientFunds, match="holds back"):  # 0.6 is held; 0.5 more at the limit is too much
        venue.broker.place(request("too-big-too", kind=OrderType.LIMIT, quantity="0.5", limit=venue.quote - 150))
    with pytest.raises(InsufficientFunds, match="short selling is off"):
        venue.broker.place(request("naked", Side.SELL))
    venue.broker.place(request("some", quantity="0.3"))
    venue.broker.place(request("sell-some", Side.SELL, OrderType.LIMIT, "0.2", limit=venue.quote + 600))
    with pytest.raises(InsufficientFunds):  # 0.2 of the 0.3 are promised to the resting sell
        venue.broker.place(request("sell-more", Side.SELL, quantity="0.2"))
    assert [order.client_order_id for order in [venue.broker.find_order(name, BTC) for name in
                                                ("too-big", "too-big-too", "naked", "sell-more")] if order] == []


def test_with_shorting_a_short_locks_its_proceeds_and_as_much_again(database: Database, frozen_now: FrozenClock,
                                                                     candles: tuple[Path, pd.DataFrame]) -> None:
    venue = venue_for(database, frozen_now, candles, allow_short=True)
    assert venue.broker.capabilities.short_selling
    short = venue.broker.place(request("short", Side.SELL, quantity="0.5"))
    price = taker(venue.quote, Side.SELL)
    assert short.status is OrderStatus.FILLED and venue.broker.positions()[0].quantity == D("-0.5")
    total, available = venue.cash()
    assert total == D(100_000) + exact(D("0.5") * price) - fee("0.5", price, TAKER)
    assert available == total - 2 * D("0.5") * price
    with pytest.raises(InsufficientFunds, match="collateral"):
        venue.broker.place(request("short-more", Side.SELL, quantity="0.6"))
    venue.step(6)
    cover = venue.broker.place(request("cover", quantity="0.5")).average_price
    assert cover == taker(venue.price(5, "close"), Side.BUY)
    assert venue.broker.positions() == []
    total, available = venue.cash()
    assert total == available == (D(100_000) + exact(D("0.5") * price) - exact(D("0.5") * cover)
                                  - fee("0.5", price, TAKER) - fee("0.5", cover, TAKER))


def test_a_stop_the_account_cannot_pay_for_when_it_gaps_is_cancelled(database: Database,
                                                                     frozen_now: FrozenClock) -> None:
    feed = ScriptedFeed({BTC: D(30_000)})
    broker = PaperBroker(database, new_account(database, "1000"), feed)
    placed = broker.place(request("gap-stop", kind=OrderType.STOP, quantity="0.03", stop=D(31_000)))  # holds 930
    feed.set_price(BTC, D(40_000))  # gaps: 1200 needed
    [cancelled] = broker.match()
    assert cancelled.broker_order_id == placed.broker_order_id and cancelled.status is OrderStatus.CANCELED
    assert cancelled.reason is not None and "insufficient funds" in cancelled.reason
    assert broker.balances()[0].available == D(1000)


def test_the_same_client_order_id_places_one_order(venue: Venue) -> None:
    first = venue.broker.place(request("once"))
    again = venue.broker.place(request("once"))
    assert again == first and venue.broker.find_order("once", BTC) == first
    assert venue.broker.find_order("once", "ETH/USDT") is None
    assert venue.broker.positions()[0].quantity == D("0.4")
    with pytest.raises(RejectedError):
        venue.broker.place(request("unknown", symbol="XRP/USDT"))
    with pytest.raises(RejectedError, match="precision"):
        venue.broker.place(request("too-fine", quantity="0.00000000001"))


def test_a_burst_repeating_an_order_placed_before_places_the_others_and_answers_the_repeat_with_it(
        venue: Venue) -> None:
    """Found before anything of the burst is decided: not taken for a new order (here the cash would not have
    covered it, and the repeat would have been refused)."""
    earlier = venue.broker.place(request("earlier"))
    answers = venue.broker.place_many([request("new-1"), request("earlier"), request("new-2", quantity="0.2")])
    assert answers[1] == earlier
    assert [answer.status for answer in answers if isinstance(answer, BrokerOrder)] == [OrderStatus.FILLED] * 3
    assert venue.broker.positions()[0].quantity == D("1.0")  # 0.4 + 0.4 + 0.2: the repeat is not placed again


def test_a_burst_placed_at_once_is_decided_in_sequence_and_a_refusal_stops_no_other(
        database: Database, frozen_now: FrozenClock, candles: tuple[Path, pd.DataFrame]) -> None:
    """What the dispatcher does with a burst of alerts: one call, one transaction, each order seeing the cash the
    ones before it left; the one that cannot be paid for is refused alone and leaves no trace at the venue."""
    venue, one_by_one = venue_for(database, frozen_now, candles), venue_for(database, frozen_now, candles)
    burst = [request("burst-1", quantity="0.5"),  # about 47k of the 100k
             request("burst-rest", Side.BUY, OrderType.LIMIT, "0.4", limit=venue.quote - 150),  # holds ~38k
             request("burst-too-much", quantity="0.3"),  # 28k more than what is left
             request("burst-sell", Side.SELL, quantity="0.2"),  # of the 0.5 bought first
             request("burst-1", quantity="0.5"),  # the first one again: answered with it, placed once
             request("burst-unknown", symbol="XRP/USDT"),
             request("burst-small", quantity="0.05")]
    answers = venue.broker.place_many(burst)
    assert len(answers) == len(burst)
    first, resting, refused, sold, again, unknown, small = answers
    assert isinstance(first, BrokerOrder) and first.status is OrderStatus.FILLED
    assert isinstance(resting, BrokerOrder) and resting.status is OrderStatus.NEW
    assert isinstance(refused, InsufficientFunds) and "available" in refused.detail
    assert isinstance(sold, BrokerOrder) and sold.status is OrderStatus.FILLED
    assert again == first
    assert isinstance(unknown, RejectedError) and not isinstance(unknown, InsufficientFunds)
    assert isinstance(small, BrokerOrder) and small.status is OrderStatus.FILLED
    assert venue.broker.find_order("burst-too-much", BTC) is None
    assert venue.broker.positions()[0].quantity == D("0.35")  # 0.5 - 0.2 + 0.05
    buy, sell = taker(venue.quote, Side.BUY), taker(venue.quote, Side.SELL)
    total, available = venue.cash()
    assert total == (D(100_000) - exact(D("0.5") * buy) - fee("0.5", buy, TAKER) + exact(D("0.2") * sell)
                     - fee("0.2", sell, TAKER) - exact(D("0.05") * buy) - fee("0.05", buy, TAKER))
    held = exact(D("0.4") * (venue.quote - 150)) + fee("0.4", venue.quote - 150, TAKER)  # the worst fee: taker
    assert available == total - held
    for order in burst:  # the same orders placed one at a time leave the same account
        with contextlib.suppress(RejectedError):
            one_by_one.broker.place(order)
    assert one_by_one.cash() == venue.cash() and one_by_one.broker.positions() == venue.broker.positions()


@pytest.mark.parametrize("kind", [OrderType.MARKET, OrderType.LIMIT])
def test_concurrent_orders_cannot_spend_the_same_cash(venue: Venue, kind: OrderType) -> None:
    """Eight threads each try to buy 30 % of the account at once: three can be paid for, five cannot."""
    start = threading.Barrier(8)
    limit = venue.quote if kind is OrderType.LIMIT else None  # marketable or not, it must be paid for

    def buy(number: int) -> str:
        start.wait()
        try:
            return venue.broker.place(request(f"race-{number}", kind=kind, quantity="0.31",
                                              limit=None if limit is None else limit - 150)).status.value
        except InsufficientFunds:
            return "insufficient"

    with ThreadPoolExecutor(8) as pool:
        outcomes = sorted(pool.map(buy, range(8)))
    expected = "filled" if kind is OrderType.MARKET else "new"
    assert outcomes == [expected] * 3 + ["insufficient"] * 5 or outcomes == ["insufficient"] * 5 + [expected] * 3
    total, available = venue.cash()
    assert available >= 0 and total >= 0


def test_working_accounts_are_listed_for_the_matching_job(venue: Venue, database: Database) -> None:
    assert venue.broker.account_id not in working_accounts(database)
    venue.broker.place(request("rest", kind=OrderType.LIMIT, limit=venue.quote - 150))
    assert venue.broker.account_id in working_accounts(database)


# --- other feeds ---------------------------------------------------------------------------------------------


def test_the_offline_demo_trades_the_bundled_goog_sample(database: Database, frozen_now: FrozenClock) -> None:
    feed = ReplayFeed.bundled(anchor=utcnow())
    broker = PaperBroker(database, new_account(database), feed)
    goog = BundledSource().fetch_bars("NASDAQ:GOOG", "1d", datetime(2010, 12, 1, tzinfo=UTC),
                                      datetime(2011, 1, 6, tzinfo=UTC))
    assert broker.place(request("goog", quantity="10", symbol="GOOG")).average_price == to_decimal(
        goog.close.loc[:"2010-12-31"].iloc[-1])
    frozen_now.advance(timedelta(days=2))  # two trading days later
    sold = broker.place(request("goog-out", Side.SELL, quantity="10", symbol="GOOG"))
    assert sold.average_price == to_decimal(goog.close.loc["2011-01-04"])


def test_live_tickers_fill_buys_at_the_ask_and_sells_at_the_bid(database: Database, frozen_now: FrozenClock,
                                                                 candles: tuple[Path, pd.DataFrame]) -> None:
    with FakeBinance({(BTC, "5m"): candles[1]}) as exchange:
        exchange.set_ticker(BTC, bid=94590.5, ask=94591.78, last=94591.1)
        feed: PriceFeed = CcxtTickerFeed(ccxt.binance({**exchange.ccxt_config(), "enableRateLimit": False}),
                                         timeframe="5m")
        broker = PaperBroker(database, new_account(database), feed)
        assert broker.place(request("live-buy")).average_price == D("94591.78")
        assert broker.place(request("live-sell", Side.SELL)).average_price == D("94590.5")
        assert broker.capabilities.live is False

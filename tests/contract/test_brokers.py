"""One contract for every Broker, run over the cases in :mod:`tests.contract.broker_cases`.

What the dispatcher, the risk checks and copy trading rely on, checked through the Broker interface alone:
orders of every type reach the state the contract names (market orders fill with identified fills, limits rest
until the price crosses them, stops wait for their trigger, an IOC that cannot fill is not left working),
cancel and replace behave as documented for working and for final orders, an order is found by our client id
and never placed twice under it (also when a reply is lost or a request times out), refusals raise
InsufficientFunds or RejectedError, temporary failures are retried and end in TemporaryError after the retry
policy, positions and balances follow the fills, and ``capabilities.live`` tells real money from play money.

Venues route orders asynchronously (Alpaca answers a placement before it fills), so tests read an order's
outcome with :func:`settled` rather than from the placement's answer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from alphabook.core.errors import ConfigurationError, RejectedError, TemporaryError
from alphabook.trading.brokers.alpaca import LIVE_URL, PAPER_URL, AlpacaBroker
from alphabook.trading.brokers.base import (
    Balance,
    Broker,
    BrokerOrder,
    InsufficientFunds,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from alphabook.trading.brokers.ccxt import CcxtBroker
from tests.contract.broker_cases import CASES, OFFLINE_CASES, RETRY, RETRY_AFTER_S, BrokerCase

Setup = tuple[BrokerCase, Broker]


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest) -> Iterator[BrokerCase]:
    with CASES[request.param]() as opened:
        yield opened


@pytest.fixture
def broker(case: BrokerCase) -> Broker:
    return case.make()


@pytest.fixture(params=[name for name in CASES if name not in OFFLINE_CASES])
def remote(request: pytest.FixtureRequest) -> Iterator[BrokerCase]:
    """The cases whose counterparty can fail: what only a remote venue does is checked on those alone."""
    with CASES[request.param]() as opened:
        assert opened.disrupt is not None, f"{request.param} is remote but cannot be disrupted"
        yield opened


def at(case: BrokerCase, factor: str) -> Decimal:
    """The case's opening price times ``factor``, to the cent."""
    return (case.price * Decimal(factor)).quantize(Decimal("0.01"))


def order(case: BrokerCase, client_order_id: str, side: Side = Side.BUY, kind: OrderType = OrderType.MARKET, *,
          limit: Decimal | None = None, stop: Decimal | None = None, tif: TimeInForce = TimeInForce.GTC,
          quantity: Decimal | None = None) -> OrderRequest:
    return OrderRequest(client_order_id, case.symbol, side, kind, quantity or case.quantity, limit_price=limit,
                        stop_price=stop, time_in_force=tif)


def settled(broker: Broker, placed: BrokerOrder, *, final: bool = True, timeout_s: float = 3.0) -> BrokerOrder:
    """The order once the venue has routed it: final (``final``) or past its pending states."""
    deadline = time.monotonic() + timeout_s
    current = broker.fetch_order(placed.broker_order_id, placed.symbol)
    while final and not current.status.is_final and time.monotonic() < deadline:
        time.sleep(0.02)
        current = broker.fetch_order(placed.broker_order_id, placed.symbol)
    return current


def bought(case: BrokerCase, broker: Broker, client_order_id: str = "setup-buy") -> BrokerOrder:
    """Buy ``case.quantity`` at market, so that the account has something to sell."""
    filled = settled(broker, broker.place(order(case, client_order_id)))
    assert filled.status is OrderStatus.FILLED
    return filled


def sellable(case: BrokerCase, broker: Broker) -> Decimal:
    """Buy at market and return what the account now holds (less any fee taken in the asset)."""
    bought(case, broker)
    return held(case, broker)


def held(case: BrokerCase, broker: Broker) -> Decimal:
    return sum((p.quantity for p in broker.positions() if p.symbol == case.symbol), Decimal(0))


def cash(case: BrokerCase, broker: Broker) -> Balance:
    return next(b for b in broker.balances() if b.currency == case.cash_currency)


def base_fees(case: BrokerCase, filled: BrokerOrder) -> Decimal:
    """Fees charged in the bought asset (Binance's commission), which the position does not hold."""
    base = case.symbol.split("/")[0]
    return sum((fill.fee for fill in filled.fills if fill.fee_currency == base), Decimal(0))


# --- capabilities ----------------------------------------------------------------------------------------


def test_capabilities_say_whether_real_money_moves(case: BrokerCase, broker: Broker) -> None:
    assert broker.capabilities.live is case.live
    assert {OrderType.MARKET, OrderType.LIMIT} <= broker.capabilities.order_types
    assert TimeInForce.GTC in broker.capabilities.time_in_force


def test_a_sandbox_or_paper_broker_is_never_pointed_at_a_live_endpoint() -> None:
    """``live`` comes from the sandbox/paper flag, so a URL override must not quietly reach real money."""
    with pytest.raises(ConfigurationError, match="live API"):
        CcxtBroker("binance", "key", "secret", sandbox=True,
                   urls={"api": {"public": "https://api.binance.com/api/v3", "private": "https://api.binance.com/api/v3"}})
    with pytest.raises(ConfigurationError, match="live endpoint"):
        AlpacaBroker("key", "secret", paper=True, base_url=LIVE_URL)
    with pytest.raises(ConfigurationError, match="paper endpoint"):
        AlpacaBroker("key", "secret", paper=False, base_url=PAPER_URL)
    assert CcxtBroker("binance", "key", "secret", sandbox=True).capabilities.live is False
    assert CcxtBroker("binance", "key", "secret").capabilities.live is True
    assert AlpacaBroker("key", "secret").capabilities.live is False
    assert AlpacaBroker("key", "secret", paper=False).capabilities.live is True


def test_order_types_and_times_in_force_outside_the_capabilities_are_refused_unsent(case: BrokerCase,
                                                                                  broker: Broker) -> None:
    caps = broker.capabilities
    refused = [(kind, tif) for kind in OrderType for tif in TimeInForce
               if kind not in caps.order_types or (kind is not OrderType.MARKET and tif not in caps.time_in_force)]
    for number, (kind, tif) in enumerate(refused):
        limit = at(case, "0.9") if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
        stop = at(case, "1.1") if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None
        with pytest.raises(RejectedError):
            broker.place(order(case, f"unsupported-{number}", kind=kind, limit=limit, stop=stop, tif=tif))
        assert broker.find_order(f"unsupported-{number}", case.symbol) is None


# --- placing and filling ---------------------------------------------------------------------------------


def test_a_market_order_fills_in_full_at_the_price_with_identified_fills(case: BrokerCase, broker: Broker) -> None:
    placed = broker.place(order(case, "market-1"))
    assert placed.client_order_id == "market-1" and placed.broker_order_id and placed.symbol == case.symbol
    filled = settled(broker, placed)
    assert (filled.broker_order_id, filled.client_order_id) == (placed.broker_order_id, "market-1")
    assert filled.status is OrderStatus.FILLED
    assert filled.filled_quantity == case.quantity
    assert filled.average_price == case.price
    assert filled.fills, "a filled order reports its fills"
    assert len({fill.fill_id for fill in filled.fills}) == len(filled.fills)
    assert sum(fill.quantity for fill in filled.fills) == case.quantity
    for fill in filled.fills:
        assert fill.price == case.price and fill.fee >= 0 and fill.fee_currency
        assert fill.at.tzinfo is not None and fill.at.utcoffset() is not None and not fill.at.utcoffset()
    assert broker.fetch_order(placed.broker_order_id, case.symbol) == filled  # the same view when asked again


@pytest.mark.parametrize("side", list(Side))
def test_a_limit_order_rests_until_the_price_crosses_it(case: BrokerCase, broker: Broker, side: Side) -> None:
    quantity = sellable(case, broker) if side is Side.SELL else case.quantity
    limit = at(case, "0.9" if side is Side.BUY else "1.1")
    placed = broker.place(order(case, "limit-1", side, OrderType.LIMIT, limit=limit, quantity=quantity))
    resting = settled(broker, placed, final=False)
    assert resting.status is OrderStatus.NEW and resting.filled_quantity == 0 and resting.average_price is None
    case.move_price(case.symbol, at(case, "0.95" if side is Side.BUY else "1.05"))  # nearer, not there yet
    assert broker.fetch_order(placed.broker_order_id, case.symbol).status is OrderStatus.NEW
    case.move_price(case.symbol, at(case, "0.85" if side is Side.BUY else "1.15"))  # across the limit
    filled = settled(broker, placed)
    assert filled.status is OrderStatus.FILLED and filled.filled_quantity == quantity
    assert filled.average_price is not None
    assert filled.average_price <= limit if side is Side.BUY else filled.average_price >= limit
    assert filled.fills


def test_a_marketable_limit_order_fills_at_once(case: BrokerCase, broker: Broker) -> None:
    filled = settled(broker, broker.place(order(case, "limit-now", kind=OrderType.LIMIT, limit=at(case, "1.01"))))
    assert filled.status is OrderStatus.FILLED
    assert filled.average_price is not None and filled.average_price <= at(case, "1.01")


@pytest.mark.parametrize("side", list(Side))
@pytest.mark.parametrize("kind", [OrderType.STOP, OrderType.STOP_LIMIT])
def test_a_stop_order_waits_for_its_trigger(case: BrokerCase, broker: Broker, kind: OrderType, side: Side) -> None:
    if kind not in broker.capabilities.order_types:
        pytest.skip(f"{kind} orders are not among the capabilities")
    quantity = sellable(case, broker) if side is Side.SELL else case.quantity
    up = side is Side.BUY  # a buy stop triggers on a rise, a sell stop on a fall
    stop = at(case, "1.05" if up else "0.95")
    limit = at(case, "1.07" if up else "0.93") if kind is OrderType.STOP_LIMIT else None
    placed = broker.place(order(case, "stop-1", side, kind, stop=stop, limit=limit, quantity=quantity))
    assert settled(broker, placed, final=False).status is OrderStatus.NEW
    case.move_price(case.symbol, at(case, "1.03" if up else "0.97"))  # towards the stop, short of it
    assert broker.fetch_order(placed.broker_order_id, case.symbol).status is OrderStatus.NEW
    case.move_price(case.symbol, at(case, "1.06" if up else "0.94"))  # through the stop, within the limit
    filled = settled(broker, placed)
    assert filled.status is OrderStatus.FILLED and filled.filled_quantity == quantity
    assert filled.average_price is not None
    assert filled.average_price >= stop if up else filled.average_price <= stop  # after the trigger
    if limit is not None:
        assert filled.average_price <= limit if up else filled.average_price >= limit


def test_a_stop_limit_whose_limit_is_passed_when_it_triggers_rests_as_a_limit(case: BrokerCase,
                                                                             broker: Broker) -> None:
    if OrderType.STOP_LIMIT not in broker.capabilities.order_types:
        pytest.skip("stop-limit orders are not among the capabilities")
    placed = broker.place(order(case, "stop-limit-gap", kind=OrderType.STOP_LIMIT, stop=at(case, "1.05"),
                                limit=at(case, "1.06")))
    case.move_price(case.symbol, at(case, "1.10"))  # gaps through the stop and past the limit
    assert settled(broker, placed, final=False).status is OrderStatus.NEW
    case.move_price(case.symbol, at(case, "1.055"))  # back within the limit
    filled = settled(broker, placed)
    assert filled.status is OrderStatus.FILLED
    assert filled.average_price is not None and filled.average_price <= at(case, "1.06")


def test_an_ioc_order_that_cannot_fill_is_not_left_working(case: BrokerCase, broker: Broker) -> None:
    if TimeInForce.IOC not in broker.capabilities.time_in_force:
        pytest.skip("IOC is not among the capabilities")
    placed = broker.place(order(case, "ioc-1", kind=OrderType.LIMIT, limit=at(case, "0.9"), tif=TimeInForce.IOC))
    done = settled(broker, placed)
    assert done.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED)
    assert done.filled_quantity == 0 and not done.fills
    case.move_price(case.symbol, at(case, "0.8"))  # it is gone: a later cross fills nothing
    assert broker.fetch_order(placed.broker_order_id, case.symbol).filled_quantity == 0
    assert held(case, broker) == 0


def test_an_ioc_order_that_can_fill_fills(case: BrokerCase, broker: Broker) -> None:
    if TimeInForce.IOC not in broker.capabilities.time_in_force:
        pytest.skip("IOC is not among the capabilities")
    done = settled(broker, broker.place(order(case, "ioc-2", kind=OrderType.LIMIT, limit=at(case, "1.01"),
                                              tif=TimeInForce.IOC)))
    assert done.status is OrderStatus.FILLED and done.filled_quantity == case.quantity


# --- cancel and replace ----------------------------------------------------------------------------------


def test_cancelling_a_working_order_releases_what_it_held(case: BrokerCase, broker: Broker) -> None:
    before = cash(case, broker)
    placed = broker.place(order(case, "cancel-1", kind=OrderType.LIMIT, limit=at(case, "0.9")))
    settled(broker, placed, final=False)
    assert cash(case, broker).available < before.available  # the resting buy holds cash
    cancelled = broker.cancel(placed.broker_order_id, case.symbol)
    assert cancelled.status is OrderStatus.CANCELED and cancelled.filled_quantity == 0
    assert (cancelled.broker_order_id, cancelled.client_order_id) == (placed.broker_order_id, "cancel-1")
    assert broker.fetch_order(placed.broker_order_id, case.symbol).status is OrderStatus.CANCELED
    assert cash(case, broker) == before
    case.move_price(case.symbol, at(case, "0.8"))
    assert broker.fetch_order(placed.broker_order_id, case.symbol).status is OrderStatus.CANCELED
    assert broker.cancel(placed.broker_order_id, case.symbol).status is OrderStatus.CANCELED  # again: unchanged


def test_cancelling_a_filled_order_returns_it_unchanged(case: BrokerCase, broker: Broker) -> None:
    filled = bought(case, broker)
    assert broker.cancel(filled.broker_order_id, case.symbol) == filled


def test_orders_the_venue_does_not_know_are_rejected(case: BrokerCase, broker: Broker) -> None:
    with pytest.raises(RejectedError):
        broker.fetch_order(case.absent_order_id, case.symbol)
    with pytest.raises(RejectedError):
        broker.cancel(case.absent_order_id, case.symbol)


def test_replacing_a_working_order_cancels_it_and_works_the_new_one(case: BrokerCase, broker: Broker) -> None:
    old = broker.place(order(case, "replace-old", kind=OrderType.LIMIT, limit=at(case, "0.9")))
    settled(broker, old, final=False)
    new = broker.replace(old.broker_order_id, case.symbol,
                         order(case, "replace-new", kind=OrderType.LIMIT, limit=at(case, "0.92")))
    assert new.client_order_id == "replace-new" and new.broker_order_id != old.broker_order_id
    assert settled(broker, new, final=False).status is OrderStatus.NEW
    assert broker.fetch_order(old.broker_order_id, case.symbol).status is OrderStatus.CANCELED
    case.move_price(case.symbol, at(case, "0.91"))  # crosses the new limit, not the old one
    assert settled(broker, new).status is OrderStatus.FILLED
    assert broker.fetch_order(old.broker_order_id, case.symbol).filled_quantity == 0
    assert held(case, broker) > 0


def test_replacing_an_order_with_another_kind_of_order(case: BrokerCase, broker: Broker) -> None:
    old = broker.place(order(case, "replace-kind-old", kind=OrderType.LIMIT, limit=at(case, "0.9")))
    settled(broker, old, final=False)
    new = settled(broker, broker.replace(old.broker_order_id, case.symbol, order(case, "replace-kind-new")))
    assert new.client_order_id == "replace-kind-new" and new.status is OrderStatus.FILLED
    assert broker.fetch_order(old.broker_order_id, case.symbol).status is OrderStatus.CANCELED


def test_replacing_a_filled_order_is_rejected_and_places_nothing(case: BrokerCase, broker: Broker) -> None:
    filled = bought(case, broker)
    with pytest.raises(RejectedError, match="filled"):
        broker.replace(filled.broker_order_id, case.symbol,
                       order(case, "replace-late", kind=OrderType.LIMIT, limit=at(case, "0.9")))
    assert broker.find_order("replace-late", case.symbol) is None


# --- finding orders and placing once ---------------------------------------------------------------------


def test_an_order_is_found_by_our_client_order_id(case: BrokerCase, broker: Broker) -> None:
    placed = broker.place(order(case, "find-me", kind=OrderType.LIMIT, limit=at(case, "0.9")))
    found = broker.find_order("find-me", case.symbol)
    assert found is not None and found == broker.fetch_order(placed.broker_order_id, case.symbol)
    assert broker.find_order("never-sent", case.symbol) is None
    filled = bought(case, broker, "find-me-filled")
    assert broker.find_order("find-me-filled", case.symbol) == filled  # final orders too


@pytest.mark.parametrize("kind", [OrderType.MARKET, OrderType.LIMIT])
def test_placing_the_same_client_order_id_again_places_nothing_new(case: BrokerCase, broker: Broker,
                                                                  kind: OrderType) -> None:
    request = order(case, "once", kind=kind, limit=at(case, "0.9") if kind is OrderType.LIMIT else None)
    first = settled(broker, broker.place(request), final=kind is OrderType.MARKET)
    positions, balances = broker.positions(), broker.balances()
    again = broker.place(request)
    assert again.broker_order_id == first.broker_order_id
    assert case.make().place(request).broker_order_id == first.broker_order_id  # a restarted dispatcher too
    assert (broker.positions(), broker.balances()) == (positions, balances)


# --- refusals --------------------------------------------------------------------------------------------


def test_an_order_the_account_cannot_pay_for_raises_insufficient_funds(case: BrokerCase, broker: Broker) -> None:
    too_much = (case.cash / case.price * 2).quantize(case.quantity)
    with pytest.raises(InsufficientFunds):
        broker.place(order(case, "too-big", quantity=too_much))
    with pytest.raises(InsufficientFunds):
        broker.place(order(case, "too-big-limit", kind=OrderType.LIMIT, limit=at(case, "0.9"), quantity=too_much))
    with pytest.raises(InsufficientFunds):  # selling what the account does not hold (spot, or no shorting)
        broker.place(order(case, "nothing-to-sell", Side.SELL, quantity=case.quantity))
    assert broker.find_order("too-big", case.symbol) is None
    assert cash(case, broker).total == case.cash


def test_an_unknown_symbol_is_rejected(case: BrokerCase, broker: Broker) -> None:
    request = OrderRequest("unknown-symbol", case.unknown_symbol, Side.BUY, OrderType.MARKET, case.quantity)
    with pytest.raises(RejectedError) as refused:
        broker.place(request)
    assert not isinstance(refused.value, InsufficientFunds)
    assert refused.value.detail


# --- temporary failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["5xx", "429"])
def test_a_transient_failure_on_placing_is_retried_and_the_order_placed_once(remote: BrokerCase, how: str) -> None:
    assert remote.disrupt is not None
    broker = remote.make()
    remote.disrupt("place", how, RETRY.attempts - 1)  # type: ignore[arg-type]
    began = time.monotonic()
    filled = settled(broker, broker.place(order(remote, "through-trouble")))
    if how == "429":
        assert time.monotonic() - began >= RETRY_AFTER_S  # Retry-After was honoured
    assert filled.status is OrderStatus.FILLED and filled.client_order_id == "through-trouble"
    assert held(remote, broker) == remote.quantity - base_fees(remote, filled)  # one order, not two


@pytest.mark.parametrize("how", ["lost", "timeout"])
def test_a_placement_whose_answer_is_lost_is_found_not_sent_again(remote: BrokerCase, how: str) -> None:
    assert remote.disrupt is not None
    broker = remote.make()
    remote.disrupt("place", how, 1)  # type: ignore[arg-type]
    placed = broker.place(order(remote, "answer-lost"))
    filled = settled(broker, placed)
    assert filled.client_order_id == "answer-lost" and filled.status is OrderStatus.FILLED
    assert held(remote, broker) == remote.quantity - base_fees(remote, filled)


def test_placing_through_an_outage_ends_in_temporary_error_and_places_nothing(remote: BrokerCase) -> None:
    assert remote.disrupt is not None
    broker = remote.make()
    remote.disrupt("place", "5xx", RETRY.attempts)
    with pytest.raises(TemporaryError) as failed:
        broker.place(order(remote, "during-outage"))
    assert failed.value.extra.get("attempts") == RETRY.attempts
    assert broker.find_order("during-outage", remote.symbol) is None
    assert settled(broker, broker.place(order(remote, "during-outage"))).status is OrderStatus.FILLED  # later


@pytest.mark.parametrize("how", ["5xx", "429", "timeout"])
def test_reads_retry_transient_failures_and_give_up_after_the_policy(remote: BrokerCase, how: str) -> None:
    assert remote.disrupt is not None
    broker = remote.make()
    placed = broker.place(order(remote, "read-me", kind=OrderType.LIMIT, limit=at(remote, "0.9")))
    remote.disrupt("fetch", how, RETRY.attempts - 1)  # type: ignore[arg-type]
    assert broker.fetch_order(placed.broker_order_id, remote.symbol).client_order_id == "read-me"
    remote.disrupt("fetch", "5xx", RETRY.attempts)
    with pytest.raises(TemporaryError) as failed:
        broker.fetch_order(placed.broker_order_id, remote.symbol)
    assert failed.value.extra.get("attempts") == RETRY.attempts
    assert broker.fetch_order(placed.broker_order_id, remote.symbol).status is OrderStatus.NEW


# --- positions and balances ------------------------------------------------------------------------------


def test_positions_and_balances_follow_the_fills(case: BrokerCase, broker: Broker) -> None:
    assert held(case, broker) == 0
    start = cash(case, broker)
    assert start.total == start.available == case.cash
    filled = bought(case, broker)
    assert filled.average_price is not None
    quote_fees = sum((f.fee for f in filled.fills if f.fee_currency == case.cash_currency), Decimal(0))
    after = cash(case, broker)
    assert after.total == case.cash - filled.filled_quantity * filled.average_price - quote_fees
    assert after.available == after.total
    (position,) = [p for p in broker.positions() if p.symbol == case.symbol]
    assert position.quantity == case.quantity - base_fees(case, filled)
    if case.cost_basis:
        assert position.average_price == filled.average_price
    else:
        assert position.average_price is None  # unknown, and never mistaken for a price
    assert [p.symbol for p in broker.positions()] == sorted(p.symbol for p in broker.positions())
    assert [b.currency for b in broker.balances()] == sorted(b.currency for b in broker.balances())
    sold = settled(broker, broker.place(order(case, "sell-all", Side.SELL, quantity=position.quantity)))
    assert sold.status is OrderStatus.FILLED
    assert held(case, broker) == 0

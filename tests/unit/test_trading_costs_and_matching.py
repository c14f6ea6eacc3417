"""The paper broker's pure pieces: fee and slippage models, and the matching rules, bar by bar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from alphabook.core.errors import InvalidInput
from alphabook.trading.brokers.base import OrderType, Side
from alphabook.trading.costs import (
    Costs,
    FixedBpsSlippage,
    FixedFee,
    NoFee,
    NoSlippage,
    PercentFee,
    VolumeShareSlippage,
    exact,
)
from alphabook.trading.matching import Match, Working, at_quote, on_bar
from alphabook.trading.prices import Bar, Quote

D = Decimal
T0 = datetime(2025, 1, 2, tzinfo=UTC)


def bar(open_: str, high: str, low: str, close: str, volume: str = "10") -> Bar:
    return Bar("BTC/USDT", T0, T0 + timedelta(minutes=5), D(open_), D(high), D(low), D(close), D(volume))


def quote(bid: str, ask: str, last: str | None = None) -> Quote:
    return Quote("BTC/USDT", D(bid), D(ask), D(last or bid), T0)


# --- fees ------------------------------------------------------------------------------------------------


def test_percent_fee_charges_makers_and_takers_their_own_rate() -> None:
    fees = PercentFee(taker=D("0.001"), maker=D("0.0002"))
    assert fees.fee(D("12345.67"), maker=False, first_fill=True) == D("12.34567")
    assert fees.fee(D("12345.67"), maker=True, first_fill=True) == D("2.469134")
    assert PercentFee(taker=D("0.001")).fee(D(100), maker=True, first_fill=False) == D("0.1")  # maker defaults


def test_a_fixed_fee_is_charged_once_per_order_and_fees_add_up() -> None:
    per_order = FixedFee(D("1.50"))
    assert per_order.fee(D(1000), maker=False, first_fill=True) == D("1.50")
    assert per_order.fee(D(1000), maker=False, first_fill=False) == 0
    combined = PercentFee(taker=D("0.001")) + per_order + NoFee()
    assert combined.fee(D(1000), maker=False, first_fill=True) == D("2.50")
    assert combined.fee(D(1000), maker=False, first_fill=False) == D("1.00")


def test_costs_round_to_the_venue_precision_and_reserve_the_worst_fee() -> None:
    costs = Costs(fees=PercentFee(taker=D("0.00075"), maker=D("0.001")))
    assert costs.fee(D("0.00012345"), D("94591.78"), maker=False, first_fill=True) == exact(
        D("0.00012345") * D("94591.78") * D("0.00075"))
    assert costs.fee(D(1), D(3), maker=False, first_fill=True).as_tuple().exponent == -10
    assert costs.worst_fee(D(2), D(100)) == D("0.2")  # the maker rate is the higher one here


@pytest.mark.parametrize("bad", [D(-1), D("NaN"), 0.001])
def test_rates_must_be_non_negative_decimals(bad: object) -> None:
    with pytest.raises(InvalidInput):
        PercentFee(taker=bad)  # type: ignore[arg-type]


# --- slippage --------------------------------------------------------------------------------------------


def test_slippage_moves_the_price_against_the_taker() -> None:
    assert NoSlippage().execution_price(D(100), Side.BUY, D(1), None) == 100
    fixed = FixedBpsSlippage(D(5))
    assert fixed.execution_price(D("94591.78"), Side.BUY, D(1), None) == D("94639.075890")
    assert fixed.execution_price(D("94591.78"), Side.SELL, D(1), None) == D("94544.484110")


def test_volume_share_slippage_grows_with_the_square_of_the_share() -> None:
    model = VolumeShareSlippage(price_impact=D("0.1"), fallback_bps=D(2))
    assert model.fraction(D(1), D(100)) == D("0.00001")  # 1 % of the bar: 0.1 * 0.01**2
    assert model.fraction(D(10), D(100)) == D("0.001")  # 10 x the size, 100 x the impact
    assert model.fraction(D(500), D(100)) == D("0.1")  # capped at the whole bar
    assert model.fraction(D(1), None) == D("0.0002")  # no volume known: the fallback
    assert model.execution_price(D(200), Side.SELL, D(10), D(100)) == D("199.8")


# --- matching at placement ---------------------------------------------------------------------------------


def test_market_orders_take_the_touch() -> None:
    assert at_quote(Working(Side.BUY, OrderType.MARKET), quote("99", "101")) == Match(False, D(101), taker=True)
    assert at_quote(Working(Side.SELL, OrderType.MARKET), quote("99", "101")) == Match(False, D(99), taker=True)


def test_a_limit_fills_at_once_only_when_marketable() -> None:
    assert at_quote(Working(Side.BUY, OrderType.LIMIT, D(101)), quote("99", "101")).price == D(101)
    assert at_quote(Working(Side.BUY, OrderType.LIMIT, D(100)), quote("99", "101")) == Match(False)
    assert at_quote(Working(Side.SELL, OrderType.LIMIT, D(99)), quote("99", "101")).price == D(99)
    assert at_quote(Working(Side.SELL, OrderType.LIMIT, D(100)), quote("99", "101")).price is None


def test_a_stop_already_through_its_price_triggers_at_once() -> None:
    buy_stop = Working(Side.BUY, OrderType.STOP, stop_price=D(100))
    assert at_quote(buy_stop, quote("100", "100.5", "100")) == Match(True, D("100.5"), taker=True)
    assert at_quote(buy_stop, quote("99", "99.5", "99")) == Match(False)
    stop_limit = Working(Side.SELL, OrderType.STOP_LIMIT, limit_price=D(98), stop_price=D(100))
    assert at_quote(stop_limit, quote("97", "97.5", "97")) == Match(True)  # triggered, but bid is below the limit
    assert at_quote(stop_limit, quote("99", "99.5", "99")) == Match(True, D(99), taker=True)


# --- matching on bars --------------------------------------------------------------------------------------


def test_limits_fill_at_the_limit_or_the_better_open() -> None:
    buy = Working(Side.BUY, OrderType.LIMIT, D(100))
    assert on_bar(buy, bar("102", "103", "99", "101")) == Match(False, D(100))  # touched on the way down
    assert on_bar(buy, bar("98", "101", "97", "100")) == Match(False, D(98))  # opened below: the open
    assert on_bar(buy, bar("101", "103", "100.01", "102")).price is None
    sell = Working(Side.SELL, OrderType.LIMIT, D(100))
    assert on_bar(sell, bar("98", "100", "97", "99")) == Match(False, D(100))
    assert on_bar(sell, bar("103", "104", "101", "102")) == Match(False, D(103))


def test_stops_trigger_at_the_stop_or_the_worse_open() -> None:
    buy = Working(Side.BUY, OrderType.STOP, stop_price=D(100))
    assert on_bar(buy, bar("98", "101", "97", "100")) == Match(True, D(100), taker=True)
    assert on_bar(buy, bar("103", "104", "102", "103")) == Match(True, D(103), taker=True)  # gap: the open
    assert on_bar(buy, bar("97", "99.99", "96", "98")) == Match(False)
    sell = Working(Side.SELL, OrderType.STOP, stop_price=D(100))
    assert on_bar(sell, bar("101", "102", "99", "99.5")) == Match(True, D(100), taker=True)
    assert on_bar(sell, bar("95", "96", "94", "95")) == Match(True, D(95), taker=True)
    triggered = Working(Side.SELL, OrderType.STOP, stop_price=D(100), triggered=True)
    assert on_bar(triggered, bar("90", "91", "89", "90")) == Match(True, D(90), taker=True)  # later bars: open


def test_a_stop_limit_fills_in_the_trigger_bar_only_within_its_limit() -> None:
    order = Working(Side.BUY, OrderType.STOP_LIMIT, limit_price=D(101), stop_price=D(100))
    assert on_bar(order, bar("99", "102", "98", "101")) == Match(True, D(100), taker=True)
    assert on_bar(order, bar("103", "104", "99", "100")) == Match(True)  # gapped past the limit: no fill yet
    resting = Working(Side.BUY, OrderType.STOP_LIMIT, limit_price=D(101), stop_price=D(100), triggered=True)
    assert on_bar(resting, bar("103", "104", "100.5", "101")) == Match(True, D(101))  # now a plain limit
    sell = Working(Side.SELL, OrderType.STOP_LIMIT, limit_price=D(99), stop_price=D(100))
    assert on_bar(sell, bar("101", "101", "98", "98")) == Match(True, D(100), taker=True)
    assert on_bar(sell, bar("97", "98", "96", "97")) == Match(True)

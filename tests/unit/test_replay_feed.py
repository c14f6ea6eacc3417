"""ReplayFeed on the bundled samples (offline): how data time maps onto the application clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from alphabook.core import clock
from alphabook.core.errors import InvalidInput, RejectedError
from alphabook.research.data import BundledSource
from alphabook.trading.prices import ReplayFeed, ReplayMarket, to_decimal

ANCHOR = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
START = datetime(2017, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def eurusd() -> pd.DataFrame:
    return BundledSource().fetch_bars("FX:EUR/USD", "1h")


def feed(speed: int = 1) -> ReplayFeed:
    return ReplayFeed(BundledSource(), {"EUR/USD": ReplayMarket("FX:EUR/USD", "1h", START)}, anchor=ANCHOR,
                      speed=speed)


def test_the_quote_is_the_last_close_before_the_replayed_moment(eurusd: pd.DataFrame) -> None:
    replay = feed()
    before = eurusd[eurusd.index + pd.Timedelta(hours=1) <= START].iloc[-1]  # the last bar closed by START
    with clock.frozen(ANCHOR):
        quote = replay.quote("EUR/USD")
        assert (quote.bid, quote.ask, quote.last) == (to_decimal(before.close),) * 3
        assert quote.volume == to_decimal(before.volume)
        assert quote.at <= ANCHOR
        assert replay.replay_time("EUR/USD") == START


def test_bars_close_on_the_wall_clock_at_the_replay_speed(eurusd: pd.DataFrame) -> None:
    replay = feed(speed=60)  # an hourly bar a minute
    first = eurusd[eurusd.index >= START].iloc[:3]
    with clock.frozen(ANCHOR) as frozen:
        quote = replay.quote("EUR/USD")
        assert replay.bars_since("EUR/USD", quote.at) == []
        frozen.advance(timedelta(seconds=59))
        assert replay.bars_since("EUR/USD", quote.at) == []  # the first bar is still forming
        frozen.advance(timedelta(seconds=1))
        [bar] = replay.bars_since("EUR/USD", quote.at)
        assert first.index[0] == START  # a Thursday: the series has that hour
        assert (bar.opened_at, bar.closes_at) == (ANCHOR, ANCHOR + timedelta(minutes=1))
        assert (bar.open, bar.high, bar.low, bar.close) == tuple(to_decimal(first.iloc[0][name])
                                                                 for name in ("open", "high", "low", "close"))
        frozen.advance(timedelta(minutes=2))
        bars = replay.bars_since("EUR/USD", quote.at)
        assert [b.close for b in bars] == [to_decimal(value) for value in first.close]
        assert replay.quote("EUR/USD").last == bars[-1].close
        assert replay.bars_since("EUR/USD", bars[1].opened_at) == bars[1:]


def test_a_synthetic_spread_straddles_the_close() -> None:
    replay = ReplayFeed(BundledSource(), {"GOOG": ReplayMarket("NASDAQ:GOOG", "1d", datetime(2011, 1, 3, tzinfo=UTC))},
                        anchor=ANCHOR, spread_bps=Decimal(10))
    with clock.frozen(ANCHOR):
        quote = replay.quote("GOOG")
    assert quote.ask - quote.bid == quote.last * Decimal("0.001")
    assert quote.bid < quote.last < quote.ask


def test_the_bundled_demo_feed_prices_every_sample_offline() -> None:
    replay = ReplayFeed.bundled(anchor=ANCHOR)
    with clock.frozen(ANCHOR):
        assert replay.symbols() == ["BTC/USD", "EUR/USD", "GOOG"]
        for symbol in replay.symbols():
            assert replay.price(symbol) > 0


def test_unknown_symbols_and_bad_arguments_are_refused() -> None:
    replay = feed()
    with clock.frozen(ANCHOR):
        with pytest.raises(RejectedError, match="EUR/USD"):
            replay.quote("XRP/USD")
        with pytest.raises(InvalidInput, match="naive"):
            replay.bars_since("EUR/USD", datetime(2026, 1, 1))
        before_the_series = ReplayMarket("FX:EUR/USD", "1h", datetime(2001, 1, 1, tzinfo=UTC))
        early = ReplayFeed(BundledSource(), {"EUR/USD": before_the_series})
        with pytest.raises(RejectedError, match="No price"):
            early.quote("EUR/USD")
    with pytest.raises(InvalidInput):
        ReplayFeed(BundledSource(), {}, anchor=ANCHOR)
    with pytest.raises(InvalidInput):
        ReplayFeed(BundledSource(), {"EUR/USD": ReplayMarket("FX:EUR/USD", "1h", START)}, speed=0)

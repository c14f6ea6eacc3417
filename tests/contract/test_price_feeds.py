"""One contract for every PriceFeed: the replay of a DataSource and live ccxt tickers (against a local Binance).

Both feeds serve the same real candles (the first days of ``binance_BTCUSDT_5m``): the replay reads them from a
CSV file through ``FileSource``, pinned so that its clock is the data's own; the ccxt feed downloads them from
:class:`~tests.fakes.fake_exchange.FakeBinance`, whose ticker quotes the last close. So beyond the contract each
one passes alone, the two must agree bar for bar.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import ccxt
import pandas as pd
import pytest

from alphabook.core.errors import InvalidInput, RejectedError, TemporaryError
from alphabook.research.data import FileSource
from alphabook.trading.prices import CcxtTickerFeed, PriceFeed, ReplayFeed, ReplayMarket, to_decimal
from tests.fakes.fake_exchange import FakeBinance, server_error

SYMBOL = "BTC/USDT"


def _start(sample: pd.DataFrame) -> datetime:
    start: datetime = sample.index[100].to_pydatetime()
    return start


@pytest.fixture(params=["replay", "ccxt"])
def feed(request: pytest.FixtureRequest, btc_5m_sample: pd.DataFrame, tmp_path: Path,
         fake_binance: FakeBinance) -> Iterator[PriceFeed]:
    if request.param == "replay":
        path = tmp_path / "binance_BTCUSDT_5m.csv"
        btc_5m_sample.to_csv(path, index_label="timestamp")
        start = _start(btc_5m_sample)
        yield ReplayFeed(FileSource(path), {SYMBOL: ReplayMarket("BINANCE:BTC/USDT", "5m", start)}, anchor=start)
    else:
        yield CcxtTickerFeed(ccxt.binance({**fake_binance.ccxt_config(), "enableRateLimit": False}), timeframe="5m")


def test_a_quote_is_decimal_and_ordered(feed: PriceFeed, btc_5m_sample: pd.DataFrame) -> None:
    quote = feed.quote(SYMBOL)
    assert all(isinstance(value, Decimal) for value in (quote.bid, quote.ask, quote.last))
    assert quote.bid <= quote.last <= quote.ask
    assert quote.last == to_decimal(btc_5m_sample.close.iloc[-1])  # every bar has closed by now
    assert quote.at.utcoffset() is not None and not quote.at.utcoffset()
    assert feed.price(SYMBOL) == quote.last


def test_bars_since_are_the_completed_bars_from_that_moment(feed: PriceFeed, btc_5m_sample: pd.DataFrame) -> None:
    since = btc_5m_sample.index[1_500].to_pydatetime()  # 900 bars: two of the fake's pages
    bars = feed.bars_since(SYMBOL, since)
    expected = btc_5m_sample[btc_5m_sample.index >= since]
    assert [bar.opened_at for bar in bars] == [moment.to_pydatetime() for moment in expected.index]
    assert [(bar.open, bar.high, bar.low, bar.close, bar.volume) for bar in bars] == [
        tuple(to_decimal(value) for value in row) for row in expected.itertuples(index=False)]
    for bar in bars:
        assert bar.symbol == SYMBOL and bar.closes_at - bar.opened_at == pd.Timedelta(minutes=5)
    assert feed.bars_since(SYMBOL, bars[-1].closes_at) == []


def test_symbols_unknown_markets_and_naive_times(feed: PriceFeed) -> None:
    assert SYMBOL in feed.symbols()
    with pytest.raises(RejectedError):
        feed.quote("XRP/USDT")
    with pytest.raises(RejectedError):
        feed.bars_since("XRP/USDT", datetime(2025, 1, 1).astimezone())
    with pytest.raises(InvalidInput, match="naive"):
        feed.bars_since(SYMBOL, datetime(2025, 1, 1))


# --- the live feed's own behaviour ------------------------------------------------------------------------


@pytest.fixture
def live(fake_binance: FakeBinance) -> CcxtTickerFeed:
    return CcxtTickerFeed(ccxt.binance({**fake_binance.ccxt_config(), "enableRateLimit": False}), timeframe="5m")


def test_the_live_quote_is_the_exchange_ticker(live: CcxtTickerFeed, fake_binance: FakeBinance) -> None:
    fake_binance.set_ticker(SYMBOL, bid=94590.5, ask=94591.78, last=94591.1)
    quote = live.quote(SYMBOL)
    assert (quote.bid, quote.ask, quote.last) == (Decimal("94590.5"), Decimal("94591.78"), Decimal("94591.1"))
    assert any(request.path == "/api/v3/ticker/24hr" for request in fake_binance.requests)


def test_an_exchange_outage_is_temporary(live: CcxtTickerFeed, fake_binance: FakeBinance) -> None:
    live.symbols()  # markets loaded: the next request is the ticker
    fake_binance.inject(len(fake_binance.requests) + 1, server_error(503))
    with pytest.raises(TemporaryError):
        live.quote(SYMBOL)
    assert live.quote(SYMBOL).last > 0

"""CcxtSource against a fake Binance that speaks the real REST protocol, so the real ccxt client runs.

The fake serves real BTC/USDT 5m candles 500 per page and logs every request, which lets these tests
prove pagination, retries and the cache by what went over the wire (the klines ``startTime`` values).
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from alphabook.core.clock import frozen
from alphabook.core.errors import InvalidInput, RejectedError, TemporaryError
from alphabook.research.data import CcxtSource, RetryPolicy
from tests.contract.conftest import PAGE_LIMIT
from tests.fakes.fake_exchange import FakeBinance, illegal_parameter, rate_limited, server_error

BTC = "BINANCE:BTC/USDT"
FIVE_MINUTES = pd.Timedelta(minutes=5)


def ms(moment: pd.Timestamp) -> int:
    return int(moment.timestamp() * 1000)


@pytest.fixture
def source(fake_binance: FakeBinance, tmp_path: Path, fast_retry: RetryPolicy) -> CcxtSource:
    return CcxtSource("binance", config=fake_binance.ccxt_config(), cache_dir=tmp_path / "cache", retry=fast_retry)


def starts(fake: FakeBinance) -> list[int | None]:
    return [request.start_ms for request in fake.klines_requests()]


# --- pagination and rate limit --------------------------------------------------------------------------


def test_pages_are_joined_into_exactly_the_served_frame(
    source: CcxtSource, fake_binance: FakeBinance, btc_5m_sample: pd.DataFrame
) -> None:
    opens = btc_5m_sample.index
    bars = source.fetch_bars(BTC, "5m", opens[0], opens[-1] + FIVE_MINUTES)
    pd.testing.assert_frame_equal(bars, btc_5m_sample, check_freq=False)
    pages = -(-len(opens) // PAGE_LIMIT)
    assert starts(fake_binance) == [ms(opens[0])] + [ms(opens[PAGE_LIMIT * k - 1]) + 1 for k in range(1, pages)]


def test_requests_are_spaced_by_the_exchange_rate_limit(
    fake_binance: FakeBinance, tmp_path: Path, btc_5m_sample: pd.DataFrame
) -> None:
    config = {**fake_binance.ccxt_config(), "rateLimit": 250}  # ms per cost unit; ccxt charges klines 0.4
    source = CcxtSource("binance", config=config, cache_dir=tmp_path)
    assert source.exchange.enableRateLimit is True
    began = time.monotonic()
    source.fetch_bars(BTC, "5m", btc_5m_sample.index[0], btc_5m_sample.index[-1])
    assert len(fake_binance.requests) == 6  # exchangeInfo and five pages of klines
    assert time.monotonic() - began >= 4 * 0.25 * 0.4  # ccxt waited between consecutive pages


# --- failures -------------------------------------------------------------------------------------------


def test_a_429_is_retried_after_the_requested_wait_and_nothing_is_lost(
    source: CcxtSource, fake_binance: FakeBinance, btc_5m_sample: pd.DataFrame
) -> None:
    fake_binance.inject(3, rate_limited(retry_after_s=1))  # 1: exchangeInfo, 2: page one, 3: page two
    began = time.monotonic()
    bars = source.fetch_bars(BTC, "5m", btc_5m_sample.index[0])
    assert time.monotonic() - began >= 1.0  # the backoff alone would be 10 ms: Retry-After was honoured
    pd.testing.assert_frame_equal(bars, btc_5m_sample, check_freq=False)
    second_page = ms(btc_5m_sample.index[PAGE_LIMIT - 1]) + 1
    assert starts(fake_binance)[1:3] == [second_page, second_page]  # the refused page, asked again


def test_server_errors_are_retried_and_the_result_is_complete(
    source: CcxtSource, fake_binance: FakeBinance, btc_5m_sample: pd.DataFrame
) -> None:
    fake_binance.inject(1, server_error(503))  # even loading the markets
    fake_binance.inject(4, server_error(500))
    fake_binance.inject(5, server_error(502))
    bars = source.fetch_bars(BTC, "5m", btc_5m_sample.index[0])
    pd.testing.assert_frame_equal(bars, btc_5m_sample, check_freq=False)
    assert [request.path for request in fake_binance.requests].count("/api/v3/exchangeInfo") == 2


def test_temporary_errors_become_a_temporary_error_when_attempts_run_out(
    source: CcxtSource, fake_binance: FakeBinance, btc_5m_sample: pd.DataFrame
) -> None:
    for number in (2, 3, 4):
        fake_binance.inject(number, server_error(503))
    with pytest.raises(TemporaryError, match="3 attempts") as caught:
        source.fetch_bars(BTC, "5m", btc_5m_sample.index[0])
    assert caught.value.extra == {"attempts": 3}
    assert len(fake_binance.klines_requests()) == 3


def test_a_permanent_refusal_is_not_retried(
    source: CcxtSource, fake_binance: FakeBinance, btc_5m_sample: pd.DataFrame
) -> None:
    fake_binance.inject(2, illegal_parameter())
    with pytest.raises(RejectedError, match="Illegal characters"):
        source.fetch_bars(BTC, "5m", btc_5m_sample.index[0])
    assert len(fake_binance.klines_requests()) == 1


def test_symbols_the_exchange_does_not_list_are_invalid_input(source: CcxtSource, fake_binance: FakeBinance) -> None:
    with pytest.raises(InvalidInput, match="binance does not have market symbol XRP/USDT"):
        source.fetch_bars("BINANCE:XRP/USDT", "5m")
    with pytest.raises(InvalidInput, match="serves BINANCE:BASE/QUOTE symbols, not KRAKEN:BTC/USD"):
        source.fetch_bars("KRAKEN:BTC/USD", "5m")
    with pytest.raises(InvalidInput, match="is a ticker"):
        source.fetch_bars("BINANCE:GOOG", "1d")
    assert fake_binance.klines_requests() == []
    with pytest.raises(InvalidInput, match="ccxt has no exchange 'binanse'"):
        CcxtSource("binanse")


# --- cache ----------------------------------------------------------------------------------------------


def test_a_repeated_request_is_served_from_disk_without_any_request(
    source: CcxtSource, fake_binance: FakeBinance, btc_5m_sample: pd.DataFrame, tmp_path: Path, fast_retry: RetryPolicy
) -> None:
    opens = btc_5m_sample.index
    first = source.fetch_bars(BTC, "5m", opens[100], opens[900])
    made = len(fake_binance.requests)
    pd.testing.assert_frame_equal(source.fetch_bars(BTC, "5m", opens[100], opens[900]), first)
    pd.testing.assert_frame_equal(source.fetch_bars(BTC, "5m", opens[300], opens[400]), first.iloc[200:300])
    fresh_process = CcxtSource("binance", config=fake_binance.ccxt_config(), cache_dir=tmp_path / "cache")
    pd.testing.assert_frame_equal(fresh_process.fetch_bars(BTC, "5m", opens[100], opens[900]), first)
    assert len(fake_binance.requests) == made


def test_a_wider_request_downloads_only_the_missing_ranges(
    source: CcxtSource, fake_binance: FakeBinance, btc_5m_sample: pd.DataFrame
) -> None:
    opens = btc_5m_sample.index
    source.fetch_bars(BTC, "5m", opens[100], opens[600])
    before = len(starts(fake_binance))
    bars = source.fetch_bars(BTC, "5m", opens[0], opens[1_000])
    assert starts(fake_binance)[before:] == [ms(opens[0]), ms(opens[600])]  # one page per gap, nothing twice
    pd.testing.assert_frame_equal(bars, btc_5m_sample.iloc[:1_000], check_freq=False)


def test_the_cache_is_one_parquet_file_per_exchange_symbol_and_timeframe(
    source: CcxtSource, btc_5m_sample: pd.DataFrame, eth_1h_sample: pd.DataFrame, tmp_path: Path
) -> None:
    opens = btc_5m_sample.index
    source.fetch_bars(BTC, "5m", opens[0], opens[50])
    source.fetch_bars("BINANCE:ETH/USDT", "1h", eth_1h_sample.index[0], eth_1h_sample.index[24])
    files = sorted(path.relative_to(tmp_path / "cache").as_posix() for path in (tmp_path / "cache").rglob("*.*"))
    assert files == ["binance/BTC-USDT/5m.parquet", "binance/ETH-USDT/1h.parquet"]
    stored = pd.read_parquet(tmp_path / "cache" / "binance" / "BTC-USDT" / "5m.parquet")
    assert stored.attrs["alphabook_coverage"] == [[opens[0].isoformat(), opens[50].isoformat()]]
    pd.testing.assert_frame_equal(stored, btc_5m_sample.iloc[:50], check_freq=False, check_flags=False)


def test_the_forming_bar_is_returned_but_not_cached_as_final(
    source: CcxtSource, fake_binance: FakeBinance, btc_5m_sample: pd.DataFrame, tmp_path: Path
) -> None:
    opens = btc_5m_sample.index
    forming = opens[1_000]
    still_forming = btc_5m_sample.copy()
    still_forming.loc[forming, "close"] = still_forming.loc[forming, "open"]  # what the exchange shows at 2 min
    fake_binance.bars[("BTC/USDT", "5m")] = still_forming
    with frozen(forming.to_pydatetime() + timedelta(minutes=2)) as clock:
        bars = source.fetch_bars(BTC, "5m", opens[0])
        assert bars.index[-1] == forming  # nothing after "now"
        assert bars["close"].iloc[-1] == still_forming.loc[forming, "close"]
        cached = pd.read_parquet(tmp_path / "cache" / "binance" / "BTC-USDT" / "5m.parquet")
        assert cached.index[-1] == opens[999]
        assert cached.attrs["alphabook_coverage"] == [[opens[0].isoformat(), forming.isoformat()]]
        fake_binance.bars[("BTC/USDT", "5m")] = btc_5m_sample  # the bar closes with its final values
        clock.advance(timedelta(hours=1))
        before = len(starts(fake_binance))
        later = source.fetch_bars(BTC, "5m", opens[0])
    assert starts(fake_binance)[before:] == [ms(forming)]  # only from the formerly forming bar on
    assert later.loc[forming, "close"] == btc_5m_sample.loc[forming, "close"]
    pd.testing.assert_frame_equal(later, btc_5m_sample.iloc[: 1_000 + 13], check_freq=False)


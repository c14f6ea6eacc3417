"""One contract for every DataSource: the bundled samples, a folder of files, and ccxt against a fake Binance.

Each implementation is described by a :class:`Case` (the source, a symbol it holds, the bars it is known
to hold for it, read independently) and the same tests run over all of them, as freqtrade runs one
table-driven suite over its exchanges. Source-specific behaviour (file naming, the ccxt cache) has its
own tests below or in test_ccxt_source.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from pytest_socket import disable_socket, enable_socket

from alphabook.core.errors import InvalidInput
from alphabook.research.data import (
    BundledSource,
    CcxtSource,
    DataSource,
    FileSource,
    RetryPolicy,
    load,
    parse_symbol,
    parse_timeframe,
    validate,
)
from tests.fakes.fake_exchange import FakeBinance
from tests.unit.research.conftest import read_backtesting_sample


@dataclass
class Case:
    source: DataSource
    symbol: str
    timeframe: str
    unknown_symbol: str
    reference: pd.DataFrame  # every bar the source holds for (symbol, timeframe), read without the source


@pytest.fixture(params=["bundled", "files", "ccxt"])
def case(request: pytest.FixtureRequest, tmp_path: Path, btc_5m_sample: pd.DataFrame, fast_retry: RetryPolicy) -> Case:
    if request.param == "bundled":
        return Case(BundledSource(), "NASDAQ:GOOG", "1d", "NASDAQ:AAPL", read_backtesting_sample("GOOG"))
    if request.param == "files":
        btc_5m_sample.to_csv(tmp_path / "binance_BTCUSDT_5m.csv.gz")
        read_backtesting_sample("GOOG").to_parquet(tmp_path / "nasdaq_GOOG_1d.parquet")
        (tmp_path / "README.md").write_text("not data")
        return Case(FileSource(tmp_path), "BINANCE:BTC/USDT", "5m", "BINANCE:XRP/USDT", btc_5m_sample)
    fake: FakeBinance = request.getfixturevalue("fake_binance")
    source = CcxtSource("binance", config=fake.ccxt_config(), cache_dir=tmp_path / "cache", retry=fast_retry)
    return Case(source, "BINANCE:BTC/USDT", "5m", "BINANCE:XRP/USDT", btc_5m_sample)


def test_the_whole_series_is_valid_and_exactly_the_reference(case: Case) -> None:
    bars = case.source.fetch_bars(case.symbol, case.timeframe)
    assert validate(bars) is bars
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert bars.index.name == "time"
    assert str(bars.index.dtype) == "datetime64[us, UTC]"
    pd.testing.assert_frame_equal(bars, case.reference, check_freq=False)


def test_ranges_are_half_open_on_bar_open_times(case: Case) -> None:
    opens = case.reference.index
    bars = case.source.fetch_bars(case.symbol, case.timeframe, opens[10], opens[20])
    assert list(bars.index) == list(opens[10:20])  # the bar at start is in, the bar at end is out
    between = case.source.fetch_bars(case.symbol, case.timeframe, opens[10] + pd.Timedelta(1, "us"), opens[20])
    assert between.index[0] == opens[11]  # a bar that opened before start is out, even if still running
    pd.testing.assert_frame_equal(bars, case.reference.iloc[10:20], check_freq=False)


def test_open_ended_ranges_reach_the_first_and_last_bar(case: Case) -> None:
    opens = case.reference.index
    assert list(case.source.fetch_bars(case.symbol, case.timeframe, end=opens[5]).index) == list(opens[:5])
    assert list(case.source.fetch_bars(case.symbol, case.timeframe, start=opens[-5]).index) == list(opens[-5:])


def test_empty_ranges_give_an_empty_valid_frame(case: Case) -> None:
    first = case.reference.index[0]
    for start, end in [(first, first), (first - pd.Timedelta(days=400), first - pd.Timedelta(days=300))]:
        bars = case.source.fetch_bars(case.symbol, case.timeframe, start, end)
        assert bars.empty
        assert validate(bars) is bars
        assert list(bars.columns) == ["open", "high", "low", "close", "volume"]


def test_an_unknown_symbol_is_a_clear_error(case: Case) -> None:
    with pytest.raises(InvalidInput) as caught:
        case.source.fetch_bars(case.unknown_symbol, case.timeframe)
    assert str(parse_symbol(case.unknown_symbol)).split(":")[1] in caught.value.detail  # AAPL, XRP/USDT
    with pytest.raises(InvalidInput, match="names no exchange"):
        case.source.fetch_bars("GOOG", case.timeframe)


def test_the_timeframes_capability_is_honoured(case: Case) -> None:
    assert case.timeframe in case.source.capabilities.timeframes
    timeframe = parse_timeframe(case.timeframe)
    bars = case.source.fetch_bars(case.symbol, case.timeframe)
    assert (timeframe.floor(bars.index) == bars.index).all()  # every bar sits on the timeframe's grid
    assert "7m" not in case.source.capabilities.timeframes
    with pytest.raises(InvalidInput, match="does not serve 7m bars"):
        case.source.fetch_bars(case.symbol, "7m")


def test_bad_range_arguments_are_refused(case: Case) -> None:
    with pytest.raises(InvalidInput, match="naive"):
        case.source.fetch_bars(case.symbol, case.timeframe, start=datetime(2024, 1, 1))
    later, earlier = datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="after end"):
        case.source.fetch_bars(case.symbol, case.timeframe, later, earlier)
    with pytest.raises(InvalidInput, match="timeframe"):
        case.source.fetch_bars(case.symbol, "five minutes")


def test_the_listed_symbols_include_the_served_one(case: Case) -> None:
    symbols = case.source.symbols()
    assert parse_symbol(case.symbol) in symbols
    assert parse_symbol(case.unknown_symbol) not in symbols
    assert symbols == sorted(symbols, key=str)


def test_works_offline_once_it_has_the_data(case: Case) -> None:
    """Local sources never need the network; a networked one serves a range it has cached without it."""
    start, end = case.reference.index[0], case.reference.index[-1]
    if case.source.capabilities.needs_network:
        case.source.fetch_bars(case.symbol, case.timeframe, start, end)
    disable_socket(allow_unix_socket=True)
    try:
        bars = case.source.fetch_bars(case.symbol, case.timeframe, start, end)
        pd.testing.assert_frame_equal(bars, case.reference.iloc[:-1], check_freq=False)
    finally:
        enable_socket()


# --- source-specific behaviour --------------------------------------------------------------------------


def test_bundled_series_are_labelled_by_bar_open() -> None:
    monthly = load("INDEX:BTC/USD", "1M")
    assert monthly.index[0] == pd.Timestamp("2012-01-01", tz="UTC")  # the file's 2012-01-31 row is January
    assert monthly.loc["2012-01-01", "high"] == 7.38
    assert (monthly.index.day == 1).all()
    hourly = load("FX:EUR/USD", "1h", end=datetime(2017, 4, 19, 11, tzinfo=UTC))
    assert list(hourly.index.hour) == [9, 10]
    with pytest.raises(InvalidInput, match=r"holds NASDAQ:GOOG as \['1d'\] bars, not 1h"):
        load("NASDAQ:GOOG", "1h")


def test_load_without_a_source_stays_offline_and_says_where_else_to_look() -> None:
    with pytest.raises(InvalidInput, match="FileSource and CcxtSource serve other symbols"):
        load("BINANCE:BTC/USDT", "1d")


def test_a_single_file_is_served_under_the_names_the_caller_gives(tmp_path: Path, btc_5m_sample: pd.DataFrame) -> None:
    path = tmp_path / "candles.csv"
    btc_5m_sample.iloc[:10].rename(columns=str.capitalize).to_csv(path)  # backtesting.py's column style
    with pytest.raises(InvalidInput, match="pass symbol= and timeframe="):
        FileSource(path)
    source = FileSource(path, symbol="binance:btc/usdt", timeframe="5m")
    pd.testing.assert_frame_equal(source.fetch_bars("BINANCE:BTC/USDT", "5m"), btc_5m_sample.iloc[:10])
    assert source.capabilities.timeframes == frozenset({"5m"})


def test_parquet_files_are_read_like_csv(tmp_path: Path) -> None:
    goog = read_backtesting_sample("GOOG")
    goog.to_parquet(tmp_path / "nasdaq_GOOG_1d.parquet")
    pd.testing.assert_frame_equal(FileSource(tmp_path).fetch_bars("NASDAQ:GOOG", "1d"), goog)


def test_a_folder_with_two_files_for_one_series_is_refused(tmp_path: Path, btc_5m_sample: pd.DataFrame) -> None:
    btc_5m_sample.to_csv(tmp_path / "binance_BTCUSDT_5m.csv")
    btc_5m_sample.to_parquet(tmp_path / "binance_BTC-USDT_5m.parquet")
    with pytest.raises(InvalidInput, match="both hold BINANCE:BTC/USDT 5m"):
        FileSource(tmp_path)


def test_a_broken_file_is_reported_with_its_name_and_row(tmp_path: Path, btc_5m_sample: pd.DataFrame) -> None:
    broken = btc_5m_sample.iloc[:10].copy()
    broken.iloc[4, broken.columns.get_loc("low")] = broken["high"].iloc[4] + 1
    broken.to_csv(tmp_path / "binance_BTCUSDT_5m.csv")
    with pytest.raises(InvalidInput, match=r"binance_BTCUSDT_5m.csv: row 4 \(.*\): low is above"):
        FileSource(tmp_path).fetch_bars("BINANCE:BTC/USDT", "5m")
    with pytest.raises(InvalidInput, match="does not exist"):
        FileSource(tmp_path / "missing")

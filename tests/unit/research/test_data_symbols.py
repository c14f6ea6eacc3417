"""Symbols, timeframes, file-name conventions and the cache's range arithmetic: the small parsers data relies on."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alphabook.core.errors import InvalidInput
from alphabook.research.data import Symbol, Timeframe, parse_symbol, parse_timeframe
from alphabook.research.data.cache import Span, merge_spans, missing_spans
from alphabook.research.data.files import symbol_from_file_name

# --- symbols --------------------------------------------------------------------------------------------


def test_a_pair_parses_into_its_parts_and_round_trips() -> None:
    symbol = parse_symbol("BINANCE:BTC/USDT")
    assert symbol == Symbol("BINANCE", base="BTC", quote="USDT")
    assert symbol.is_pair
    assert symbol.ccxt_symbol == "BTC/USDT"
    assert str(symbol) == "BINANCE:BTC/USDT"
    assert parse_symbol(str(symbol)) == symbol


def test_a_ticker_parses_and_has_no_ccxt_symbol() -> None:
    symbol = parse_symbol(" nasdaq:goog ")
    assert symbol == Symbol("NASDAQ", ticker="GOOG")
    assert str(symbol) == "NASDAQ:GOOG"
    assert parse_symbol("NYSE:BRK.B").ticker == "BRK.B"
    with pytest.raises(InvalidInput, match="is a ticker"):
        _ = symbol.ccxt_symbol


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("BTC/USDT", "names no exchange"),
        (":BTC/USDT", "names no exchange"),
        ("BINANCE:", "names no exchange"),
        ("BINANCE:BTC/", "not a BASE/QUOTE pair"),
        ("BINANCE:BTC/USDT/X", "not a BASE/QUOTE pair"),
        ("BINANCE:BTC/USDT:USDT", "derivatives"),
        ("BIN ANCE:BTC/USDT", "invalid part"),
        ("BINANCE:BTC USDT", "invalid part"),
    ],
)
def test_bad_symbols_are_refused_with_the_form_to_use(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        parse_symbol(text)
    assert "EXCHANGE" in caught.value.detail or "derivatives" in message


def test_a_symbol_is_a_pair_or_a_ticker_never_both() -> None:
    with pytest.raises(InvalidInput):
        Symbol("BINANCE", base="BTC", quote="USDT", ticker="BTC")
    with pytest.raises(InvalidInput):
        Symbol("BINANCE", base="BTC")


@given(
    exchange=st.from_regex(r"[A-Z0-9_]{1,12}", fullmatch=True),
    base=st.from_regex(r"[A-Z0-9][A-Z0-9.\-]{0,9}", fullmatch=True),
    quote=st.one_of(st.none(), st.from_regex(r"[A-Z0-9][A-Z0-9.\-]{0,9}", fullmatch=True)),
)
def test_str_round_trips_for_every_valid_symbol(exchange: str, base: str, quote: str | None) -> None:
    symbol = Symbol(exchange, base=base, quote=quote) if quote else Symbol(exchange, ticker=base)
    assert parse_symbol(str(symbol)) == symbol


# --- timeframes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "delta"),
    [("1m", "1min"), ("5m", "5min"), ("15m", "15min"), ("1h", "1h"), ("4h", "4h"), ("1d", "1D"), ("30s", "30s")],
)
def test_fixed_timeframes_map_to_pandas_offsets(text: str, delta: str) -> None:
    timeframe = parse_timeframe(text)
    assert str(timeframe) == text
    assert timeframe.delta == pd.Timedelta(delta)
    assert timeframe.offset == pd.tseries.frequencies.to_offset(pd.Timedelta(delta))
    assert not timeframe.is_calendar


def test_weeks_and_months_are_calendar_anchored() -> None:
    week, month = parse_timeframe("1w"), parse_timeframe("1M")
    times = pd.DatetimeIndex(["2024-02-29 13:00", "2024-03-03 23:59"], tz="UTC")  # a Thursday, a Sunday
    assert list(week.floor(times)) == [pd.Timestamp("2024-02-26", tz="UTC"), pd.Timestamp("2024-02-26", tz="UTC")]
    assert list(month.floor(times)) == [pd.Timestamp("2024-02-01", tz="UTC"), pd.Timestamp("2024-03-01", tz="UTC")]
    assert month.close(month.floor(times))[0] == pd.Timestamp("2024-03-01", tz="UTC")
    assert week.nominal == pd.Timedelta(days=7)
    assert month.nominal == pd.Timedelta(days=30)  # ccxt's convention, used only to order timeframes
    with pytest.raises(InvalidInput, match="no fixed length"):
        _ = month.delta


def test_minutes_and_months_are_told_apart_by_case() -> None:
    assert parse_timeframe("1m") == Timeframe(1, "m")
    assert parse_timeframe("1M") == Timeframe(1, "M")


@pytest.mark.parametrize("text", ["", "5", "m", "0m", "5min", "1H", "2w", "3M", "1y", "-1d"])
def test_bad_timeframes_are_refused_with_the_spelling_to_use(text: str) -> None:
    with pytest.raises(InvalidInput, match="timeframe"):
        parse_timeframe(text)


def test_intraday_floors_follow_the_epoch_grid_like_exchange_candles() -> None:
    times = pd.DatetimeIndex(["2024-01-01 05:59:59", "2024-01-01 03:59:00"], tz="UTC")
    assert list(parse_timeframe("4h").floor(times)) == [
        pd.Timestamp("2024-01-01 04:00", tz="UTC"), pd.Timestamp("2024-01-01 00:00", tz="UTC")
    ]


# --- file names -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "symbol", "timeframe"),
    [
        ("binance_BTCUSDT_5m.csv.gz", "BINANCE:BTC/USDT", "5m"),
        ("binance_ETHUSDT_1h.csv.gz", "BINANCE:ETH/USDT", "1h"),
        ("yahoo_ORCL_1d.csv.gz", "YAHOO:ORCL", "1d"),
        ("kraken_ETH-BTC_4h.parquet", "KRAKEN:ETH/BTC", "4h"),
        ("binance_ETHBTC_1w.csv", "BINANCE:ETH/BTC", "1w"),
        ("nyse_BRK-B_1d.csv", "NYSE:BRK-B", "1d"),
        ("bitstamp_BTCUSD_1M.csv", "BITSTAMP:BTC/USD", "1M"),
    ],
)
def test_file_names_declare_symbol_and_timeframe(name: str, symbol: str, timeframe: str) -> None:
    assert symbol_from_file_name(name) == (parse_symbol(symbol), parse_timeframe(timeframe))


@pytest.mark.parametrize("name", ["README.md", "btc.csv", "binance_BTCUSDT.csv", "binance_BTCUSDT_5m.feather"])
def test_other_file_names_declare_nothing(name: str) -> None:
    assert symbol_from_file_name(name) is None


# --- cache coverage arithmetic --------------------------------------------------------------------------


HOUR = pd.Timedelta(hours=1)


def at(hour: int) -> pd.Timestamp:
    return pd.Timestamp("2024-01-01", tz="UTC") + hour * HOUR


def test_missing_spans_are_the_uncovered_parts_in_order() -> None:
    coverage = [Span(at(2), at(4)), Span(at(6), at(8))]
    assert missing_spans(coverage, Span(at(3), at(7))) == [Span(at(4), at(6))]
    assert missing_spans(coverage, Span(at(0), at(10))) == [Span(at(0), at(2)), Span(at(4), at(6)), Span(at(8), at(10))]
    assert missing_spans(coverage, Span(at(2), at(4))) == []
    assert missing_spans([], Span(at(1), at(1))) == []


def test_merge_spans_joins_touching_and_overlapping_ranges() -> None:
    spans = [Span(at(6), at(8)), Span(at(0), at(2)), Span(at(2), at(3)), Span(at(7), at(9)), Span(at(5), at(5))]
    assert merge_spans(spans) == [Span(at(0), at(3)), Span(at(6), at(9))]


@given(
    covered=st.lists(st.tuples(st.integers(0, 48), st.integers(0, 48)), max_size=6),
    wanted=st.tuples(st.integers(0, 48), st.integers(0, 48)),
)
def test_gaps_plus_coverage_cover_exactly_the_request(covered: list[tuple[int, int]], wanted: tuple[int, int]) -> None:
    coverage = merge_spans([Span(at(a), at(b)) for a, b in covered])
    request = Span(at(wanted[0]), at(wanted[1]))
    gaps = missing_spans(coverage, request)
    assert hours(gaps) == set(range(wanted[0], wanted[1])) - hours(coverage)
    assert all(gap.start < gap.end for gap in gaps)


def hours(spans: list[Span]) -> set[int]:
    return {hour for span in spans for hour in range((span.start - at(0)) // HOUR, (span.end - at(0)) // HOUR)}

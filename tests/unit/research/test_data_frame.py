"""The OHLCV frame convention: validate names the first bad row, to_ohlcv normalises, resample is exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alphabook.core.errors import InvalidInput
from alphabook.research.data import OHLCV_COLUMNS, empty_ohlcv, resample, to_ohlcv, validate

COLUMNS = list(OHLCV_COLUMNS)


def make_bars(closes: list[float], start: str = "2024-01-01", freq: str = "5min") -> pd.DataFrame:
    """Valid bars whose opens are the previous closes, with a high/low spread of 1."""
    closes_array = np.asarray(closes, dtype="float64")
    opens = np.concatenate([[closes_array[0]], closes_array[:-1]])
    index = pd.date_range(start, periods=len(closes), freq=freq, tz="UTC", name="time")
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, closes_array) + 1,
            "low": np.minimum(opens, closes_array) - 1,
            "close": closes_array,
            "volume": np.arange(1, len(closes) + 1, dtype="float64"),
        },
        index=index,
    )


def pandas_resample(frame: pd.DataFrame, rule: str) -> pd.DataFrame:
    """An independent oracle: pandas' own time resampler, epoch-aligned, empty bins dropped."""
    aggregation = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    result = frame.resample(rule, origin="epoch", label="left", closed="left").agg(aggregation)
    return result[frame.resample(rule, origin="epoch", label="left", closed="left").size() > 0]


# --- validate -------------------------------------------------------------------------------------------


def test_a_valid_frame_is_returned_unchanged() -> None:
    frame = make_bars([10, 11, 12])
    assert validate(frame) is frame


def broken(change: str) -> pd.DataFrame:
    frame = make_bars([10.0, 11.0, 12.0, 13.0, 14.0])
    row = frame.index[3]
    if change == "nan":
        frame.loc[row, "close"] = np.nan
    elif change == "high":
        frame.loc[row, "high"] = frame.loc[row, "close"] - 0.5
    elif change == "low":
        frame.loc[row, "low"] = frame.loc[row, "open"] + 0.5
    elif change == "volume":
        frame.loc[row, "volume"] = -1.0
    elif change == "unsorted":
        frame = frame.iloc[[0, 1, 2, 4, 3]]
    elif change == "duplicated":
        frame = frame.iloc[[0, 1, 2, 2, 3]]
    return frame


@pytest.mark.parametrize(
    ("change", "row", "reason"),
    [
        ("nan", 3, "close is not a finite number"),
        ("high", 3, "high is below max(open, close)"),
        ("low", 3, "low is above min(open, close)"),
        ("volume", 3, "volume is negative"),
        ("unsorted", 4, "earlier than the previous row"),
        ("duplicated", 3, "duplicates the previous row's timestamp"),
    ],
)
def test_validate_names_the_first_bad_row_and_the_reason(change: str, row: int, reason: str) -> None:
    frame = broken(change)
    with pytest.raises(InvalidInput) as caught:
        validate(frame)
    assert caught.value.detail.startswith(f"row {row} ({frame.index[row]}):")
    assert reason in caught.value.detail
    assert caught.value.extra == {"row": row, "time": frame.index[row].isoformat()}


def test_validate_reports_the_earliest_of_several_problems() -> None:
    frame = make_bars([10.0, 11.0, 12.0, 13.0])
    frame.loc[frame.index[3], "volume"] = -5.0
    frame.loc[frame.index[1], "high"] = 0.0
    with pytest.raises(InvalidInput, match=r"^row 1 .*high is below"):
        validate(frame)


def test_validate_refuses_naive_timestamps_and_other_zones() -> None:
    frame = make_bars([10.0, 11.0])
    with pytest.raises(InvalidInput, match=r"row 0 \(2024-01-01 00:00:00\): timestamps are naive"):
        validate(frame.tz_localize(None))
    with pytest.raises(InvalidInput, match="not UTC"):
        validate(frame.tz_convert("America/New_York"))


def test_validate_refuses_missing_columns_a_plain_index_and_non_float_columns() -> None:
    frame = make_bars([10.0, 11.0])
    with pytest.raises(InvalidInput, match=r"missing column\(s\) \['volume'\]"):
        validate(frame.drop(columns="volume"))
    with pytest.raises(InvalidInput, match="DatetimeIndex"):
        validate(frame.reset_index(drop=True))
    with pytest.raises(InvalidInput, match="float64"):
        validate(frame.astype({"volume": "int64"}))


def test_an_empty_frame_is_valid() -> None:
    assert validate(empty_ohlcv()).empty
    assert str(empty_ohlcv().index.dtype) == "datetime64[us, UTC]"


def test_the_fixtures_follow_the_convention(btc_5m: pd.DataFrame, goog_1d: pd.DataFrame) -> None:
    validate(btc_5m)
    validate(goog_1d)


# --- to_ohlcv -------------------------------------------------------------------------------------------


def test_to_ohlcv_reads_backtesting_style_capitalised_columns_with_a_naive_index() -> None:
    raw = pd.DataFrame(
        {"Open": [1, 2], "High": [3, 4], "Low": [0, 1], "Close": [2, 3], "Volume": [100, 200], "Adj Close": [9, 9]},
        index=pd.DatetimeIndex(["2024-01-01", "2024-01-02"]),
    )
    frame = to_ohlcv(raw)
    assert list(frame.columns) == COLUMNS
    assert all(dtype == "float64" for dtype in frame.dtypes)
    assert frame.index.name == "time"
    assert str(frame.index.dtype) == "datetime64[us, UTC]"
    assert frame.index[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert frame["volume"].tolist() == [100.0, 200.0]


@pytest.mark.parametrize("column", ["timestamp", "date", "Date", "time", "datetime"])
def test_to_ohlcv_takes_times_from_a_column(column: str) -> None:
    raw = pd.DataFrame(
        {column: ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00Z"], "open": [1.0, 2.0], "high": [3, 4],
         "low": [0, 1], "close": [2, 3], "volume": [1, 1]}
    )
    frame = to_ohlcv(raw)
    assert list(frame.index) == [pd.Timestamp("2024-01-01 00:00", tz="UTC"), pd.Timestamp("2024-01-01 01:00", tz="UTC")]


def test_to_ohlcv_converts_other_zones_and_epoch_milliseconds() -> None:
    eastern = pd.DataFrame(
        {"open": [1.0], "high": [2.0], "low": [0.5], "close": [1.5], "volume": [3.0]},
        index=pd.DatetimeIndex([pd.Timestamp("2024-01-01 09:30", tz="America/New_York")]),
    )
    assert to_ohlcv(eastern).index[0] == pd.Timestamp("2024-01-01 14:30", tz="UTC")
    ccxt_rows = pd.DataFrame([[1704067200000, 1, 2, 0.5, 1.5, 3]], columns=["ts_ms", *COLUMNS])
    assert to_ohlcv(ccxt_rows).index[0] == pd.Timestamp("2024-01-01", tz="UTC")


def test_to_ohlcv_refuses_ambiguous_or_unreadable_input() -> None:
    epoch_seconds = pd.DataFrame([[1704067200, 1, 2, 0.5, 1.5, 3]], columns=["timestamp", *COLUMNS])
    with pytest.raises(InvalidInput, match="ts_ms"):
        to_ohlcv(epoch_seconds)
    with pytest.raises(InvalidInput, match="no bar times"):
        to_ohlcv(pd.DataFrame([[1, 2, 0.5, 1.5, 3]], columns=COLUMNS))
    words = pd.DataFrame({"open": ["one"], "high": [2], "low": [0], "close": [1], "volume": [1]},
                         index=pd.DatetimeIndex(["2024-01-01"]))
    with pytest.raises(InvalidInput, match="'open' holds values that are not numbers"):
        to_ohlcv(words)


def test_to_ohlcv_validates_but_does_not_silently_sort() -> None:
    raw = make_bars([1.0, 2.0, 3.0]).iloc[::-1]
    with pytest.raises(InvalidInput, match=r"row 1 .*sort"):
        to_ohlcv(raw)


# --- resample -------------------------------------------------------------------------------------------


def test_resample_aggregates_exactly_and_labels_by_bar_open() -> None:
    frame = make_bars([10.0, 12.0, 11.0, 15.0, 14.0, 9.0], start="2024-01-01 00:50", freq="5min")
    hourly = resample(frame, "1h")
    first, second = frame.iloc[:2], frame.iloc[2:]  # 00:50-00:55, then 01:00-01:15
    assert list(hourly.index) == list(pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 01:00"], tz="UTC"))
    for bar, group in zip(hourly.itertuples(), (first, second), strict=True):
        assert bar.open == group["open"].iloc[0]
        assert bar.high == group["high"].max()
        assert bar.low == group["low"].min()
        assert bar.close == group["close"].iloc[-1]
        assert bar.volume == group["volume"].sum()


def test_resample_drops_partial_edge_bars_only_when_asked() -> None:
    frame = make_bars(list(np.linspace(10, 20, 29)), start="2024-01-01 00:35", freq="5min")  # 00:35 .. 02:55
    assert list(resample(frame, "1h").index.hour) == [0, 1, 2]
    assert list(resample(frame, "1h", drop_partial=True).index.hour) == [1, 2]  # 02:55 completes hour 2
    assert list(resample(frame.iloc[:-1], "1h", drop_partial=True).index.hour) == [1]


def test_resample_keeps_gaps_as_gaps() -> None:
    frame = make_bars(list(np.linspace(10, 20, 48)), freq="5min")
    with_gap = frame.drop(frame.index[12:24])  # the 01:00 hour is missing entirely
    assert list(resample(with_gap, "1h").index.hour) == [0, 2, 3]


def test_resample_to_weeks_and_months_opens_on_monday_and_the_first(goog_1d: pd.DataFrame) -> None:
    weekly = resample(goog_1d, "1w")
    monthly = resample(goog_1d, "1M")
    assert (weekly.index.day_of_week == 0).all()
    assert (monthly.index.day == 1).all()
    august_2004 = goog_1d.loc["2004-08"]
    assert monthly.iloc[0].tolist() == [
        august_2004["open"].iloc[0], august_2004["high"].max(), august_2004["low"].min(),
        august_2004["close"].iloc[-1], august_2004["volume"].sum(),
    ]


def test_resample_refuses_a_finer_timeframe_and_straddling_bars() -> None:
    frame = make_bars([10.0, 11.0, 12.0], freq="1h")
    with pytest.raises(InvalidInput, match="cannot resample 1h bars to the finer timeframe 5m"):
        resample(frame, "5m")
    with pytest.raises(InvalidInput, match=r"row 0 .*5m bar ends at .* inside the next 7m bar"):
        resample(make_bars([10.0, 11.0, 12.0], freq="5min"), "7m")


def test_resample_needs_the_bar_length_of_a_single_bar() -> None:
    one = make_bars([10.0], freq="5min")
    with pytest.raises(InvalidInput, match="source_timeframe"):
        resample(one, "1h")
    assert resample(one, "1h", source_timeframe="5m")["close"].tolist() == [10.0]
    assert resample(empty_ohlcv(), "1h").empty


def test_resample_validates_its_input() -> None:
    with pytest.raises(InvalidInput, match="row 3"):
        resample(broken("high"), "1h")


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(st.floats(min_value=-5, max_value=5, allow_nan=False), min_size=1, max_size=400),
    offset_minutes=st.integers(min_value=0, max_value=60 * 24 * 7),
    missing=st.sets(st.integers(min_value=0, max_value=399), max_size=50),
    target=st.sampled_from(["5m", "15m", "1h", "4h", "1d"]),
)
def test_resample_matches_pandas_resampler_and_composes(
    steps: list[float], offset_minutes: int, missing: set[int], target: str
) -> None:
    start = pd.Timestamp("2024-03-01", tz="UTC") + pd.Timedelta(minutes=offset_minutes)
    frame = make_bars(list(1000 + np.cumsum(steps)), start=str(start), freq="1min")
    frame = frame.drop(frame.index[sorted(i for i in missing if i < len(frame) - 1)])
    result = resample(frame, target, source_timeframe="1m")
    rule = {"5m": "5min", "15m": "15min", "1h": "1h", "4h": "4h", "1d": "24h"}[target]
    pd.testing.assert_frame_equal(result, pandas_resample(frame, rule), check_freq=False)
    via_5m = resample(resample(frame, "5m", source_timeframe="1m"), target, source_timeframe="5m")
    pd.testing.assert_frame_equal(via_5m[COLUMNS[:4]], result[COLUMNS[:4]])
    np.testing.assert_allclose(via_5m["volume"], result["volume"], rtol=1e-12)


def test_real_btc_5m_resamples_consistently(btc_5m: pd.DataFrame) -> None:
    hourly = resample(btc_5m, "1h")
    daily_via_hours = resample(hourly, "1d")
    daily = resample(btc_5m, "1d")
    pd.testing.assert_frame_equal(daily_via_hours[COLUMNS[:4]], daily[COLUMNS[:4]])  # prices exactly
    np.testing.assert_allclose(daily_via_hours["volume"], daily["volume"], rtol=1e-9)
    labels = btc_5m.index.floor("1h")
    assert (hourly["high"] == btc_5m["high"].groupby(labels).max()).all()
    assert (hourly["low"] == btc_5m["low"].groupby(labels).min()).all()
    assert (hourly["open"] == btc_5m["open"].groupby(labels).first()).all()
    assert (hourly["close"] == btc_5m["close"].groupby(labels).last()).all()
    assert len(hourly) == len(btc_5m) // 12  # the series is gap-free and starts at midnight
    assert daily.index[0] == pd.Timestamp("2024-12-31", tz="UTC")
    assert resample(btc_5m, "1d", drop_partial=True).index[-1] == pd.Timestamp("2026-02-18", tz="UTC")
